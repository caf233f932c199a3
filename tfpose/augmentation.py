"""Left-right mirroring of poses, for flip augmentation and test-time flip averaging.

Mirroring the world in the camera's x = 0 plane maps a 3D joint (X, Y, Z) to
(-X, Y, Z); its pinhole projection u = fx X / Z + cx becomes 2 cx - u. So a
2D pose in pixels is mirrored about the principal point's column ``cx`` (not
the image centre), and both are then relabelled: the left joints take the
right joints' places and back (joints paired by name, ``L...`` <-> ``R...``).
A mirrored pair is thus as consistent as the original one.

Plain TensorFlow ops (NumPy input works too), usable in ``tf.data``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

from tfpose import skeleton as skeleton_lib


def mirror_permutation(skeleton: str) -> np.ndarray:
    """Index array p with mirrored[j] = original[p[j]]: left and right joints swapped."""
    skel = skeleton_lib.get(skeleton)
    names = list(skel.joint_names)
    perm = np.arange(len(names))
    for j, name in enumerate(names):
        if name[:1] in "LR" and name[1:2].isupper():
            other = ("R" if name[0] == "L" else "L") + name[1:]
            if other not in names:
                raise ValueError(f"skeleton {skeleton!r} has {name} but no {other} to mirror it to")
            perm[j] = names.index(other)
    return perm


def flip_2d(pose_2d, principal_x, perm: Sequence[int]):
    """[..., J, 2] pixels mirrored about the column ``principal_x`` ([...] or scalar)."""
    pose_2d = tf.convert_to_tensor(pose_2d, tf.float32)
    cx = tf.cast(principal_x, tf.float32)[..., None]
    mirrored = tf.stack([2.0 * cx - pose_2d[..., 0], pose_2d[..., 1]], axis=-1)
    return tf.gather(mirrored, perm, axis=-2)


def flip_3d(pose_3d, perm: Sequence[int]):
    """[..., J, 3] camera-frame joints mirrored in the x = 0 plane."""
    pose_3d = tf.convert_to_tensor(pose_3d, tf.float32)
    return tf.gather(pose_3d * tf.constant([-1.0, 1.0, 1.0]), perm, axis=-2)


def random_flip(pose_2d, pose_3d, principal_x, perm_2d, perm_3d, seed):
    """Mirror each pose of a batch with probability 1/2 (``seed``: a stateless [2] seed)."""
    flip = tf.random.stateless_uniform(tf.shape(pose_2d)[:1], seed=seed) < 0.5
    pose_2d = tf.where(flip[:, None, None], flip_2d(pose_2d, principal_x, perm_2d), pose_2d)
    pose_3d = tf.where(flip[:, None, None], flip_3d(pose_3d, perm_3d), pose_3d)
    return pose_2d, pose_3d
