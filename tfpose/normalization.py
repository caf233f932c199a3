"""Input/target normalisation, kept with the model so serving reproduces it.

Two schemes, one per family of methods:

* ``ZScoreNormalizer`` (Martinez, ASN): 2D pixels are z-scored per joint
  coordinate; 3D targets are made root-relative and z-scored per joint
  coordinate. Statistics come from the training split. The root's 3D std is
  0: normalising divides by 1 there and de-normalising multiplies by 0, so a
  prediction's root is exactly the origin, as in the papers' protocol.
* ``CameraRaysNormalizer`` (RepGAN with back-projection, the default on
  Human3.6M): 2D pixels -> camera rays of the training frame; 3D as below.
* ``RootScaleNormalizer`` (RepGAN, paper 3.5): every pose is centred on its
  root and divided by its own mean joint-to-root distance. For 3D poses the
  distance is measured in the image plane (x, y): then the x, y of a
  normalised 3D pose and its normalised 2D projection agree under weak
  perspective, so the generator's (x, y from input, z predicted) poses live
  at the same scale as the real poses the critic sees. Outputs stay in
  these units ("normalized").

All methods are TensorFlow ops (they accept NumPy too), so the same code runs
in the ``tf.data`` pipeline, the training step and the exported serving graph.
"""

from __future__ import annotations

import json
from typing import Dict, Optional

import numpy as np
import tensorflow as tf

_EPS = 1e-6


class Normalizer:
    """Interface: 2D input, 3D target, and the way back to output units."""

    kind = "base"
    units = "mm"

    def __init__(self, root: int = 0):
        self.root = int(root)

    def normalize_2d(self, pose_2d):
        raise NotImplementedError

    def normalize_3d(self, pose_3d):
        """Camera-frame 3D (mm, not root-relative) -> training target."""
        raise NotImplementedError

    def denormalize_3d(self, pose_3d):
        """Model output -> root-relative 3D in output units."""
        raise NotImplementedError

    def root_relative(self, pose):
        pose = tf.cast(pose, tf.float32)
        return pose - pose[..., self.root:self.root + 1, :]

    # -- persistence -------------------------------------------------------
    def to_dict(self) -> Dict:
        return {"kind": self.kind, "root": self.root}

    def save(self, path: str) -> None:
        with tf.io.gfile.GFile(path, "w") as f:
            json.dump(self.to_dict(), f)

    @staticmethod
    def from_dict(d: Dict) -> "Normalizer":
        kind = d.get("kind")
        if kind == ZScoreNormalizer.kind:
            return ZScoreNormalizer(
                **{k: np.asarray(d[k], np.float32) for k in ("mean_2d", "std_2d", "mean_3d", "std_3d")},
                root=d["root"])
        if kind == RootScaleNormalizer.kind:
            return RootScaleNormalizer(root=d["root"])
        if kind == CameraRaysNormalizer.kind:
            return CameraRaysNormalizer(d["focal_length"], d["principal_point"], root=d["root"])
        raise ValueError(f"unknown normalizer kind {kind!r}; expected one of zscore, "
                         f"root_scale, camera_rays")

    @staticmethod
    def load(path: str) -> "Normalizer":
        with tf.io.gfile.GFile(path) as f:
            return Normalizer.from_dict(json.load(f))


class ZScoreNormalizer(Normalizer):
    """Martinez et al.: per-coordinate z-score of pixels and of root-relative mm."""

    kind = "zscore"
    units = "mm"

    def __init__(self, mean_2d, std_2d, mean_3d, std_3d, root: int = 0):
        super().__init__(root)
        self.mean_2d = np.asarray(mean_2d, np.float32)
        self.std_2d = np.asarray(std_2d, np.float32)
        self.mean_3d = np.asarray(mean_3d, np.float32)
        self.std_3d = np.asarray(std_3d, np.float32)
        if self.mean_2d.shape != self.std_2d.shape or self.mean_2d.shape[-1] != 2:
            raise ValueError(f"2D statistics must be (J, 2); got {self.mean_2d.shape}, {self.std_2d.shape}")
        if self.mean_3d.shape != self.std_3d.shape or self.mean_3d.shape[-1] != 3:
            raise ValueError(f"3D statistics must be (J, 3); got {self.mean_3d.shape}, {self.std_3d.shape}")

    @classmethod
    def fit(cls, pose_2d: np.ndarray, pose_3d: np.ndarray, root: int = 0) -> "ZScoreNormalizer":
        """Statistics of a training split: pose_2d (N, J2, 2), pose_3d (N, J3, 3) camera mm."""
        pose_2d = np.asarray(pose_2d, np.float64)
        rel = np.asarray(pose_3d, np.float64)
        rel = rel - rel[:, root:root + 1]
        std_3d = rel.std(0)
        std_3d[root] = 0.0
        return cls(pose_2d.mean(0), pose_2d.std(0), rel.mean(0) * (std_3d > 0), std_3d, root)

    def normalize_2d(self, pose_2d):
        pose_2d = tf.cast(pose_2d, tf.float32)
        return (pose_2d - self.mean_2d) / np.maximum(self.std_2d, _EPS)

    def normalize_3d(self, pose_3d):
        safe_std = np.where(self.std_3d > _EPS, self.std_3d, 1.0).astype(np.float32)
        return (self.root_relative(pose_3d) - self.mean_3d) / safe_std

    def denormalize_3d(self, pose_3d):
        pose_3d = tf.cast(pose_3d, tf.float32)
        return pose_3d * self.std_3d + self.mean_3d

    def to_dict(self) -> Dict:
        d = super().to_dict()
        d.update({k: getattr(self, k).tolist() for k in ("mean_2d", "std_2d", "mean_3d", "std_3d")})
        return d


class RootScaleNormalizer(Normalizer):
    """RepGAN: root-centred, divided by the pose's mean joint-to-root distance."""

    kind = "root_scale"
    units = "normalized"

    def _scale(self, rel_xy):
        dist = tf.norm(rel_xy, axis=-1)  # (..., J); the root contributes 0
        num = tf.cast(tf.shape(dist)[-1] - 1, dist.dtype)
        return tf.maximum(tf.reduce_sum(dist, axis=-1) / num, _EPS)[..., None, None]

    def normalize_2d(self, pose_2d):
        rel = self.root_relative(pose_2d)
        return rel / self._scale(rel)

    def normalize_3d(self, pose_3d):
        rel = self.root_relative(pose_3d)
        return rel / self._scale(rel[..., :2])

    def denormalize_3d(self, pose_3d):
        return tf.cast(pose_3d, tf.float32)


class CameraRaysNormalizer(RootScaleNormalizer):
    """RepGAN with back-projection: 2D pixels become camera rays ``(u - c) / f``
    of the training frame's camera, keeping where the pose is in the image and
    how large it is, which back-projecting a depth along the rays needs
    (:func:`tfpose.models.repgan.backproject`); the model root-centres and
    scales them itself. 3D poses are normalised as by :class:`RootScaleNormalizer`."""

    kind = "camera_rays"

    def __init__(self, focal_length: float, principal_point, root: int = 0):
        super().__init__(root)
        self.focal_length = float(focal_length)
        self.principal_point = np.asarray(principal_point, np.float32).reshape(2)
        if not (self.focal_length > 0 and np.isfinite(self.focal_length)):
            raise ValueError(f"camera_rays needs a positive focal length; got {focal_length}")

    def normalize_2d(self, pose_2d):
        return (tf.cast(pose_2d, tf.float32) - self.principal_point) / self.focal_length

    def to_dict(self) -> Dict:
        return {**super().to_dict(), "focal_length": self.focal_length,
                "principal_point": self.principal_point.tolist()}


NORMALIZERS = {cls.kind: cls for cls in (ZScoreNormalizer, RootScaleNormalizer,
                                         CameraRaysNormalizer)}


def create(kind: str, pose_2d: Optional[np.ndarray] = None, pose_3d: Optional[np.ndarray] = None,
           root: int = 0) -> Normalizer:
    """A normaliser of ``kind`` (a model spec's ``normalizer``), fitted where it needs data."""
    if kind == ZScoreNormalizer.kind:
        if pose_2d is None or pose_3d is None:
            raise ValueError("the z-score normaliser needs training poses to fit its statistics")
        return ZScoreNormalizer.fit(pose_2d, pose_3d, root=root)
    if kind == RootScaleNormalizer.kind:
        return RootScaleNormalizer(root=root)
    raise ValueError(f"unknown normalizer {kind!r}; expected one of {', '.join(NORMALIZERS)}")
