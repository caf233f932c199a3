"""Lift a 2D detector's output to 3D with a shipped model and write a GIF.

No dataset and no training: the model comes with tfpose (``python -m
tfpose.pretrained list`` names them). Any model that ``tfpose.serving.load``
takes works the same: a shipped name, a pretrained model folder, or an export
directory (``python -m tfpose.export``)::

    # the example that ships with tfpose (tfpose.example_motion: a synthetic walk
    # seen by a 1920x1080 camera); prints the error against its 3D ground truth
    python examples/lift_pretrained.py --model=asn-h36m-gt --gif=lifted.gif

    # COCO keypoint results (detectron2, MMPose, YOLO-pose, AlphaPose) of a 1920x1080 video
    python examples/lift_pretrained.py --model=asn-h36m-gt --input=results.json \\
        --image_size=1920x1080 --gif=lifted.gif

    # an array [frames, 17, 2] of COCO keypoints, lifted by an export
    python examples/lift_pretrained.py --model=runs/asn_gt/export --input=keypoints.npy \\
        --layout=coco17 --image_size=640x480 --gif=lifted.gif

Prints which frames were kept, and writes the 3D poses next to the GIF
(``.npy``: [frames, 17, 3], root-relative, camera frame, in the model's
units).
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from tfpose import animation, example_motion, formats, serving, skeleton


def lift_file(model: str, path: str, image_size=None, layout: str = "coco17", fps: float = 25.0,
              gif: str = "lifted.gif"):
    """Lift ``path`` (a detector file, or a ``.npy`` array in ``layout``) and
    write ``gif`` and the poses beside it; returns the 3D poses."""
    lifter = serving.load(model)
    print(lifter)
    size = formats.parse_image_size(image_size) if image_size else None
    if path.endswith(".npy"):
        keypoints, labels = np.load(path), None
    else:
        detections = formats.read_detections(path, image_size=size)
        print(detections.summary())
        keypoints, labels, layout = detections.keypoints, detections.frame_ids, "h36m17"
        size = detections.image_size
    return _lift_and_save(lifter, keypoints, layout, size, labels, fps, gif)


def lift_example(model: str, gif: str = "lifted.gif"):
    """Lift the example that ships with tfpose and, for a millimetre model
    with H36M joints, print the error against its 3D ground truth."""
    lifter = serving.load(model)
    print(lifter)
    example = example_motion.load()
    poses_3d = _lift_and_save(lifter, example["keypoints_2d"], "h36m17",
                              example_motion.IMAGE_SIZE, None, example_motion.FPS, gif)
    truth = example["keypoints_3d"] - example["keypoints_3d"][:, :1]  # root-relative
    if lifter.units == "mm" and \
            list(lifter.metadata["joint_names_3d"]) == list(skeleton.H36M_17.joint_names):
        error = np.linalg.norm(poses_3d - truth, axis=-1).mean()
        print(f"{example_motion.keypoints_path()}: mean per-joint error against its 3D ground "
              f"truth {error:.1f} mm")
    return poses_3d


def _lift_and_save(lifter, keypoints, layout, size, labels, fps, gif):
    # Training-frame pixels go into the network; the GIF shows the image's own pixels.
    poses_3d = lifter.lift(keypoints, layout=layout, image_size=size)
    poses_2d = lifter.prepare(keypoints, layout=layout)
    animation.save_animation(gif, poses_2d, poses_3d,
                             skeleton.by_joint_names(lifter.metadata["joint_names_2d"]),
                             skeleton.by_joint_names(lifter.metadata["joint_names_3d"]),
                             fps=fps, image_size=size, units=lifter.units, frame_labels=labels)
    np.save(os.path.splitext(gif)[0] + ".npy", poses_3d)
    print(f"{len(poses_3d)} poses ({lifter.units}) -> {gif}")
    return poses_3d


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True,
                        help="shipped model name, pretrained folder or export directory")
    parser.add_argument("--input",
                        help="detector file (COCO/Halpe/MPII results, OpenPose, MediaPipe) "
                             "or a .npy array [frames, joints, 2]; default: the example "
                             "that ships with tfpose")
    parser.add_argument("--image_size", help="WxH of the video, e.g. 1920x1080")
    parser.add_argument("--layout", default="coco17", help="joint order of a .npy array")
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--gif", default="lifted.gif")
    args = parser.parse_args()
    if args.input is None:
        lift_example(args.model, args.gif)
    else:
        lift_file(args.model, args.input, args.image_size, args.layout, args.fps, args.gif)


if __name__ == "__main__":
    main()
