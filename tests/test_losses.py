"""Losses: ASN's L1 + L2, Wasserstein terms, gradient penalty, weight clipping
and RepGAN's angle loss (checked on real Human3.6M poses)."""

import pathlib

import numpy as np
import pytest
import tensorflow as tf

from tfpose import losses, skeleton

DATA = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"
H36M = DATA / "h36m"


def test_asn_loss_terms_by_hand():
    s = skeleton.get("h36m17")
    rng = np.random.default_rng(0)
    target = rng.normal(size=(3, 17, 3)).astype(np.float32)
    basic = rng.normal(size=(3, 17, 3)).astype(np.float32)
    refined = rng.normal(size=(3, 17, 3)).astype(np.float32)
    hard = s.hard_joint_mask
    out = losses.asn_loss(target, {"basic": basic, "refined": refined}, hard)
    l1 = ((basic - target) ** 2).mean()
    l2 = ((refined - target)[:, hard == 1] ** 2).mean()
    assert float(out["l1"]) == pytest.approx(l1, rel=1e-5)
    assert float(out["l2"]) == pytest.approx(l2, rel=1e-5)
    assert float(out["total"]) == pytest.approx(l1 + l2, rel=1e-5)

    # Non-hard targets do not enter L2.
    other = target.copy()
    other[:, hard == 0] += 5.0
    assert float(losses.asn_loss(other, {"basic": basic, "refined": refined}, hard)["l2"]) \
        == pytest.approx(l2, rel=1e-6)

    # The root can be excluded (its normalised target is constant).
    keep = np.ones(17, np.float32)
    keep[s.root] = 0
    masked = losses.asn_loss(target, {"basic": basic, "refined": refined}, hard, joint_mask=keep)
    assert float(masked["l1"]) == pytest.approx(((basic - target)[:, 1:] ** 2).mean(), rel=1e-5)
    assert float(masked["l2"]) == pytest.approx(l2, rel=1e-5)  # root is not hard

    basic_only = losses.asn_loss(target, {"basic": basic, "refined": None}, hard)
    assert float(basic_only["l2"]) == 0.0
    assert float(basic_only["total"]) == pytest.approx(l1, rel=1e-5)


def test_wasserstein_terms():
    p_real = tf.constant([[1.0], [3.0]])
    p_fake = tf.constant([[-1.0], [0.0]])
    assert float(losses.wasserstein_critic_loss(p_real, p_fake)) == pytest.approx(-0.5 - 2.0)
    assert float(losses.wasserstein_generator_loss(p_fake)) == pytest.approx(0.5)


def test_gradient_penalty_by_hand():
    rng = np.random.default_rng(1)
    real3, fake3 = (rng.normal(size=(4, 5, 3)).astype(np.float32) for _ in range(2))
    real2, fake2 = (rng.normal(size=(4, 5, 2)).astype(np.float32) for _ in range(2))
    eps = np.array([0.0, 0.25, 0.5, 1.0], np.float32)

    # critic = 0.5 * (||x3||^2 + ||x2||^2) per sample: grad = x_hat.
    def critic(xs):
        return 0.5 * (tf.reduce_sum(xs[0] ** 2, [1, 2]) + tf.reduce_sum(xs[1] ** 2, [1, 2]))
    gp = losses.gradient_penalty(critic, [real3, real2], [fake3, fake2], epsilon=eps)
    e3, e2 = eps[:, None, None], eps[:, None, None]
    h3, h2 = e3 * real3 + (1 - e3) * fake3, e2 * real2 + (1 - e2) * fake2
    norm = np.sqrt((h3 ** 2).sum((1, 2)) + (h2 ** 2).sum((1, 2)))
    assert float(gp) == pytest.approx(((norm - 1) ** 2).mean(), rel=1e-5)

    # A 1-Lipschitz linear critic with unit gradient has zero penalty.
    a = rng.normal(size=(5, 3)).astype(np.float32)
    a /= np.linalg.norm(a)
    gp1 = losses.gradient_penalty(lambda x: tf.reduce_sum(x * a, [1, 2]), real3, fake3)
    assert float(gp1) == pytest.approx(0.0, abs=1e-6)


def test_gradient_penalty_trains_critic_under_xla():
    from tfpose.models import Discriminator
    disc = Discriminator("h36m17", width=32)
    real = [tf.random.normal((6, 17, 3)), tf.random.normal((6, 17, 2))]
    fake = [tf.random.normal((6, 17, 3)), tf.random.normal((6, 17, 2))]
    disc(real)

    @tf.function(jit_compile=True)
    def step(real, fake):
        with tf.GradientTape() as tape:
            gp = losses.gradient_penalty(lambda xs: disc(xs, training=True), real, fake)
        return gp, tape.gradient(gp, disc.trainable_variables)
    gp, grads = step(real, fake)
    assert np.isfinite(float(gp)) and float(gp) > 0
    # Every kernel gets a gradient (biases may not: the input gradient of a
    # piecewise-linear critic does not depend on them).
    kernels = [g for v, g in zip(disc.trainable_variables, grads) if "kernel" in v.path]
    assert len(kernels) == 6  # 3D: 1 + 2 (residual), 2D: 1, KCS: 1, output: 1
    assert all(g is not None and float(tf.reduce_sum(tf.abs(g))) > 0 for g in kernels)


def test_clip_weights():
    from tfpose.models import Discriminator
    disc = Discriminator("humaneva15", width=16, kcs="kcs")
    disc([tf.ones((1, 15, 3)) * 5, tf.ones((1, 15, 2))])
    for v in disc.trainable_weights:
        v.assign(tf.ones_like(v) * 3.0)
    losses.clip_weights(disc, 0.01)
    assert all(float(tf.reduce_max(tf.abs(v))) <= 0.01 + 1e-9 for v in disc.trainable_weights)


def _upright(facing_deg):
    """A toy upright h36m17 pose in a y-down camera frame, turned about -y."""
    s = skeleton.get("h36m17")
    p = np.zeros((17, 3), np.float32)
    # Person facing -z (towards the camera): their left is +x.
    coords = {"Thorax": (0, -50, 0), "Neck/Nose": (0, -60, -10), "Head": (0, -70, 0),
              "LShoulder": (20, -50, 0), "RShoulder": (-20, -50, 0), "Spine": (0, -25, 0)}
    for name, c in coords.items():
        p[s.index(name)] = c
    t = np.deg2rad(facing_deg)
    rot = np.array([[np.cos(t), 0, np.sin(t)], [0, 1, 0], [-np.sin(t), 0, np.cos(t)]], np.float32)
    return p @ rot.T


def test_angle_loss_sign_convention():
    poses = np.stack([_upright(a) for a in range(0, 360, 30)])
    assert float(losses.angle_loss(poses, "h36m17")) == 0.0
    mirrored = poses * np.array([1, 1, -1], np.float32)
    assert float(losses.angle_loss(mirrored, "h36m17")) > 0.5
    # Translation and scale invariant.
    assert float(losses.angle_loss(mirrored * 3 + 7, "h36m17")) == pytest.approx(
        float(losses.angle_loss(mirrored, "h36m17")), rel=1e-5)
    # h36m16 / humaneva15 use Head instead of the nose.
    assert losses._angle_joints(skeleton.get("h36m16"))[0] == skeleton.get("h36m16").index("Head")
    he = skeleton.get("humaneva15")
    assert losses._angle_joints(he)[:2] == (he.index("Head"), he.index("Thorax"))


@pytest.mark.skipif(not (H36M / "cameras.h5").is_file(), reason="../shared/data is missing")
def test_angle_loss_zero_on_real_poses_positive_when_mirrored():
    import h5py
    from tfpose import camera
    cam = camera.load_h36m_cameras(str(H36M / "cameras.h5"))[("S1", "54138969")]
    with h5py.File(H36M / "S1" / "MyPoses" / "3D_positions" / "Walking.h5", "r") as f:
        arr = f["3D_positions"][:]
    frames = arr.shape[1]
    world = arr.T.reshape(frames, 32, 3)[:, list(skeleton.H36M_32_TO_17)]
    pose = cam.world_to_camera(world).astype(np.float32)
    pose -= pose[:, :1]
    per_frame = np.array([float(losses.angle_loss(pose[i:i + 1], "h36m17"))
                          for i in range(0, frames, 50)])
    assert (per_frame == 0).mean() >= 0.98
    assert float(losses.angle_loss(pose, "h36m17")) < 1e-3
    mirrored = pose * np.array([1, 1, -1], np.float32)
    assert float(losses.angle_loss(mirrored, "h36m17")) > 0.3
    # Graph/XLA.
    fn = tf.function(lambda p: losses.angle_loss(p, "h36m17"), jit_compile=True)
    assert float(fn(mirrored)) == pytest.approx(float(losses.angle_loss(mirrored, "h36m17")),
                                                rel=1e-4)
