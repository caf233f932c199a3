"""Install tfpose (the library) and tfds_human36m (the dataset builders)."""

from setuptools import find_packages, setup

setup(
    name="tfpose",
    version="0.1.0",
    description="Lift 2D human keypoints to 3D: Martinez baseline, ASN and RepGAN "
                "in TensorFlow/Keras, with TFDS builders for Human3.6M and HumanEva.",
    python_requires=">=3.10",
    packages=find_packages(include=["tfpose", "tfpose.*", "tfds_human36m", "tfds_human36m.*"]),
    py_modules=["train", "evaluate"],
    # Shipped pretrained models: one folder of data files per model (docs/PRETRAINED.md);
    # the shipped example keypoints (tfpose.example_motion).
    package_data={"tfpose.pretrained": ["*/*"], "tfpose": ["example_data/*.json"]},
    exclude_package_data={"tfpose.pretrained": ["__pycache__/*"]},
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3.3",
        "numpy>=1.24",
        "tensorflow-datasets>=4.9.4",
        "absl-py>=1.4",
        "h5py>=3.8",
        "matplotlib>=3.7",
        "tensorboard>=2.16",  # summaries; TF 2.21 no longer pulls it in
        "importlib_resources",  # tensorflow-datasets needs it to build, without declaring it
    ],
    extras_require={
        "gpu": ["tensorflow[and-cuda]>=2.16"],
        # bvhio: an independent BVH reader; pytest-xdist: the suite on two processes
        "test": ["pytest>=7.4", "pytest-xdist>=3.0", "bvhio>=1.5"],
        "video": ["imageio-ffmpeg>=0.4"],  # MP4 animations (GIF needs nothing extra)
        # PyTorch peer rows of `python -m tfpose.bench --peer` (never needed otherwise).
        # A CPU-only build is far smaller: pip install torch --index-url
        # https://download.pytorch.org/whl/cpu
        "peer": ["torch>=2.0"],
    },
    entry_points={
        "console_scripts": [
            "tfpose-train=train:run",
            "tfpose-evaluate=evaluate:run",
            "tfpose-export=tfpose.export:run",
            "tfpose-predict=tfpose.predict:run_cli",
            "tfpose-bench=tfpose.bench:run",
        ],
    },
)
