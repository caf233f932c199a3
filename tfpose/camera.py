"""Camera geometry: world -> camera frame -> pixels, with lens distortion.

Conventions (those of the Human3.6M release and of Martinez et al.):

* ``R`` rotates world into camera axes and ``T`` is the camera centre in
  world coordinates, so ``X_cam = R @ (X_world - T)``. Camera axes: x right,
  y down, z forward (depth), millimetres.
* Pixels: ``u = f * distort(x/z, y/z) + c`` with three radial (``k``) and two
  tangential (``p``) coefficients, in the form the 3d-pose-baseline code uses
  to make the ground-truth 2D that the lifting literature trains on.

NumPy functions serve dataset builds and evaluation; ``*_tf`` twins run inside
graphs (data augmentation, reprojection losses).
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Tuple

import numpy as np

H36M_CAMERA_IDS = ("54138969", "55011271", "58860488", "60457274")


@dataclasses.dataclass(frozen=True)
class Camera:
    """Intrinsics and extrinsics of one calibrated camera."""

    id: str
    R: np.ndarray  # (3, 3) world -> camera rotation
    T: np.ndarray  # (3,) camera centre, world frame
    f: np.ndarray  # (2,) focal length, pixels
    c: np.ndarray  # (2,) principal point, pixels
    k: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(3))  # radial
    p: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(2))  # tangential
    res_w: int = 1000
    res_h: int = 1000

    def world_to_camera(self, x_world: np.ndarray) -> np.ndarray:
        return world_to_camera(x_world, self.R, self.T)

    def camera_to_world(self, x_cam: np.ndarray) -> np.ndarray:
        return camera_to_world(x_cam, self.R, self.T)

    def project(self, x_cam: np.ndarray) -> np.ndarray:
        return project_to_pixels(x_cam, self.f, self.c, self.k, self.p)

    @property
    def intrinsics(self) -> np.ndarray:
        """(9,) float32: fx, fy, cx, cy, k1, k2, k3, p1, p2."""
        return np.concatenate([self.f, self.c, self.k, self.p]).astype(np.float32)


def world_to_camera(x_world: np.ndarray, R: np.ndarray, T: np.ndarray) -> np.ndarray:
    """(..., 3) world points -> (..., 3) camera-frame points."""
    x_world = np.asarray(x_world, np.float64)
    return (x_world - np.asarray(T, np.float64).reshape(3)) @ np.asarray(R, np.float64).T


def camera_to_world(x_cam: np.ndarray, R: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Inverse of :func:`world_to_camera`."""
    x_cam = np.asarray(x_cam, np.float64)
    return x_cam @ np.asarray(R, np.float64) + np.asarray(T, np.float64).reshape(3)


def _distort(xy, r2, k, p, xp):
    """Martinez/H36M distortion of normalised image coordinates ``xy``."""
    radial = 1.0 + k[0] * r2 + k[1] * r2 ** 2 + k[2] * r2 ** 3
    tan = p[0] * xy[..., 1] + p[1] * xy[..., 0]
    scale = (radial + tan)[..., None]
    return xy * scale + xp.stack([p[1] * r2, p[0] * r2], axis=-1)


def project_to_pixels(x_cam: np.ndarray, f, c, k=None, p=None) -> np.ndarray:
    """(..., 3) camera-frame points -> (..., 2) pixels, with distortion."""
    x_cam = np.asarray(x_cam, np.float64)
    k = np.zeros(3) if k is None else np.asarray(k, np.float64).reshape(3)
    p = np.zeros(2) if p is None else np.asarray(p, np.float64).reshape(2)
    xy = x_cam[..., :2] / x_cam[..., 2:3]
    r2 = np.sum(xy ** 2, axis=-1)
    xy = _distort(xy, r2, k, p, np)
    return xy * np.asarray(f, np.float64).reshape(2) + np.asarray(c, np.float64).reshape(2)


def project_to_pixels_tf(x_cam, f, c, k=None, p=None):
    """TF twin of :func:`project_to_pixels`; ``f``, ``c``: (..., 2) broadcastable."""
    import tensorflow as tf

    x_cam = tf.convert_to_tensor(x_cam)
    dtype = x_cam.dtype
    k = tf.zeros([3], dtype) if k is None else tf.cast(k, dtype)
    p = tf.zeros([2], dtype) if p is None else tf.cast(p, dtype)
    xy = x_cam[..., :2] / x_cam[..., 2:3]
    r2 = tf.reduce_sum(tf.square(xy), axis=-1)
    xy = _distort(xy, r2, tf.unstack(k, axis=-1), tf.unstack(p, axis=-1), tf)
    return xy * tf.cast(f, dtype) + tf.cast(c, dtype)


def quaternion_to_matrix(q) -> np.ndarray:
    """Unit quaternion (w, x, y, z) -> (3, 3) rotation matrix."""
    w, x, y, z = np.asarray(q, np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def fit_pinhole(x_cam: np.ndarray, pose_2d: np.ndarray) -> Tuple[np.ndarray, np.ndarray, float]:
    """Least-squares focal length and centre from camera-frame 3D and pixels.

    Used for HumanEva, whose release carries no intrinsics. Returns
    ``(f, c, median_residual_px)``.
    """
    x_cam = np.asarray(x_cam, np.float64).reshape(-1, 3)
    uv = np.asarray(pose_2d, np.float64).reshape(-1, 2)
    ok = np.isfinite(x_cam).all(-1) & np.isfinite(uv).all(-1) & (x_cam[:, 2] > 1e-6)
    x_cam, uv = x_cam[ok], uv[ok]
    f, c = np.zeros(2), np.zeros(2)
    for a in range(2):
        design = np.stack([x_cam[:, a] / x_cam[:, 2], np.ones(len(x_cam))], axis=1)
        (f[a], c[a]), *_ = np.linalg.lstsq(design, uv[:, a], rcond=None)
    residual = np.linalg.norm(project_to_pixels(x_cam, f, c) - uv, axis=-1)
    return f, c, float(np.median(residual))


def load_h36m_cameras(path: str) -> Dict[Tuple[str, str], Camera]:
    """Read ``cameras.h5`` of the 3d-pose-baseline release.

    Returns ``{(subject, camera_id): Camera}`` with subject like ``"S9"``.
    The stored ``R`` is transposed relative to our world->camera convention.
    """
    import h5py

    cams = {}
    try:
        with h5py.File(path, "r") as hf:
            for subj_key in hf:
                if not subj_key.startswith("subject"):
                    continue
                subject = "S" + subj_key[len("subject"):]
                for cam_key in hf[subj_key]:
                    g = hf[subj_key][cam_key]
                    missing = [n for n in ("R", "T", "f", "c", "k", "p", "Name") if n not in g]
                    if missing:
                        raise ValueError(f"{path}: {subj_key}/{cam_key} lacks {missing}")
                    cam_id = "".join(chr(int(v)) for v in np.asarray(g["Name"]).ravel())
                    cams[(subject, cam_id)] = Camera(
                        id=cam_id,
                        R=np.asarray(g["R"], np.float64).T,
                        T=np.asarray(g["T"], np.float64).reshape(3),
                        f=np.asarray(g["f"], np.float64).reshape(2),
                        c=np.asarray(g["c"], np.float64).reshape(2),
                        k=np.asarray(g["k"], np.float64).reshape(3),
                        p=np.asarray(g["p"], np.float64).reshape(2),
                    )
    except (OSError, KeyError) as e:
        raise ValueError(f"cannot read cameras file {path}: {e}") from e
    if not cams:
        raise ValueError(f"{path}: no subject<k>/camera<c> groups found")
    return cams
