"""Where a model's error sits: protocol #2 (P-MPJPE) per action and joint.

A results file averages over joints or over actions, never both; this table
shows which joints of which actions carry a gap to a paper row (RepGAN:
sitting poses' feet and wrists, docs/RESULTS.md section 2). After the rigid
alignment the residual is also split into camera x, y and depth (z).

    python docs/error_by_action.py --pretrained=repgan-h36m-gt --frame_stride=10 \
        --data_dir=/work/runs/tfds --manual_dir=../shared/data/h36m
"""

from __future__ import annotations

from absl import app, flags

flags.DEFINE_string("pretrained", None, "a shipped model's name or a pretrained folder")
flags.DEFINE_string("saved_model", None, "an export folder (instead of --pretrained)")
flags.DEFINE_string("model_dir", None, "a training run's folder (instead of --pretrained), e.g. "
                    "an S8 run with --split=train --subjects=S8")
flags.DEFINE_string("dataset", None, "dataset to test on (default: the one the model was trained on)")
flags.DEFINE_string("split", None, "split to test on (default: the dataset's evaluation split, "
                    "test on Human3.6M, validation on HumanEva)")
flags.DEFINE_list("subjects", None, "subjects (default: all of the split)")
flags.DEFINE_integer("frame_stride", 10, "every n-th frame")
flags.DEFINE_string("data_dir", None, "TFDS data_dir")
flags.DEFINE_string("manual_dir", None, "raw dataset files")
FLAGS = flags.FLAGS


def action_joint_errors(pred, target, actions):
    """{action: per-joint P-MPJPE [J]} and {action: rms residual (x, y, z)} after alignment."""
    import numpy as np

    from tfpose import metrics

    aligned = metrics.procrustes_align(pred, target)
    errors = metrics.joint_errors(aligned, target)
    residual = aligned - target
    actions = np.asarray(actions)
    per_joint, xyz = {}, {}
    for action in sorted(set(actions.tolist())):
        rows = actions == action
        per_joint[action] = errors[rows].mean(axis=0)
        xyz[action] = np.sqrt((residual[rows] ** 2).mean(axis=(0, 1)))
    return per_joint, xyz


def main(_):
    import numpy as np

    from tfpose import data as data_lib
    from tfpose import serving
    from tfpose import skeleton as skeleton_lib

    sources = [FLAGS.pretrained, FLAGS.saved_model, FLAGS.model_dir]
    if sum(bool(x) for x in sources) != 1:
        raise app.UsageError("give exactly one of --pretrained, --saved_model and --model_dir")
    if FLAGS.model_dir:
        from tfpose import training

        task = training.restore_task(FLAGS.model_dir)
        skel_3d, skel_2d = task.skeleton_3d, task.skeleton_2d
        trained_on = task.config.data.dataset
        lift = lambda frames: training.predict(task, frames.pose_2d,  # noqa: E731
                                               principal_x=frames.principal_x)
    else:
        lifter = serving.load(FLAGS.pretrained or FLAGS.saved_model)
        meta = lifter.metadata
        skel_3d, skel_2d = (skeleton_lib.by_joint_names(meta[k])
                            for k in ("joint_names_3d", "joint_names_2d"))
        trained_on = meta["dataset"]
        lift = lambda frames: lifter.lift(frames.pose_2d, 4096)  # noqa: E731
    dataset = FLAGS.dataset or trained_on
    split = FLAGS.split or data_lib.check_dataset(dataset)[3]
    frames = data_lib.load_frames(dataset, split, manual_dir=FLAGS.manual_dir,
                                  data_dir=FLAGS.data_dir, subjects=FLAGS.subjects,
                                  frame_stride=FLAGS.frame_stride)
    frames = frames.with_2d_joints_of(skel_2d.name).with_3d_joints_of(skel_3d.name)
    pred = np.asarray(lift(frames), np.float64)
    target = frames.pose_3d.astype(np.float64)
    target = target - target[:, skel_3d.root:skel_3d.root + 1]
    per_joint, xyz = action_joint_errors(pred, target, frames.action)
    names = [n[:6] for n in skel_3d.joint_names]
    print(f"P-MPJPE (mm) per action and joint, {len(frames)} frames; last columns: action "
          "average and the aligned residual's rms in camera x, y, z")
    print("| action | " + " | ".join(names) + " | avg | x | y | z |")
    print("|---|" + "---:|" * (len(names) + 4))
    for action, row in per_joint.items():
        print(f"| {action} | " + " | ".join(f"{v:.1f}" for v in row)
              + f" | {row.mean():.1f} | " + " | ".join(f"{v:.1f}" for v in xyz[action]) + " |")


if __name__ == "__main__":
    app.run(main)
