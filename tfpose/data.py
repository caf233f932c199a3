"""TFDS sequences -> in-memory frames -> ``tf.data`` batches.

The builders store one example per sequence. Lifting models see single
frames, so :func:`load_frames` flattens a split once into NumPy arrays (the
whole of Human3.6M fits in well under a gigabyte). Training batches are then
gathered from those arrays by a shuffled index stream: each epoch's order is a
pure function of ``(seed, epoch)``, which makes a resumed run see exactly the
batches an uninterrupted one would, and keeps Python out of the hot path.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfpose import skeleton as skeleton_lib
from tfpose.config import check_dataset


@dataclasses.dataclass
class Frames:
    """All frames of a split, flattened: one row per (sequence, frame)."""

    pose_2d: np.ndarray  # (N, J2, 2) float32 pixels
    pose_3d: np.ndarray  # (N, J3, 3) float32 mm, camera frame
    subject: np.ndarray  # (N,) str
    action: np.ndarray  # (N,) str
    camera_id: np.ndarray  # (N,) str
    sequence: np.ndarray  # (N,) int32, index of the source example
    skeleton_2d: str
    skeleton_3d: str
    principal_x: Optional[np.ndarray] = None  # (N,) float32 cx of the camera, pixels (flips)

    def __len__(self) -> int:
        return len(self.pose_2d)

    def with_3d_joints_of(self, skeleton_name: str) -> "Frames":
        """Keep the 3D joints named in another skeleton (e.g. h36m16 for RepGAN on SH)."""
        if skeleton_name == self.skeleton_3d:
            return self
        idx = _joint_indices(self.skeleton_3d, skeleton_name)
        return dataclasses.replace(self, pose_3d=self.pose_3d[:, idx], skeleton_3d=skeleton_name)

    def select(self, mask: np.ndarray) -> "Frames":
        """The rows where ``mask`` is true."""
        arrays = {f.name: getattr(self, f.name)[mask] for f in dataclasses.fields(self)
                  if isinstance(getattr(self, f.name), np.ndarray)}
        return dataclasses.replace(self, **arrays)

    def with_subjects(self, subjects: Sequence[str], keep: bool = True) -> "Frames":
        """Only (``keep``) or all but (``keep=False``) the frames of ``subjects``."""
        inside = np.isin(self.subject, list(subjects))
        if keep and not inside.any():
            raise ValueError(f"no frames of subjects {', '.join(subjects)}; the split has "
                             f"{', '.join(sorted(set(self.subject.tolist())))}")
        return self.select(inside if keep else ~inside)

    def with_2d_joints_of(self, skeleton_name: str) -> "Frames":
        """Keep the 2D joints named in another skeleton, in its order: ground-truth 2D
        (17 joints) as input to a model trained on the 16 SH joints (RepGAN's SH-GT)."""
        if skeleton_name == self.skeleton_2d:
            return self
        idx = _joint_indices(self.skeleton_2d, skeleton_name)
        return dataclasses.replace(self, pose_2d=self.pose_2d[:, idx], skeleton_2d=skeleton_name)


def _joint_indices(source: str, target: str) -> list:
    """Where each joint of skeleton ``target`` sits in skeleton ``source`` (KeyError if absent)."""
    src = skeleton_lib.get(source)
    return [src.index(n) for n in skeleton_lib.get(target).joint_names]


def load_frames(name: str, split: str, *, manual_dir: Optional[str] = None,
                data_dir: Optional[str] = None, subjects: Optional[Sequence[str]] = None,
                frame_stride: int = 1) -> Frames:
    """Prepare the TFDS dataset if needed and flatten ``split`` into frames."""
    import tensorflow_datasets as tfds

    import tfds_human36m

    skel_2d, skel_3d, _, _ = check_dataset(name)
    if frame_stride < 1:
        raise ValueError(f"frame_stride must be >= 1, got {frame_stride}")
    builder = tfds_human36m.builder(name, data_dir=data_dir)
    if subjects and not builder.is_prepared():
        # Build only what is asked for; a full build, when present, is filtered instead.
        builder = tfds_human36m.prepare(name, manual_dir=manual_dir, data_dir=data_dir,
                                        subjects=tuple(subjects))
    elif not builder.is_prepared():
        builder = tfds_human36m.prepare(name, manual_dir=manual_dir, data_dir=data_dir)
    if split not in builder.info.splits:
        raise ValueError(f"{name} has no split {split!r}"
                         + (f" for subjects {list(subjects)}" if subjects else "")
                         + f"; it has {', '.join(builder.info.splits)}")
    cols = {k: [] for k in ("pose_2d", "pose_3d", "subject", "action", "camera_id", "sequence",
                            "principal_x")}
    for i, ex in enumerate(tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False))):
        if subjects and ex["subject"].decode() not in subjects:
            continue
        p2, p3 = ex["pose_2d"][::frame_stride], ex["pose_3d"][::frame_stride]
        n = len(p2)
        cols["pose_2d"].append(p2)
        cols["pose_3d"].append(p3)
        for key in ("subject", "action", "camera_id"):
            cols[key].append(np.full(n, ex[key].decode(), dtype=object))
        cols["sequence"].append(np.full(n, i, np.int32))
        cols["principal_x"].append(np.full(n, ex["camera_intrinsics"][2], np.float32))
    if not cols["pose_2d"]:
        raise ValueError(f"{name} split {split!r} has no sequences"
                         + (f" for subjects {list(subjects)}" if subjects else ""))
    arrays = {k: np.concatenate(v) for k, v in cols.items()}
    arrays["pose_2d"] = arrays["pose_2d"].astype(np.float32)
    arrays["pose_3d"] = arrays["pose_3d"].astype(np.float32)
    return Frames(**arrays, skeleton_2d=skel_2d, skeleton_3d=skel_3d)


def epoch_order(num_frames: int, seed: int, epoch: int, stream: int = 0) -> np.ndarray:
    """The frame order of one epoch: a pure function of (seed, epoch, stream)."""
    return np.random.default_rng([seed, epoch, stream]).permutation(num_frames).astype(np.int64)


def training_dataset(
    columns: Sequence[np.ndarray],
    transform: Callable[..., Tuple[tf.Tensor, ...]],
    global_batch_size: int,
    seed: int,
    epoch: int,
    skip_steps: int = 0,
    input_context: Optional[tf.distribute.InputContext] = None,
    independent: Sequence[np.ndarray] = (),
) -> tf.data.Dataset:
    """One epoch of batches for one input pipeline.

    ``columns`` are gathered by the epoch's shuffled order; ``independent``
    columns (RepGAN's real samples) by a second order, so they are unpaired
    with the generator's inputs. ``transform(*raw, seed=...)`` maps the
    gathered raw batch to model tensors (normalisation, noise, flips); its
    ``seed`` is a stateless [2] seed fixed by (seed, epoch, the batch's first
    row), so random augmentation is the same after a resume. Batches are per replica; consecutive
    replica batches form one global batch, so a run on R replicas sees the
    same global batches as a run on one device. ``skip_steps`` global steps
    are dropped from the start (resuming inside an epoch).
    """
    n = len(columns[0])
    pipelines, pipeline_id = 1, 0
    per_replica, replicas_here = global_batch_size, 1
    if input_context is not None:
        pipelines, pipeline_id = input_context.num_input_pipelines, input_context.input_pipeline_id
        per_replica = input_context.get_per_replica_batch_size(global_batch_size)
        replicas_here = input_context.num_replicas_in_sync // pipelines
    steps = n // global_batch_size
    if steps == 0:
        raise ValueError(f"{n} training frames are fewer than one batch of {global_batch_size}")
    order = epoch_order(n, seed, epoch)[: steps * global_batch_size]
    streams = [order]
    if independent:
        streams.append(epoch_order(len(independent[0]), seed, epoch, stream=1)
                       [: steps * global_batch_size])
    # Global batch g, replica r of R takes rows [g*B + r*b, g*B + (r+1)*b).
    streams = [s.reshape(steps, pipelines, replicas_here, per_replica)[:, pipeline_id]
               .reshape(-1, per_replica) for s in streams]
    skip = skip_steps * replicas_here
    streams = [s[skip:] for s in streams]

    cols = [tf.constant(c) for c in columns]
    ind = [tf.constant(c) for c in independent]

    epoch_seed = tf.constant(seed * 100_003 + epoch, tf.int64)

    def gather(idx, idx_ind=None):
        raw = [tf.gather(c, idx) for c in cols]
        if ind:
            raw += [tf.gather(c, idx_ind) for c in ind]
        return transform(*raw, seed=tf.stack([epoch_seed, idx[0]]))

    ds = tf.data.Dataset.from_tensor_slices(tuple(streams) if ind else streams[0])
    ds = ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def steps_per_epoch(num_frames: int, global_batch_size: int) -> int:
    return num_frames // global_batch_size


def synthetic_frames(num_frames: int = 512, dataset: str = "human36m/sh", seed: int = 0,
                     subjects: Sequence[str] = ("S1",)) -> Frames:
    """Random camera-frame poses (about 5 m deep, +-0.3 m per joint) and their
    pinhole projections (principal point x = 500), with ``dataset``'s
    skeletons: enough to train a model without the real data (benchmarks,
    tests); the poses are not human. Frames go to ``subjects`` in turn."""
    skel_2d, skel_3d, _, _ = check_dataset(dataset)
    s2, s3 = skeleton_lib.get(skel_2d), skeleton_lib.get(skel_3d)
    rng = np.random.default_rng(seed)
    n = num_frames
    root = np.stack([rng.uniform(-500, 500, n), rng.uniform(-300, 300, n),
                     rng.uniform(4000, 6000, n)], -1)
    pose_3d = (root[:, None] + rng.normal(0, 300, (n, s3.num_joints, 3))).astype(np.float32)
    proj = 1150.0 * pose_3d[..., :2] / pose_3d[..., 2:] + np.array([500.0, 500.0])
    idx = [s3.index(j) for j in s2.joint_names]
    pose_2d = proj[:, idx].astype(np.float32)
    subject = np.asarray(list(subjects), dtype=object)[np.arange(n) % len(subjects)]
    return Frames(pose_2d=pose_2d, pose_3d=pose_3d, subject=subject,
                  action=np.full(n, "Walking", dtype=object),
                  camera_id=np.full(n, "0", dtype=object), sequence=np.zeros(n, np.int32),
                  skeleton_2d=skel_2d, skeleton_3d=skel_3d,
                  principal_x=np.full(n, 500.0, np.float32))
