"""The action names of the datasets, in the papers' table order.

One definition for the TFDS builders (which keep only files of these
actions) and for evaluation (which orders table columns by them). Plain
tuples, so importing this module pulls in neither TensorFlow nor TFDS.
"""

# Human3.6M's 15 actions under their canonical names (the h5 release's file
# names "TakingPhoto" and "WalkingDog" are read as "Photo" and "WalkDog").
H36M_ACTIONS = ("Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo",
                "Posing", "Purchases", "Sitting", "SittingDown", "Smoking", "Waiting",
                "WalkDog", "Walking", "WalkTogether")

# HumanEva-I's actions as named in the VideoPose3D npz files.
HUMANEVA_ACTIONS = ("Walking", "Jog", "Box", "Gestures", "ThrowCatch")
