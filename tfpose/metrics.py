"""Evaluation metrics for 3D pose: the protocols the lifting papers report.

* Protocol #1 -- MPJPE (mm) after root alignment (``mpjpe`` with ``root=0``).
* Protocol #2 -- P-MPJPE: MPJPE after the optimal similarity transform
  (Procrustes: rotation, translation, uniform scale; reflections excluded).
* N-MPJPE -- MPJPE after root alignment and a least-squares scale per pose;
  RepGAN's output has no metric scale, so this is its protocol #1.
* Per-action tables ("Avg" is the mean of per-action means), per-joint and
  hard-joint errors, bone-length RMSE of ASN Table 3's limb bones, 3DPCK and
  AUC (MPI-INF-3DHP definitions: strict ``error < threshold``).

Poses are arrays ``(..., J, 3)``; any leading batch shape works. Everything
is NumPy in float64: evaluation runs on whole splits after prediction, where
float32 would cost precision on Procrustes for nothing.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np

from tfpose.skeleton import Skeleton

PROTOCOLS = ("mpjpe", "p_mpjpe", "n_mpjpe")
PCK_THRESHOLD_MM = 150.0
AUC_THRESHOLDS_MM = np.linspace(0.0, 150.0, 31)  # 0:5:150, as in mpii_compute_3d_pck.m


# --- alignment --------------------------------------------------------

def _as_float(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def root_align(pose, root: int = 0) -> np.ndarray:
    """Translate each pose so that joint ``root`` sits at the origin."""
    pose = _as_float(pose)
    return pose - pose[..., root:root + 1, :]


def procrustes_align(pred, target) -> np.ndarray:
    """``pred`` moved onto ``target`` by the best similarity transform.

    Minimises ``sum ||s * p_j @ R + t - y_j||^2`` per pose with ``R`` a proper
    rotation (det +1): the SVD solution with the determinant correction
    (Umeyama 1991), so a mirrored prediction is not "fixed" by a reflection.
    """
    pred, target = np.broadcast_arrays(_as_float(pred), _as_float(target))
    mu_p = pred.mean(axis=-2, keepdims=True)
    mu_t = target.mean(axis=-2, keepdims=True)
    p = pred - mu_p
    t = target - mu_t
    m = np.swapaxes(p, -1, -2) @ t                      # (..., 3, 3) = P^T Y
    u, s, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u @ vt))                   # -1 where U V^T reflects
    d = np.where(d == 0, 1.0, d)
    u = u.copy()
    u[..., :, -1] *= d[..., None]
    rot = u @ vt                                         # row-vector convention
    s = s.copy()
    s[..., -1] *= d
    p_sq = np.sum(p * p, axis=(-2, -1))
    scale = np.divide(s.sum(axis=-1), p_sq, out=np.zeros_like(p_sq), where=p_sq > 0)
    return scale[..., None, None] * (p @ rot) + mu_t


def scale_align(pred, target) -> np.ndarray:
    """``pred`` times the least-squares scale ``<pred, target> / <pred, pred>``."""
    pred, target = _as_float(pred), _as_float(target)
    num = np.sum(pred * target, axis=(-2, -1))
    den = np.sum(pred * pred, axis=(-2, -1))
    num, den = np.broadcast_arrays(num, den)
    scale = np.divide(num, den, out=np.zeros_like(den), where=den > 0)
    return scale[..., None, None] * pred


# --- per-joint errors and protocols -------------------------------------

def joint_errors(pred, target) -> np.ndarray:
    """Euclidean distance per joint: ``(..., J)``."""
    return np.linalg.norm(_as_float(pred) - _as_float(target), axis=-1)


def mpjpe_errors(pred, target, root: Optional[int] = None) -> np.ndarray:
    """Per-joint errors, both poses root-aligned first when ``root`` is given."""
    if root is not None:
        pred, target = root_align(pred, root), root_align(target, root)
    return joint_errors(pred, target)


def mpjpe(pred, target, root: Optional[int] = None) -> float:
    """Mean per-joint position error; ``root=0`` gives protocol #1."""
    return float(np.mean(mpjpe_errors(pred, target, root)))


def _per_joint(errors: np.ndarray) -> np.ndarray:
    return errors.reshape(-1, errors.shape[-1]).mean(axis=0)


def mpjpe_per_joint(pred, target, root: Optional[int] = None) -> np.ndarray:
    """MPJPE of each joint over all poses: ``(J,)``."""
    return _per_joint(mpjpe_errors(pred, target, root))


def p_mpjpe_errors(pred, target) -> np.ndarray:
    """Per-joint errors after Procrustes alignment: ``(..., J)``."""
    return joint_errors(procrustes_align(pred, target), target)


def p_mpjpe(pred, target) -> float:
    """Protocol #2: MPJPE after Procrustes alignment."""
    return float(np.mean(p_mpjpe_errors(pred, target)))


def p_mpjpe_per_joint(pred, target) -> np.ndarray:
    return _per_joint(p_mpjpe_errors(pred, target))


def n_mpjpe_errors(pred, target, root: int = 0) -> np.ndarray:
    """Per-joint errors after root alignment and the least-squares scale."""
    pred, target = root_align(pred, root), root_align(target, root)
    return joint_errors(scale_align(pred, target), target)


def n_mpjpe(pred, target, root: int = 0) -> float:
    """N-MPJPE: scale-aligned protocol #1 (for outputs without metric scale)."""
    return float(np.mean(n_mpjpe_errors(pred, target, root)))


def n_mpjpe_per_joint(pred, target, root: int = 0) -> np.ndarray:
    return _per_joint(n_mpjpe_errors(pred, target, root))


def errors_for_protocol(pred, target, protocol: str, root: Optional[int] = 0) -> np.ndarray:
    """Per-frame, per-joint errors ``(..., J)`` for a protocol name.

    ``"mpjpe"`` root-aligns at ``root`` (protocol #1; ``root=None`` compares
    the raw coordinates), ``"n_mpjpe"`` root-aligns and scales, ``"p_mpjpe"``
    uses Procrustes (which makes the root irrelevant).
    """
    if protocol == "mpjpe":
        return mpjpe_errors(pred, target, root)
    if protocol == "p_mpjpe":
        return p_mpjpe_errors(pred, target)
    if protocol == "n_mpjpe":
        return n_mpjpe_errors(pred, target, 0 if root is None else root)
    raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")


# --- aggregation --------------------------------------------------------

def _labels(groups) -> np.ndarray:
    groups = np.asarray(groups)
    if groups.dtype.kind == "S":
        groups = np.char.decode(groups, "utf-8")
    elif groups.dtype.kind == "O":
        groups = np.array([g.decode("utf-8") if isinstance(g, bytes) else g for g in groups])
    return groups


def per_group(values, groups) -> Dict[str, float]:
    """Mean of ``values`` (``(N, ...)``, one row per frame) for each group label.

    Keys come in order of first appearance; bytes labels (as TFDS yields
    them) become str.
    """
    values = _as_float(values)
    groups = _labels(groups)
    if groups.shape != values.shape[:1]:
        raise ValueError(f"{values.shape[0]} frames but {groups.shape} group labels")
    frame_means = values.reshape(len(values), -1).mean(axis=1)
    uniq, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    sums = np.bincount(inverse.ravel(), weights=frame_means, minlength=len(uniq))
    counts = np.bincount(inverse.ravel(), minlength=len(uniq))
    order = np.argsort(first)
    return {uniq[i].item(): float(sums[i] / counts[i]) for i in order}


def per_action(frame_errors, actions) -> Dict[str, float]:
    """Per-action mean error plus ``"Avg"``: the mean of the per-action means
    (how the Human3.6M tables average), not the mean over all frames."""
    table = per_group(frame_errors, actions)
    table["Avg"] = float(np.mean(list(table.values()))) if table else float("nan")
    return table


def hard_and_other_joint_errors(frame_joint_errors, skeleton: Skeleton) -> Tuple[float, float]:
    """Mean error of ASN's hard joints (elbows, wrists, knees, feet) and of the
    other joints.

    The root is left out of "other": after root alignment its error is 0 by
    construction, and counting it would pull that mean down.
    """
    e = _as_float(frame_joint_errors)
    if e.ndim < 1 or e.shape[-1] != skeleton.num_joints:
        raise ValueError(f"joint errors of shape {e.shape} do not have the "
                         f"{skeleton.num_joints} joints of skeleton {skeleton.name!r}")
    hard = list(skeleton.hard_joints)
    other = [j for j in range(skeleton.num_joints) if j not in hard and j != skeleton.root]
    return float(np.mean(e[..., hard])), float(np.mean(e[..., other]))


# --- bone lengths ---------------------------------------------------------

def bone_lengths(pose, skeleton: Skeleton) -> np.ndarray:
    """Length of each bone, ``(..., B)`` in ``skeleton.bones`` order."""
    pose = _as_float(pose)
    parents, children = (np.array(x) for x in zip(*skeleton.bones))
    return np.linalg.norm(pose[..., children, :] - pose[..., parents, :], axis=-1)


def bone_length_rmse(pred, target, skeleton: Skeleton) -> Dict[str, float]:
    """ASN Table 3: RMSE over frames of each limb bone's length error, and
    ``"avg"`` over the limb bones."""
    pred, target = _as_float(pred), _as_float(target)
    out = {}
    for label, (p, c) in skeleton.limb_bones.items():
        lp = np.linalg.norm(pred[..., c, :] - pred[..., p, :], axis=-1)
        lt = np.linalg.norm(target[..., c, :] - target[..., p, :], axis=-1)
        out[label] = float(np.sqrt(np.mean((lp - lt) ** 2)))
    out["avg"] = float(np.mean(list(out.values())))
    return out


# --- PCK / AUC ------------------------------------------------------------

def pck(frame_joint_errors, threshold: float = PCK_THRESHOLD_MM) -> float:
    """3DPCK: percentage (0-100) of joints with error ``< threshold``."""
    return float(100.0 * np.mean(_as_float(frame_joint_errors) < threshold))


def pck_curve(frame_joint_errors, thresholds=AUC_THRESHOLDS_MM) -> np.ndarray:
    """PCK (0-100) at each threshold, by one sort instead of a mask per threshold."""
    e = np.sort(_as_float(frame_joint_errors).ravel())
    counts = np.searchsorted(e, _as_float(thresholds), side="left")  # #(e < t)
    return 100.0 * counts / e.size


def auc(frame_joint_errors, thresholds=AUC_THRESHOLDS_MM) -> float:
    """Area under the PCK curve as the mean PCK over ``thresholds`` (0-100)."""
    return float(np.mean(pck_curve(frame_joint_errors, thresholds)))
