"""Metrics on hand-made cases with known answers."""

import math

import numpy as np
import pytest

from tfpose import metrics, skeleton

H36M = skeleton.H36M_17


def _random_rotation(rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


def _random_pose(rng, n=None, joints=17) -> np.ndarray:
    shape = (joints, 3) if n is None else (n, joints, 3)
    return rng.normal(0.0, 300.0, shape) + np.array([0.0, 0.0, 4500.0])


def _horn_rotation(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Best proper rotation (column convention, t ~ R p) by Horn's quaternion
    method: an independent reference that cannot produce a reflection."""
    s = p.T @ t  # s[a, b] = sum_j p_a t_b
    sxx, sxy, sxz, syx, syy, syz, szx, szy, szz = s.ravel()
    n = np.array([
        [sxx + syy + szz, syz - szy, szx - sxz, sxy - syx],
        [syz - szy, sxx - syy - szz, sxy + syx, szx + sxz],
        [szx - sxz, sxy + syx, -sxx + syy - szz, syz + szy],
        [sxy - syx, szx + sxz, syz + szy, -sxx - syy + szz]])
    w, v = np.linalg.eigh(n)
    q0, qx, qy, qz = v[:, np.argmax(w)]
    return np.array([
        [q0**2 + qx**2 - qy**2 - qz**2, 2 * (qx * qy - q0 * qz), 2 * (qx * qz + q0 * qy)],
        [2 * (qy * qx + q0 * qz), q0**2 - qx**2 + qy**2 - qz**2, 2 * (qy * qz - q0 * qx)],
        [2 * (qz * qx - q0 * qy), 2 * (qz * qy + q0 * qx), q0**2 - qx**2 - qy**2 + qz**2]])


def _horn_align(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    p = pred - pred.mean(0)
    t = target - target.mean(0)
    r = _horn_rotation(p, t)
    rp = p @ r.T
    scale = np.sum(rp * t) / np.sum(p * p)
    return scale * rp + target.mean(0)


# --- MPJPE -------------------------------------------------------------------

def test_constant_offset_is_five_mm_and_zero_after_root_alignment():
    target = _random_pose(np.random.default_rng(0), n=4)
    pred = target + np.array([3.0, 4.0, 0.0])
    assert metrics.mpjpe(pred, target) == pytest.approx(5.0, abs=1e-9)
    assert metrics.mpjpe(pred, target, root=0) == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(metrics.mpjpe_per_joint(pred, target), np.full(17, 5.0))
    assert metrics.joint_errors(pred, target).shape == (4, 17)
    np.testing.assert_allclose(metrics.root_align(pred)[:, 0], 0.0)


def test_mpjpe_per_joint_and_protocol_mpjpe_root_aligns():
    target = np.zeros((2, 3, 3))
    pred = target.copy()
    pred[:, 1] = [0.0, 6.0, 8.0]      # joint 1 off by 10 mm
    pred[0, :] += [1.0, 0.0, 0.0]      # frame 0 shifted: removed by root alignment
    np.testing.assert_allclose(metrics.mpjpe_per_joint(pred, target, root=0), [0, 10, 0])
    np.testing.assert_allclose(metrics.errors_for_protocol(pred, target, "mpjpe"),
                               [[0, 10, 0], [0, 10, 0]])
    with pytest.raises(ValueError):
        metrics.errors_for_protocol(pred, target, "pck")


# --- Procrustes (protocol #2) ------------------------------------------------------

def test_similarity_transform_is_undone_by_procrustes():
    rng = np.random.default_rng(1)
    target = _random_pose(rng)
    rot = _random_rotation(rng)
    pred = 1.7 * target @ rot.T + np.array([120.0, -40.0, 900.0])
    # Protocol #1 sees the full displacement, computed joint by joint.
    expected = sum(math.dist(a, b) for a, b in zip(pred, target)) / 17
    assert metrics.mpjpe(pred, target) == pytest.approx(expected, rel=1e-12)
    assert expected > 100.0
    scale = np.sqrt(np.mean(np.sum((target - target.mean(0)) ** 2, -1)))
    assert metrics.p_mpjpe(pred, target) < 1e-6 * scale
    np.testing.assert_allclose(metrics.procrustes_align(pred, target), target, atol=1e-6)


def test_procrustes_does_not_cheat_with_a_reflection():
    rng = np.random.default_rng(2)
    target = _random_pose(rng)
    mirrored = target * np.array([-1.0, 1.0, 1.0])      # an improper transform of target
    aligned = metrics.procrustes_align(mirrored, target)
    # A reflection would fit exactly; a proper rotation cannot.
    assert metrics.p_mpjpe(mirrored, target) > 50.0
    # Same answer as Horn's quaternion method (rotations only) ...
    np.testing.assert_allclose(aligned, _horn_align(mirrored, target), atol=1e-6)
    # ... the fitted linear map has det > 0 ...
    p = mirrored - mirrored.mean(0)
    a, *_ = np.linalg.lstsq(p, aligned - aligned.mean(0), rcond=None)
    assert np.linalg.det(a) > 0
    # ... and no nearby rotation does better.
    best = np.sum((aligned - target) ** 2)
    centre = target.mean(0)
    for _ in range(20):
        w = rng.normal(scale=0.05, size=3)
        k = np.array([[0, -w[2], w[1]], [w[2], 0, -w[0]], [-w[1], w[0], 0]])
        nudge = np.eye(3) + np.sin(np.linalg.norm(w)) / np.linalg.norm(w) * k \
            + (1 - np.cos(np.linalg.norm(w))) / np.linalg.norm(w) ** 2 * k @ k
        other = (aligned - centre) @ nudge.T + centre
        assert np.sum((other - target) ** 2) >= best


def test_horn_reference_recovers_a_known_rotation():
    rng = np.random.default_rng(3)
    p = rng.normal(size=(17, 3))
    rot = _random_rotation(rng)
    np.testing.assert_allclose(_horn_rotation(p, p @ rot.T), rot, atol=1e-9)


def test_procrustes_is_batched_over_any_leading_shape():
    rng = np.random.default_rng(4)
    target = _random_pose(rng, n=6).reshape(2, 3, 17, 3)
    pred = target + rng.normal(0, 30.0, target.shape)
    aligned = metrics.procrustes_align(pred, target)
    assert aligned.shape == (2, 3, 17, 3)
    for i in range(2):
        for j in range(3):
            np.testing.assert_allclose(aligned[i, j], _horn_align(pred[i, j], target[i, j]),
                                       atol=1e-6)
    errors = metrics.p_mpjpe_errors(pred, target)
    assert errors.shape == (2, 3, 17)
    assert metrics.p_mpjpe(pred, target) == pytest.approx(errors.mean())
    np.testing.assert_allclose(metrics.p_mpjpe_per_joint(pred, target),
                               errors.reshape(-1, 17).mean(0))
    # Procrustes can only lower the root-aligned error.
    assert metrics.p_mpjpe(pred, target) < metrics.mpjpe(pred, target, root=0)


def test_procrustes_of_a_collapsed_prediction_is_finite():
    target = _random_pose(np.random.default_rng(5))
    pred = np.zeros_like(target)
    aligned = metrics.procrustes_align(pred, target)
    np.testing.assert_allclose(aligned, np.broadcast_to(target.mean(0), target.shape))


# --- N-MPJPE -----------------------------------------------------------------

def test_n_mpjpe_of_a_scaled_copy_is_zero():
    rng = np.random.default_rng(6)
    target = _random_pose(rng, n=3)
    pred = 0.01 * metrics.root_align(target) + np.array([5.0, 6.0, 7.0])
    assert metrics.n_mpjpe(pred, target) == pytest.approx(0.0, abs=1e-9)
    assert metrics.mpjpe(pred, target, root=0) > 100.0


def test_n_mpjpe_with_an_offset_orthogonal_to_the_pose():
    # target = pred + d with <pred, d> = 0 per joint, so the best scale is 1
    # and every non-root joint is off by |d| = 10 mm.
    rng = np.random.default_rng(7)
    pred = metrics.root_align(_random_pose(rng, n=2))
    d = np.cross(pred, rng.normal(size=pred.shape))
    norms = np.linalg.norm(d, axis=-1, keepdims=True)
    d = 10.0 * np.divide(d, norms, out=np.zeros_like(d), where=norms > 0)
    target = pred + d + np.array([0.0, 0.0, 3000.0])
    expected = np.full((2, 17), 10.0)
    expected[:, 0] = 0.0
    np.testing.assert_allclose(metrics.n_mpjpe_errors(pred, target), expected, atol=1e-9)
    assert metrics.n_mpjpe(pred, target) == pytest.approx(10.0 * 16 / 17)
    np.testing.assert_allclose(metrics.n_mpjpe_per_joint(pred, target), expected[0], atol=1e-9)
    # A wrong scale costs nothing under N-MPJPE.
    assert metrics.n_mpjpe(3.0 * pred, target) == pytest.approx(10.0 * 16 / 17)


def test_n_mpjpe_scale_is_least_squares_from_pred_to_target():
    # Along x: p = (0, 1, 1), t = (0, 2, 4), so s = <p, t> / <p, p> = 6 / 2 = 3
    # and the residuals are (0, |3 - 2|, |3 - 4|) = (0, 1, 1).
    pred = np.zeros((3, 3))
    target = np.zeros((3, 3))
    pred[1:, 0] = 1.0
    target[1, 0], target[2, 0] = 2.0, 4.0
    np.testing.assert_allclose(metrics.n_mpjpe_errors(pred, target), [0.0, 1.0, 1.0])
    np.testing.assert_allclose(metrics.scale_align(pred, target)[1:, 0], [3.0, 3.0])


# --- Aggregation -------------------------------------------------------------

def test_per_action_average_is_the_mean_of_action_means():
    # 3 frames of "Walking" at 10 mm, 1 frame of "Sitting" at 50 mm: the frame
    # mean is 20, the per-action mean 30.
    errors = np.array([[10.0, 10.0], [10.0, 10.0], [50.0, 50.0], [10.0, 10.0]])
    actions = np.array([b"Walking", b"Walking", b"Sitting", b"Walking"])
    table = metrics.per_action(errors, actions)
    assert list(table) == ["Walking", "Sitting", "Avg"]
    assert table["Walking"] == pytest.approx(10.0)
    assert table["Sitting"] == pytest.approx(50.0)
    assert table["Avg"] == pytest.approx(30.0)
    assert errors.mean() == pytest.approx(20.0)
    assert metrics.per_group(errors[:, 0], ["a", "b", "b", "a"]) == {"a": 10.0, "b": 30.0}
    with pytest.raises(ValueError):
        metrics.per_group(errors, ["a"])


def test_hard_and_other_joint_errors_leave_out_the_root():
    s = H36M
    hard = list(s.hard_joints)
    other = [j for j in range(17) if j not in hard and j != s.root]
    assert len(hard) == 8 and len(other) == 8
    # Root-aligned predictions: the root's error is 0, every other joint's is not.
    errors = np.zeros((5, 17))
    errors[:, hard] = 40.0
    errors[:, other] = 10.0
    errors[:, s.root] = 0.0
    hard_mean, other_mean = metrics.hard_and_other_joint_errors(errors, s)
    assert hard_mean == pytest.approx(40.0)
    assert other_mean == pytest.approx(10.0)
    # Counting the root would have diluted "other" to 8 * 10 / 9.
    assert np.mean(errors[:, other + [s.root]]) == pytest.approx(80.0 / 9)
    # The means are over frames and joints of each group.
    errors[0, hard[0]] = 80.0
    errors[1, other[0]] = 90.0
    hard_mean, other_mean = metrics.hard_and_other_joint_errors(errors, s)
    assert hard_mean == pytest.approx(40.0 + 40.0 / 40)
    assert other_mean == pytest.approx(10.0 + 80.0 / 40)


def test_hard_and_other_joint_errors_on_humaneva_and_wrong_joint_count():
    he = skeleton.HUMANEVA_15
    errors = np.arange(15, dtype=float)[None].repeat(3, axis=0)
    hard = [j for j, n in enumerate(he.joint_names)
            if n[1:] in ("Elbow", "Wrist", "Knee", "Ankle")]
    other = [j for j in range(15) if j not in hard and j != he.root]
    assert metrics.hard_and_other_joint_errors(errors, he) == pytest.approx(
        (np.mean(hard), np.mean(other)))
    with pytest.raises(ValueError, match="17 joints of skeleton 'h36m17'"):
        metrics.hard_and_other_joint_errors(errors, H36M)


# --- Bone lengths ---------------------------------------------------------------

def test_bone_lengths_of_a_hand_made_chain():
    pose = np.zeros((17, 3))
    for j, p in enumerate(H36M.parents):
        if p >= 0:
            pose[j] = pose[p] + [0.0, 0.0, float(j)]   # bone to joint j has length j
    np.testing.assert_allclose(metrics.bone_lengths(pose, H36M), [c for _, c in H36M.bones])


def test_bone_length_rmse_sees_one_lengthened_limb():
    rng = np.random.default_rng(8)
    target = _random_pose(rng, n=10)
    pred = target.copy()
    elbow, wrist = H36M.index("LElbow"), H36M.index("LWrist")
    forearm = target[:, wrist] - target[:, elbow]
    pred[:, wrist] += 10.0 * forearm / np.linalg.norm(forearm, axis=-1, keepdims=True)
    table = metrics.bone_length_rmse(pred, target, H36M)
    assert list(table) == ["lu_arm", "ll_arm", "lu_leg", "ll_leg",
                           "ru_arm", "rl_arm", "ru_leg", "rl_leg", "avg"]
    assert table["ll_arm"] == pytest.approx(10.0)
    for label in table:
        if label not in ("ll_arm", "avg"):
            assert table[label] == pytest.approx(0.0, abs=1e-9)
    assert table["avg"] == pytest.approx(10.0 / 8)


def test_bone_length_rmse_is_a_root_mean_square():
    target = np.zeros((2, 15, 3))
    he = skeleton.HUMANEVA_15
    for j, p in enumerate(he.parents):
        if p >= 0:
            target[:, j] = target[:, p] + [100.0, 0.0, 0.0]
    pred = target.copy()
    knee = he.index("RKnee")
    pred[0, knee:knee + 2] += [30.0, 0.0, 0.0]    # RKnee and RAnkle move: thigh +30 mm
    pred[1, knee:knee + 2] += [40.0, 0.0, 0.0]    # ... and +40 mm
    table = metrics.bone_length_rmse(pred, target, he)
    assert table["ru_leg"] == pytest.approx(math.sqrt((30.0**2 + 40.0**2) / 2))
    assert table["rl_leg"] == pytest.approx(0.0)


# --- PCK / AUC -------------------------------------------------------------------

def test_pck_and_auc_on_known_fractions():
    # A quarter of the joints at each of 0, 60, 149.9 and 150 (not < 150) mm.
    errors = np.repeat([[0.0, 60.0, 149.9, 150.0]], 6, axis=0)
    assert metrics.pck(errors) == pytest.approx(75.0)
    assert metrics.pck(errors, threshold=60.0) == pytest.approx(25.0)
    # Thresholds 0:5:150. PCK at t is 25% for each threshold the 0 mm joint is
    # under (t > 0: 30 of 31), plus 25% where 60 < t (18 of 31), plus 25% at
    # t = 150 for 149.9: (30 + 18 + 1) * 25 / 31.
    assert metrics.auc(errors) == pytest.approx((30 + 18 + 1) * 25.0 / 31)
    np.testing.assert_allclose(metrics.pck_curve(errors, [0.0, 60.0, 61.0, 151.0]),
                               [0.0, 25.0, 50.0, 100.0])
    # All perfect: AUC misses only the t = 0 threshold.
    assert metrics.auc(np.zeros((3, 17))) == pytest.approx(100.0 * 30 / 31)
