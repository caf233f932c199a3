"""Flip augmentation, learning-rate schedules, weight averaging, config parts and flags."""

import numpy as np
import pytest
import tensorflow as tf
import keras

from tfpose import augmentation, camera, config, ema, schedules, skeleton


# --- flips --------------------------------------------------------------------

def test_mirror_permutation_swaps_left_and_right_by_name():
    for name in ("h36m17", "h36m16", "humaneva15"):
        skel = skeleton.get(name)
        perm = augmentation.mirror_permutation(name)
        for j, joint in enumerate(skel.joint_names):
            source = skel.joint_names[perm[j]]
            if joint[:1] in "LR" and joint[1:2].isupper():
                assert source == ("R" if joint[0] == "L" else "L") + joint[1:]
            else:
                assert source == joint
        np.testing.assert_array_equal(perm[perm], np.arange(skel.num_joints))  # an involution


def test_flipped_2d_is_the_projection_of_the_flipped_3d():
    """Mirroring 3D in the camera's x = 0 plane and projecting equals mirroring the 2D
    projection about the principal point's column, joint for joint."""
    rng = np.random.default_rng(0)
    pose_3d = rng.normal(0, 300, (5, 17, 3)) + [200.0, -100.0, 4500.0]
    f, c = np.array([1145.0, 1143.8]), np.array([512.5, 515.4])

    def project(p):
        return f * p[..., :2] / p[..., 2:] + c

    perm = augmentation.mirror_permutation("h36m17")
    flipped_3d = augmentation.flip_3d(pose_3d, perm).numpy()
    via_3d = project(flipped_3d)
    via_2d = augmentation.flip_2d(project(pose_3d), np.full(5, c[0]), perm).numpy()
    np.testing.assert_allclose(via_2d, via_3d, atol=1e-3)
    # The left wrist of the mirrored pose is the right wrist of the original, x negated.
    s = skeleton.get("h36m17")
    np.testing.assert_allclose(flipped_3d[:, s.index("LWrist")],
                               pose_3d[:, s.index("RWrist")] * [-1, 1, 1], atol=1e-3)
    # Flipping twice is the identity.
    np.testing.assert_allclose(augmentation.flip_3d(flipped_3d, perm), pose_3d, atol=1e-3)


def test_flip_with_distortion_matches_real_camera_within_a_pixel():
    """With H36M's (small) distortion the mirrored 2D pose still lands within ~1 px."""
    cam = camera.Camera(R=np.eye(3), T=np.zeros(3), f=np.array([1145.0, 1143.8]),
                        c=np.array([512.5, 515.4]), k=np.array([-0.2, 0.24, -0.002]),
                        p=np.array([-0.0007, -0.0013]), id="x", res_w=1000, res_h=1002)
    rng = np.random.default_rng(1)
    pose_3d = rng.normal(0, 300, (20, 17, 3)) + [0.0, 0.0, 5000.0]
    perm = augmentation.mirror_permutation("h36m17")
    via_3d = cam.project(augmentation.flip_3d(pose_3d, perm).numpy())
    via_2d = augmentation.flip_2d(cam.project(pose_3d), cam.c[0], perm).numpy()
    assert np.abs(via_2d - via_3d).max() < 1.5


def test_random_flip_flips_about_half_and_pairs_2d_with_3d():
    rng = np.random.default_rng(2)
    p3 = rng.normal(0, 300, (400, 17, 3)).astype(np.float32) + [0, 0, 5000]
    p2 = (1100 * p3[..., :2] / p3[..., 2:] + 500).astype(np.float32)
    perm = augmentation.mirror_permutation("h36m17")
    out2, out3 = augmentation.random_flip(p2, p3, np.float32(500), perm, perm,
                                          tf.constant([3, 4], tf.int64))
    flipped = ~np.isclose(out3.numpy(), p3).all((1, 2))
    assert 0.4 < flipped.mean() < 0.6
    # Each output pair is still a consistent (2D, 3D) pair.
    np.testing.assert_allclose(out2.numpy(), 1100 * out3.numpy()[..., :2] /
                               out3.numpy()[..., 2:] + 500, atol=1e-2)


# --- schedules ----------------------------------------------------------------

def test_exponential_schedule_equals_keras_exponential_decay():
    ours = schedules.LearningRate(1e-3, "exponential", decay_rate=0.96, decay_steps=100)
    ref = keras.optimizers.schedules.ExponentialDecay(1e-3, 100, 0.96)
    for step in (0, 1, 50, 1000, 12345):
        assert float(ours(step)) == pytest.approx(float(ref(step)), rel=1e-5)


@pytest.mark.parametrize("kind", ["cosine", "linear"])
def test_annealed_schedules_warm_up_peak_and_reach_zero(kind):
    lr = schedules.LearningRate(2e-3, kind, total_steps=1000, warmup_steps=100)
    assert float(lr(0)) == pytest.approx(2e-5)
    assert float(lr(99)) == pytest.approx(2e-3)
    assert float(lr(550)) == pytest.approx(1e-3, rel=1e-4)  # halfway through the decay
    assert float(lr(1000)) == pytest.approx(0.0, abs=1e-12)
    assert float(lr(5000)) == pytest.approx(0.0, abs=1e-12)
    values = [float(lr(s)) for s in range(100, 1001, 50)]
    assert values == sorted(values, reverse=True)
    restarted = schedules.LearningRate(2e-3, kind, total_steps=500, start_step=1000)
    assert float(restarted(1000)) == pytest.approx(2e-3)
    assert float(restarted(1500)) == pytest.approx(0.0, abs=1e-12)
    again = schedules.LearningRate.from_config(lr.get_config())
    assert float(again(300)) == float(lr(300))


@pytest.mark.parametrize("kind", ["cosine", "linear"])
def test_decay_fraction_holds_the_peak_then_decays_over_the_last_part(kind):
    full = schedules.LearningRate(2e-3, kind, total_steps=1000, warmup_steps=100)
    late = schedules.LearningRate(2e-3, kind, total_steps=1000, warmup_steps=100,
                                  decay_fraction=0.25)
    assert float(late(0)) == pytest.approx(2e-5)  # the same warm-up
    for step in (99, 400, 775):  # the peak until the last quarter of the 900 steps
        assert float(late(step)) == pytest.approx(2e-3)
    assert float(late(887.5)) == pytest.approx(1e-3, rel=1e-4)  # halfway through the decay
    # the last 225 steps follow the full schedule's shape, compressed
    assert float(late(775 + 225 * 0.3)) == pytest.approx(float(full(100 + 900 * 0.3)), rel=1e-4)
    assert float(late(1000)) == pytest.approx(0.0, abs=1e-12)
    again = schedules.LearningRate.from_config(late.get_config())
    assert float(again(900)) == float(late(900))
    with pytest.raises(ValueError, match="decay_fraction"):
        schedules.LearningRate(1e-3, kind, total_steps=10, decay_fraction=0.0)
    with pytest.raises(ValueError, match="decay_fraction"):
        config.ExperimentConfig.from_flat(decay_fraction=1.5)


def test_decay_factor_is_the_rate_without_peak_and_warm_up():
    for kind in ("cosine", "linear", "exponential", "constant"):
        lr = schedules.LearningRate(2e-3, kind, total_steps=1000, warmup_steps=100,
                                    decay_rate=0.5, decay_steps=400, decay_fraction=0.5)
        for step in (0, 50, 99, 400, 700, 999, 1000):
            warm = min(1.0, (step + 1) / 100)
            assert float(lr.decay(step)) * 2e-3 * warm == pytest.approx(float(lr(step)),
                                                                        rel=1e-5, abs=1e-12)
    held = schedules.LearningRate(1.0, "linear", total_steps=1000, warmup_steps=100,
                                  decay_fraction=0.5)
    assert float(held.decay(0)) == 1.0 and float(held.decay(550)) == 1.0  # warm-up, held
    assert float(held.decay(1000)) == 0.0


def test_schedule_rejects_bad_settings():
    with pytest.raises(ValueError, match="unknown learning-rate schedule 'step'"):
        schedules.LearningRate(1e-3, "step")
    with pytest.raises(ValueError, match="total_steps .* > warmup_steps"):
        schedules.LearningRate(1e-3, "cosine", total_steps=10, warmup_steps=10)


# --- weight average -----------------------------------------------------------

def test_weight_average_follows_the_warmed_up_decay_and_swaps_back():
    v = tf.Variable([0.0, 0.0])
    step = tf.Variable(3, dtype=tf.int64)  # not floating: not averaged
    avg = ema.WeightAverage([v, step], decay=0.9)
    assert len(avg.averages) == 1
    expected = np.zeros(2)
    for n, value in enumerate([1.0, 2.0, 3.0, 4.0, 5.0]):
        v.assign([value, -value])
        avg.update()
        d = min(0.9, (1 + n) / (10 + n))
        expected = d * expected + (1 - d) * np.array([value, -value])
    np.testing.assert_allclose(avg.averages[0].numpy(), expected, rtol=1e-6)
    with avg.averaged_weights():
        np.testing.assert_allclose(v.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(v.numpy(), [5.0, -5.0])


def test_weight_average_scaled_by_the_rate_freezes_when_the_rate_is_zero():
    v = tf.Variable([0.0])
    plain, scaled = ema.WeightAverage([v], decay=0.5), ema.WeightAverage([v], decay=0.5)
    for value in (1.0, 2.0):  # past the warm-up's first steps, scale 1 = the plain average
        v.assign([value])
        plain.update()
        scaled.update(1.0)
    np.testing.assert_allclose(scaled.averages[0].numpy(), plain.averages[0].numpy())
    before = scaled.averages[0].numpy().copy()
    v.assign([10.0])
    scaled.update(0.0)  # rate 0: the average keeps what it had
    np.testing.assert_allclose(scaled.averages[0].numpy(), before)
    n = float(scaled.updates.numpy())
    d = min(0.5, (1 + n) / (10 + n))
    scaled.update(0.25)  # a quarter of the usual share of the new weights
    np.testing.assert_allclose(scaled.averages[0].numpy(),
                               before + 0.25 * (1 - d) * (10.0 - before), rtol=1e-6)


# --- config parts and flags -----------------------------------------------------

def test_config_round_trips_and_names_its_parts():
    cfg = config.ExperimentConfig.from_flat(model="asn", dataset="human36m/gt", epochs=3,
                                            lr_schedule="cosine", val_subjects=["S8"])
    assert cfg.model.kind == "asn" and cfg.data.val_subjects == ["S8"]
    assert cfg.optimizer.lr_schedule == "cosine" and cfg.trainer.epochs == 3
    assert config.ExperimentConfig.from_dict(cfg.to_dict()) == cfg
    assert sorted(cfg.differences(cfg.replace(epochs=4, flip=True))) == ["epochs", "flip"]
    with pytest.raises(ValueError, match="unknown config field.*colour"):
        config.ExperimentConfig.from_flat(colour="red")
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        config.ExperimentConfig.from_flat(lr_schedule="step")
    with pytest.raises(ValueError, match="unknown dataset 'human36m/cpn'"):
        config.ExperimentConfig.from_flat(dataset="human36m/cpn")
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        config.ExperimentConfig.from_flat(epochs=0)


def test_a_recipe_fills_in_settings_and_given_flags_win():
    cfg = config.ExperimentConfig.from_flat(recipe="fast_cpu", epochs=3)
    assert cfg.trainer.recipe == "fast_cpu" and cfg.optimizer.lr_schedule == "cosine"
    assert cfg.data.flip and cfg.trainer.batch_size == 256 and cfg.trainer.epochs == 3
    assert config.ExperimentConfig.from_flat(recipe="fast_cpu", batch_size=64).trainer \
        .batch_size == 64
    assert config.ExperimentConfig.from_flat(recipe="paper") == config.ExperimentConfig()
    # A stored config round-trips unchanged (the recipe does not re-apply over its values).
    custom = config.ExperimentConfig.from_flat(recipe="fast_cpu", flip=False)
    assert config.ExperimentConfig.from_dict(custom.to_dict()).replace(epochs=5).data.flip \
        is False
    # RepGAN's recipe (chosen on S8): linear decay to 0, weight average, no dropout.
    gan = config.ExperimentConfig.from_flat(model="repgan", recipe="repgan_cpu")
    assert (gan.optimizer.lr_schedule, gan.optimizer.ema_decay, gan.trainer.batch_size,
            gan.model.dropout) == ("linear", 0.999, 128, 0.0)
    # ... is RepGAN's default; --recipe=paper keeps the shared Martinez constants.
    assert config.ExperimentConfig.from_flat(model="repgan", epochs=3) == gan.replace(epochs=3)
    paper_gan = config.ExperimentConfig.from_flat(model="repgan", recipe="paper")
    assert (paper_gan.optimizer.lr_schedule, paper_gan.optimizer.ema_decay,
            paper_gan.trainer.batch_size, paper_gan.model.dropout) == ("exponential", 0.0, 64, 0.5)
    # The supervised models' default stays the papers' constants.
    assert config.ExperimentConfig.from_flat(model="asn").trainer.recipe == "paper"
    assert config.ExperimentConfig.from_flat(model="asn") == \
        config.ExperimentConfig.from_flat(model="asn", recipe="paper")
    with pytest.raises(ValueError, match="recipe must be one of paper, fast_cpu, repgan_cpu"):
        config.ExperimentConfig.from_flat(recipe="gpu")


def test_every_config_field_is_a_flag_of_train_py():
    import subprocess
    import sys

    from conftest import REPO_ROOT

    out = subprocess.run([sys.executable, "train.py", "--helpfull"], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=120).stdout
    for name in config.flag_fields():
        assert f"--{name}" in out or f"--[no]{name}" in out, name
    assert "<baseline|asn|repgan>" in out  # choices come from the code
