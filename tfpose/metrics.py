"""Evaluation metrics for 3D pose: the protocols the lifting papers report.

* Protocol #1 -- MPJPE (mm) after root alignment (``mpjpe`` with ``root=0``).
* Protocol #2 -- P-MPJPE: MPJPE after the optimal similarity transform
  (Procrustes: rotation, translation, uniform scale; reflections excluded).
* N-MPJPE -- MPJPE after root alignment and a least-squares scale per pose;
  RepGAN's output has no metric scale, so this is its protocol #1.
* Per-action tables ("Avg" is the mean of per-action means), per-joint and
  hard-joint errors, bone-length RMSE of ASN Table 3's limb bones, 3DPCK and
  AUC (MPI-INF-3DHP definitions: strict ``error < threshold``).

Poses are arrays ``(..., J, 3)``; any leading batch shape works. The NumPy
functions (float64 inside) serve evaluation; the ``*_tf`` twins (float32,
graph-only code) serve training loops and ``tf.function``.
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np
import tensorflow as tf

from tfpose.skeleton import Skeleton

PROTOCOLS = ("mpjpe", "p_mpjpe", "n_mpjpe")
PCK_THRESHOLD_MM = 150.0
AUC_THRESHOLDS_MM = np.linspace(0.0, 150.0, 31)  # 0:5:150, as in mpii_compute_3d_pck.m


# --- NumPy: alignment --------------------------------------------------------

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


# --- NumPy: per-joint errors and protocols -------------------------------------

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


# --- NumPy: aggregation --------------------------------------------------------

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


def hard_joint_error(frame_joint_errors, skeleton: Skeleton) -> float:
    """Mean error of ASN's hard joints (elbows, wrists, knees, feet)."""
    e = _as_float(frame_joint_errors)
    return float(np.mean(e[..., list(skeleton.hard_joints)]))


def non_hard_joint_error(frame_joint_errors, skeleton: Skeleton) -> float:
    """Mean error of the joints that are not hard joints."""
    e = _as_float(frame_joint_errors)
    others = [j for j in range(skeleton.num_joints) if j not in skeleton.hard_joints]
    return float(np.mean(e[..., others]))


# --- NumPy: bone lengths ---------------------------------------------------------

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


# --- NumPy: PCK / AUC ------------------------------------------------------------

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


# --- TensorFlow twins ---------------------------------------------------------

def _tf_float(x) -> tf.Tensor:
    return tf.cast(x, tf.float32)


def root_align_tf(pose, root: int = 0) -> tf.Tensor:
    pose = _tf_float(pose)
    return pose - pose[..., root:root + 1, :]


def _procrustes_centred_tf(pred, target):
    """(aligned pred, target), both centred on target's mean, and that mean.

    Errors are taken between the centred poses: adding the mean back (metres
    from the camera) would cost float32 precision for nothing.
    """
    # Shift by joint 0 first (exact in float32 for nearby values) so that the
    # means are taken of small numbers; Procrustes ignores translations.
    pred, target = root_align_tf(pred), _tf_float(target)
    target_0 = target[..., :1, :]
    target = target - target_0
    p = pred - tf.reduce_mean(pred, axis=-2, keepdims=True)
    mu_t = tf.reduce_mean(target, axis=-2, keepdims=True)
    t = target - mu_t
    norm_p = tf.sqrt(tf.reduce_sum(tf.square(p), axis=[-2, -1], keepdims=True))
    norm_t = tf.sqrt(tf.reduce_sum(tf.square(t), axis=[-2, -1], keepdims=True))
    p_n = tf.math.divide_no_nan(p, norm_p)
    t_n = tf.math.divide_no_nan(t, norm_t)
    m = tf.linalg.matmul(p_n, t_n, transpose_a=True)          # (..., 3, 3)
    # The 3x3 SVD runs in float64: cheap, and it is float32's weak link here.
    s, u, v = tf.linalg.svd(tf.cast(m, tf.float64))          # m = u diag(s) v^T
    d = tf.sign(tf.linalg.det(tf.linalg.matmul(u, v, transpose_b=True)))
    d = tf.where(tf.equal(d, 0.0), tf.ones_like(d), d)
    fix = tf.concat([tf.ones_like(s[..., :-1]), d[..., None]], axis=-1)
    rot = tf.cast(tf.linalg.matmul(u * fix[..., None, :], v, transpose_b=True), tf.float32)
    scale = tf.cast(tf.reduce_sum(s * fix, axis=-1), tf.float32)[..., None, None]
    return scale * norm_t * tf.linalg.matmul(p_n, rot), t, mu_t + target_0


def procrustes_align_tf(pred, target) -> tf.Tensor:
    """TF twin of :func:`procrustes_align` (batched ``tf.linalg.svd``).

    Centred poses are normalised before the 3x3 cross-covariance so float32
    keeps its precision for poses in mm. The SVD gradient is unstable for
    repeated singular values: use this for monitoring, not as a loss.
    """
    aligned, _, mu_t = _procrustes_centred_tf(pred, target)
    return aligned + mu_t


def scale_align_tf(pred, target) -> tf.Tensor:
    pred, target = _tf_float(pred), _tf_float(target)
    num = tf.reduce_sum(pred * target, axis=[-2, -1], keepdims=True)
    den = tf.reduce_sum(pred * pred, axis=[-2, -1], keepdims=True)
    return tf.math.divide_no_nan(num, den) * pred


def joint_errors_tf(pred, target) -> tf.Tensor:
    return tf.norm(_tf_float(pred) - _tf_float(target), axis=-1)


def errors_for_protocol_tf(pred, target, protocol: str, root: Optional[int] = 0) -> tf.Tensor:
    """TF twin of :func:`errors_for_protocol`: ``(..., J)``; ``protocol`` and
    ``root`` are Python constants (they choose the graph)."""
    if protocol == "mpjpe":
        if root is not None:
            pred, target = root_align_tf(pred, root), root_align_tf(target, root)
        return joint_errors_tf(pred, target)
    if protocol == "p_mpjpe":
        aligned, centred_target, _ = _procrustes_centred_tf(pred, target)
        return joint_errors_tf(aligned, centred_target)
    if protocol == "n_mpjpe":
        root = 0 if root is None else root
        pred, target = root_align_tf(pred, root), root_align_tf(target, root)
        return joint_errors_tf(scale_align_tf(pred, target), target)
    raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")


def _reduce(errors: tf.Tensor, per_sample: bool) -> tf.Tensor:
    return tf.reduce_mean(errors, axis=-1) if per_sample else tf.reduce_mean(errors)


def mpjpe_tf(pred, target, root: Optional[int] = None, per_sample: bool = False) -> tf.Tensor:
    """Scalar MPJPE over the batch, or ``(...,)`` per pose with ``per_sample``."""
    return _reduce(errors_for_protocol_tf(pred, target, "mpjpe", root), per_sample)


def n_mpjpe_tf(pred, target, root: int = 0, per_sample: bool = False) -> tf.Tensor:
    return _reduce(errors_for_protocol_tf(pred, target, "n_mpjpe", root), per_sample)


def p_mpjpe_tf(pred, target, per_sample: bool = False) -> tf.Tensor:
    return _reduce(errors_for_protocol_tf(pred, target, "p_mpjpe"), per_sample)
