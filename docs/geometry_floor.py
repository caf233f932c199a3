"""How far from the truth is RepGAN's pose when the generator gets the depth exactly right?

The floor of each ``--geometry`` (README, method notes): real Human3.6M
frames, the generator's depth replaced by the true normalised depth, and the
resulting pose scored against the camera-frame ground truth with N-MPJPE (mm).
``mismatched``/``hybrid`` copy the root-scaled 2D's x-y beside the depth;
``backproject`` places each joint on its camera ray (rays of the Human3.6M
mean camera, as training uses) at the normalised depth, which is also how
``backproject_hybrid`` builds its real poses (``backproject``'s reals are the
camera-frame poses themselves, which a generator can meet exactly with the depth
in ray units).

    python docs/geometry_floor.py --subjects=S8 --frame_stride=10 \
        --data_dir=/work/runs/tfds --manual_dir=../shared/data/h36m
"""

from __future__ import annotations

import json

from absl import app, flags

flags.DEFINE_string("dataset", "human36m/gt", "dataset with a camera focal length")
flags.DEFINE_string("split", "train", "split the subjects are in")
flags.DEFINE_list("subjects", ["S8"], "subjects to measure")
flags.DEFINE_integer("frame_stride", 10, "every n-th frame")
flags.DEFINE_string("data_dir", None, "TFDS data_dir")
flags.DEFINE_string("manual_dir", None, "raw Human3.6M files")
FLAGS = flags.FLAGS


def floors(frames, family: str) -> dict:
    """N-MPJPE (mm) of the pose each geometry builds from the true depth."""
    import numpy as np

    from tfpose import image_mapping, metrics, normalization, skeleton
    from tfpose.models import repgan

    root = skeleton.get(frames.skeleton_3d).root
    scaled = normalization.RootScaleNormalizer(root=root)
    depth = np.asarray(scaled.normalize_3d(frames.pose_3d))[..., 2]
    frame = image_mapping.FRAMES[family]
    rays = normalization.CameraRaysNormalizer(frame.focal_length, frame.principal_point, root)
    truth = metrics.root_align(frames.pose_3d, root)
    built = {
        "mismatched": repgan.pose_from_depth(scaled.normalize_2d(frames.pose_2d), depth, root),
        "backproject": repgan.backproject(rays.normalize_2d(frames.pose_2d), depth, root),
    }
    return {name: round(metrics.n_mpjpe(np.asarray(pose), truth, root), 2)
            for name, pose in built.items()}


def main(argv):
    del argv
    from tfpose import data

    frames = data.load_frames(FLAGS.dataset, FLAGS.split, manual_dir=FLAGS.manual_dir,
                              data_dir=FLAGS.data_dir, subjects=FLAGS.subjects,
                              frame_stride=FLAGS.frame_stride)
    result = floors(frames, FLAGS.dataset.split("/")[0])
    print(json.dumps({"frames": len(frames.pose_2d), "subjects": FLAGS.subjects,
                      "n_mpjpe_mm_with_true_depth": result}))


if __name__ == "__main__":
    app.run(main)
