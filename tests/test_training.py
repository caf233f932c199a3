"""The training loop: resume, refused resumes, NaN, strategies, speed switches, bfloat16,
schedules, weight averaging, flips, validation subjects.

All of these train on ``data.synthetic_frames`` and run in a clone without
``../shared/data``; the end-to-end CLI tests on real frames are in
``test_train_evaluate_real.py``.
"""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfpose import data, training
from tfpose.config import ExperimentConfig

REPO = pathlib.Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}


def _config(**kw) -> ExperimentConfig:
    base = dict(model="baseline", dataset="human36m/sh", epochs=1, batch_size=64, width=32,
                val_stride=0, seed=0)
    base.update(kw)
    return ExperimentConfig.from_flat(**base)


def _fit(cfg, model_dir, frames, **kw):
    return training.fit(cfg, str(model_dir), train_frames=frames,
                        val_frames=kw.pop("val_frames", None), measure_hardware=False, **kw)


@pytest.fixture(scope="module")
def frames_sh():
    return data.synthetic_frames(2400, "human36m/sh", seed=1)


@pytest.fixture(scope="module")
def frames_gt():
    return data.synthetic_frames(2400, "human36m/gt", seed=2)


def _weights(model_dir, averaged=True):
    task = training.restore_task(str(model_dir), averaged=averaged)
    return [v.numpy() for v in task.model.weights]


@pytest.mark.parametrize("model,extra", [
    ("baseline", dict(flip=True, noise_std=3.0)),  # random augmentation is resume-exact too
    ("asn", dict(ema_decay=0.99, lr_schedule="cosine", warmup_steps=5)),
    ("repgan", dict(critic_steps=2, ema_decay=0.9)),
])
def test_resume_after_interruption_matches_uninterrupted(tmp_path, frames_sh, frames_gt,
                                                         model, extra):
    tf.config.experimental.enable_op_determinism()
    dataset = "human36m/gt" if model == "repgan" else "human36m/sh"
    frames = frames_gt if model == "repgan" else frames_sh
    batch = 32 if model == "repgan" else 64  # RepGAN's step takes 2 x 32 rows
    cfg = _config(model=model, dataset=dataset, epochs=2, batch_size=batch, checkpoint_every=20,
                  seed=7, **extra)
    _fit(cfg, tmp_path / "full", frames)
    steps_per_epoch = len(frames) // 64
    assert steps_per_epoch > 30
    # "Killed" after its first checkpoint (step 20) plus a few unsaved steps.
    _fit(cfg, tmp_path / "resumed", frames, max_steps=27)
    ckpts = tf.train.get_checkpoint_state(str(tmp_path / "resumed" / "ckpt"))
    assert ckpts.model_checkpoint_path.endswith("-20")
    at_step_20 = _weights(tmp_path / "resumed", averaged=False)
    _fit(cfg, tmp_path / "resumed", frames)
    for averaged in (True, False):  # the weight average and the raw weights both
        full = _weights(tmp_path / "full", averaged)
        resumed = _weights(tmp_path / "resumed", averaged)
        assert len(full) == len(resumed)
        for a, b in zip(full, resumed):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    if "ema_decay" in extra:  # the average really differs from the last weights
        assert not np.allclose(_weights(tmp_path / "full", True)[0],
                               _weights(tmp_path / "full", False)[0])
    # And the interruption was real: the weights it resumed from differ from the end.
    assert not np.allclose(at_step_20[0], _weights(tmp_path / "full", averaged=False)[0])
    history = training.read_history(str(tmp_path / "resumed"))
    assert set(history) == {"1", "2"} and history["2"]["steps"] == 2 * (len(frames) // 64)
    assert history["2"]["wall_seconds"] >= history["1"]["wall_seconds"] > 0


def test_a_weight_average_that_follows_the_rate_averages_only_while_weights_move(tmp_path,
                                                                                   frames_gt):
    tf.config.experimental.enable_op_determinism()
    # The rate is held, then falls linearly to 0 over the last half of the run.
    cfg = _config(model="repgan", dataset="human36m/gt", batch_size=32, lr_schedule="linear",
                  decay_fraction=0.5, ema_decay=0.9, seed=5)
    _fit(cfg, tmp_path / "plain", frames_gt)
    _fit(cfg.replace(ema_follows_rate=True), tmp_path / "follows", frames_gt)
    raw = _weights(tmp_path / "plain", averaged=False)
    np.testing.assert_allclose(raw[0], _weights(tmp_path / "follows", averaged=False)[0])
    plain, follows = _weights(tmp_path / "plain"), _weights(tmp_path / "follows")
    # The plain average has converged onto the last weights as the rate went to 0; the one
    # that follows the rate kept averaging a stretch where the weights still moved.
    gap = lambda avg: max(np.abs(a - r).max() for a, r in zip(avg, raw))  # noqa: E731
    assert gap(follows) > 2 * gap(plain)


def test_an_earlier_checkpoint_restores_exactly_the_weights_of_that_step(tmp_path, frames_sh):
    """restore_task(checkpoint_step=N): the weights (average and raw) the run had at step N,
    which a copy stopped there restores as its newest; a step the run keeps no checkpoint
    of is a one-line error naming those it keeps."""
    tf.config.experimental.enable_op_determinism()
    cfg = _config(epochs=1, checkpoint_every=20, ema_decay=0.9, seed=3)
    _fit(cfg, tmp_path / "full", frames_sh)
    _fit(cfg, tmp_path / "stopped", frames_sh, max_steps=27)  # newest checkpoint: step 20
    last = len(frames_sh) // 64
    for averaged in (True, False):
        task = training.restore_task(str(tmp_path / "full"), averaged=averaged,
                                     checkpoint_step=20)
        assert task.restored_from.endswith("ckpt-20")
        at_20 = [v.numpy() for v in task.model.weights]
        for a, b in zip(at_20, _weights(tmp_path / "stopped", averaged)):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
        assert not np.allclose(at_20[0], _weights(tmp_path / "full", averaged)[0])
    assert training.restore_task(str(tmp_path / "full")).restored_from.endswith(f"ckpt-{last}")
    with pytest.raises(training.TrainingError,
                       match=rf"keeps no checkpoint 21 \(it keeps 20, {last}\)"):
        training.restore_task(str(tmp_path / "full"), checkpoint_step=21)


def test_a_resume_that_changes_a_setting_is_refused_and_names_it(tmp_path, frames_sh):
    cfg = _config(epochs=1, batch_size=256)
    _fit(cfg, tmp_path, frames_sh, command_line="train.py --epochs=1")
    with pytest.raises(training.TrainingError) as err:
        _fit(cfg.replace(dropout=0.25, learning_rate=3e-4), tmp_path, frames_sh)
    text = str(err.value)
    assert "dropout (stored 0.5, given 0.25)" in text and "learning_rate (stored None" in text
    with pytest.raises(training.TrainingError, match=r"model \(stored 'baseline', given 'asn'\)"):
        _fit(cfg.replace(model="asn"), tmp_path, frames_sh)
    # More epochs under the (default) exponential schedule: applied and recorded.
    _fit(cfg.replace(epochs=2), tmp_path, frames_sh, command_line="train.py --epochs=2")
    stored = json.loads((tmp_path / training.CONFIG_FILE).read_text())
    assert stored["command_line"] == "train.py --epochs=1"
    assert stored["resume_command_lines"] == ["train.py --epochs=2"]
    assert training.read_config(str(tmp_path)).trainer.epochs == 2
    assert set(training.read_history(str(tmp_path))) == {"1", "2"}
    assert len(stored["hardware"]) == 2
    # Resuming the finished run trains nothing and records no segment.
    _fit(cfg.replace(epochs=2), tmp_path, frames_sh, command_line="train.py --epochs=2 again")
    assert json.loads((tmp_path / training.CONFIG_FILE).read_text()) == stored


def test_an_annealed_schedule_is_kept_or_restarted_explicitly(tmp_path, frames_sh):
    cfg = _config(epochs=1, batch_size=256, lr_schedule="cosine")
    steps = len(frames_sh) // 256
    _fit(cfg, tmp_path, frames_sh)
    assert training.read_run(str(tmp_path))["schedule"] == {"total_steps": steps,
                                                            "start_step": 0}
    assert training.read_history(str(tmp_path))["1"]["learning_rate"] < 1e-3 * 0.05
    with pytest.raises(training.TrainingError, match="cosine schedule over 9 steps.*18.*"
                                                     "--restart_schedule"):
        _fit(cfg.replace(epochs=2), tmp_path, frames_sh)
    _fit(cfg.replace(epochs=2), tmp_path, frames_sh, restart_schedule=True)
    assert training.read_run(str(tmp_path))["schedule"] == {"total_steps": steps,
                                                            "start_step": steps}
    task = training.restore_task(str(tmp_path))
    # Restarted at the peak, annealed to ~0 again by the new end.
    assert float(task.lr_schedule(steps)) == pytest.approx(1e-3)
    assert float(task.lr_schedule(2 * steps)) == pytest.approx(0.0, abs=1e-9)


def test_validation_subjects_are_held_out_of_training(tmp_path):
    frames = data.synthetic_frames(1280, "human36m/sh", seed=3, subjects=("S1", "S8"))
    cfg = _config(epochs=1, batch_size=64, val_subjects=["S8"], val_stride=2)
    _fit(cfg, tmp_path / "a", frames)
    entry = training.read_history(str(tmp_path / "a"))["1"]
    assert entry["steps"] == 640 // 64  # only S1's half trained
    assert np.isfinite(entry["val_mpjpe"])
    with pytest.raises(ValueError, match="no frames of subjects S5"):
        _fit(cfg.replace(val_subjects=["S5"]), tmp_path / "b", frames)
    with pytest.raises(ValueError, match="both trained on and held out"):
        _config(subjects=["S1", "S8"], val_subjects=["S8"])


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, frames_sh, monkeypatch):
    # A fault injected into one batch: rows whose first x equals MARK become NaN
    # after normalisation (the statistics stay finite).
    mark = -12345.0
    bad = data.Frames(**{**frames_sh.__dict__})
    bad.pose_2d = frames_sh.pose_2d.copy()
    order = data.epoch_order(len(bad), seed=0, epoch=0)
    bad.pose_2d[order[64 * 12 + 3], 0, 0] = mark  # lands in step 13 of epoch 1
    original = training.SupervisedTask.transform

    def faulty(self, pose_2d, pose_3d, principal_x, seed):
        x, y = original(self, pose_2d, pose_3d, principal_x, seed)
        hit = tf.equal(pose_2d[:, 0, 0], mark)[:, None, None]
        return tf.where(hit, np.nan, x), y

    monkeypatch.setattr(training.SupervisedTask, "transform", faulty)
    cfg = _config(checkpoint_every=10)
    with pytest.raises(training.TrainingError, match=r"non-finite.*first at step 13"):
        _fit(cfg, tmp_path / "nan", bad)
    latest = tf.train.latest_checkpoint(str(tmp_path / "nan" / "ckpt"))
    assert latest.endswith("-10")
    assert all(np.isfinite(w).all() for w in _weights(tmp_path / "nan"))


def test_non_finite_training_data_is_refused(tmp_path, frames_sh):
    bad = data.Frames(**{**frames_sh.__dict__})
    bad.pose_3d = frames_sh.pose_3d.copy()
    bad.pose_3d[5, 3, 1] = np.inf
    with pytest.raises(training.TrainingError, match="1 training frames .*not finite"):
        _fit(_config(), tmp_path / "inf", bad)


def test_history_survives_a_failed_rewrite(tmp_path, frames_sh, monkeypatch):
    """history.json is replaced whole or not at all: a write that dies midway leaves the
    previous file, which the resumed run reads."""
    cfg = _config(epochs=1, batch_size=256)
    _fit(cfg, tmp_path, frames_sh)
    before = (tmp_path / training.HISTORY_FILE).read_text()

    def dies_midway(obj, f, **kw):
        f.write('{"1": {"lo')
        raise OSError("disk full")

    monkeypatch.setattr(json, "dump", dies_midway)
    with pytest.raises(OSError, match="disk full"):
        _fit(cfg.replace(epochs=2), tmp_path, frames_sh)
    monkeypatch.undo()
    assert (tmp_path / training.HISTORY_FILE).read_text() == before
    assert not list(tmp_path.glob("*.tmp"))
    _fit(cfg.replace(epochs=2), tmp_path, frames_sh)
    assert set(training.read_history(str(tmp_path))) == {"1", "2"}


def test_training_keeps_every_max_norm_kernel_within_the_bound(tmp_path, frames_sh):
    # A large learning rate pushes columns past norm 1 on the first updates; the constraint
    # must pull every one back after each step, under the fused and Keras's Adam alike.
    for fused in (True, False):
        _fit(_config(learning_rate=0.5, fused_adam=fused, checkpoint_every=6),
             tmp_path / str(fused), frames_sh, max_steps=6)
        task = training.restore_task(str(tmp_path / str(fused)), averaged=False)
        constrained = [layer.kernel for layer in task.model._flatten_layers()
                       if isinstance(layer, keras.layers.Dense) and layer.kernel_constraint]
        assert len(constrained) >= 5
        norms = np.concatenate([np.linalg.norm(k.numpy(), axis=0) for k in constrained])
        assert norms.max() <= 1 + 1e-5
        assert (norms > 1 - 1e-4).mean() > 0.5  # the bound was reached, i.e. enforced


def test_predict_on_an_empty_batch_keeps_the_output_shape(tmp_path, frames_sh):
    _fit(_config(checkpoint_every=2), tmp_path, frames_sh, max_steps=2)
    task = training.restore_task(str(tmp_path))
    assert training.predict(task, np.zeros((0, 16, 2), np.float32)).shape == (0, 17, 3)


def test_test_time_flip_averages_with_the_mirrored_prediction(tmp_path, frames_sh):
    from tfpose import augmentation

    _fit(_config(flip=True, checkpoint_every=5), tmp_path, frames_sh, max_steps=5)
    task = training.restore_task(str(tmp_path))
    p2, cx = frames_sh.pose_2d[:8], frames_sh.principal_x[:8]
    plain = training.predict(task, p2)
    mirrored_back = augmentation.flip_3d(
        training.predict(task, augmentation.flip_2d(p2, cx, task.mirror_2d).numpy()),
        task.mirror_3d).numpy()
    both = training.predict(task, p2, flip=True, principal_x=cx)
    np.testing.assert_allclose(both, 0.5 * (plain + mirrored_back), atol=1e-4)
    assert not np.allclose(both, plain, atol=1e-3)
    with pytest.raises(ValueError, match="principal point"):
        training.predict(task, p2, flip=True)


def test_repgan_output_is_root_relative_and_critic_steps_count(tmp_path, frames_gt):
    cfg = _config(model="repgan", dataset="human36m/gt", batch_size=32, critic_steps=3,
                  checkpoint_every=4)
    _fit(cfg, tmp_path, frames_gt, max_steps=4)
    task = training.restore_task(str(tmp_path))
    assert int(task.opt_gen.iterations) == 4 and int(task.opt_dis.iterations) == 12
    pred = training.predict(task, frames_gt.pose_2d[:16])
    assert np.all(pred[:, task.skeleton_3d.root] == 0.0)
    assert np.abs(pred[..., 2]).max() > 0  # depth is predicted, not zero


def _one_repgan_step(gan_updates):
    """Weights of (generator, critic) after one step from the same start, no dropout."""
    from tfpose import normalization

    keras.utils.set_random_seed(11)
    cfg = _config(model="repgan", dataset="human36m/gt", width=16, dropout=0.0,
                  gan_updates=gan_updates)
    task = training.make_task(cfg, normalization.RootScaleNormalizer(),
                              tf.distribute.get_strategy())
    rng = np.random.default_rng(0)
    x2d, real_2d = (tf.constant(rng.normal(size=(16, 17, 2)), tf.float32) for _ in range(2))
    real_3d = tf.constant(rng.normal(size=(16, 17, 3)), tf.float32)
    task.train_step(x2d, real_3d, real_2d)
    return ([v.numpy() for v in task.model.generator.trainable_variables],
            [v.numpy() for v in task.model.discriminator.trainable_variables])


def test_alternating_updates_move_the_generator_against_the_updated_critic():
    """Both orders update the critic alike; only alternating lets the generator
    see the critic's new weights, so the generators differ after one step."""
    gen_alt, dis_alt = _one_repgan_step("alternating")
    gen_sim, dis_sim = _one_repgan_step("simultaneous")
    for a, b in zip(dis_alt, dis_sim):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(gen_alt, gen_sim))


@pytest.mark.parametrize("shared", [True, False])
def test_alternating_step_runs_the_generator_once_and_equals_two_separate_updates(shared):
    """The critic update and the generator update share one forward pass of the
    generator (``--noshared_generator_pass``: a pass each, as runs before
    2026-12-07 trained); either way the weights equal a critic update on its own
    forward pass followed by the generator/reprojector update on another (no
    dropout: the two passes are the same poses)."""
    from tfpose import normalization

    def make():
        keras.utils.set_random_seed(11)
        cfg = _config(model="repgan", dataset="human36m/gt", width=16, dropout=0.0,
                      shared_generator_pass=shared)
        return training.make_task(cfg, normalization.RootScaleNormalizer(),
                                  tf.distribute.get_strategy())

    rng = np.random.default_rng(0)
    x2d, real_2d = (tf.constant(rng.normal(size=(16, 17, 2)), tf.float32) for _ in range(2))
    real_3d = tf.constant(rng.normal(size=(16, 17, 3)), tf.float32)
    task = make()
    calls = []
    generator_call = task.model.generator.call
    task.model.generator.call = lambda *a, **k: calls.append(1) or generator_call(*a, **k)
    task.train_step(x2d, real_3d, real_2d)
    assert len(calls) == (1 if shared else 2)

    ref = make()  # the same start; the two updates done one after the other
    ref._critic_only_update(x2d, real_3d, real_2d)
    with tf.GradientTape(persistent=True) as tape:
        fake_3d, fake_2d = ref._fakes(x2d, training_reprojector=True)
        p_fake = ref.model.discriminator([fake_3d, fake_2d], training=True)
        l_gen, l_rep, _ = ref._generator_losses(real_3d, real_2d, p_fake, fake_3d)
    ref._apply(tape, (l_gen, l_rep), (ref.model.generator, ref.model.reprojector),
               (ref.opt_gen, ref.opt_rep))
    for net in ("generator", "reprojector", "discriminator"):
        for a, b in zip(getattr(task.model, net).trainable_variables,
                        getattr(ref.model, net).trainable_variables):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6,
                                       err_msg=f"{net} {a.name}")


def test_runs_stored_before_the_shared_generator_pass_resume_with_two_passes():
    """A RepGAN config stored before the shared pass existed reads back as two passes,
    so a resumed run keeps its update rule; a new config shares the pass."""
    cfg = ExperimentConfig.from_flat(model="repgan", dataset="human36m/gt")
    assert cfg.model.shared_generator_pass
    old = cfg.to_dict()
    del old["model"]["shared_generator_pass"]
    assert not ExperimentConfig.from_dict(old).model.shared_generator_pass
    assert ExperimentConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("synchronous", [False, True])
def test_a_separate_reprojector_learns_from_real_pairs_only(synchronous):
    """--nosynchronous (Table 5's Sep): the reprojector's update is Adam on the MSE of
    its 2D for the real 3D poses; synchronous, it follows the critic instead. Adam's
    first step with beta1 = 0 moves every weight against the sign of its gradient."""
    from tfpose import normalization

    keras.utils.set_random_seed(11)
    cfg = _config(model="repgan", dataset="human36m/gt", width=16, dropout=0.0,
                  max_norm=False, synchronous=synchronous)  # max-norm would rescale the step
    task = training.make_task(cfg, normalization.RootScaleNormalizer(),
                              tf.distribute.get_strategy())
    rng = np.random.default_rng(0)
    x2d, real_2d = (tf.constant(rng.normal(size=(16, 17, 2)), tf.float32) for _ in range(2))
    real_3d = tf.constant(rng.normal(size=(16, 17, 3)), tf.float32)
    rep = task.model.reprojector
    before = [v.numpy() for v in rep.trainable_variables]
    with tf.GradientTape() as tape:
        mse = tf.reduce_mean(tf.square(rep(real_3d, training=True) - real_2d))
    grads = [g.numpy() for g in tape.gradient(mse, rep.trainable_variables)]
    task.train_step(x2d, real_3d, real_2d)
    moved = np.concatenate([(v.numpy() - b).ravel()
                            for v, b in zip(rep.trainable_variables, before)])
    g = np.concatenate([x.ravel() for x in grads])
    big = np.abs(g) > 1e-5
    agree = np.mean(np.sign(moved[big]) == -np.sign(g[big]))
    if synchronous:
        assert agree < 0.8
    else:
        assert agree > 0.99


def test_angle_weight_defaults_follow_the_skeleton():
    from tfpose import normalization

    def weight(**kw):
        cfg = _config(model="repgan", width=8, **kw)
        return training.make_task(cfg, normalization.RootScaleNormalizer(),
                                  tf.distribute.get_strategy()).angle_weight

    assert weight(dataset="human36m/gt") == 1.0 and weight(dataset="human36m/sh") == 0.0
    assert weight(dataset="human36m/sh", lambda_angle=0.5) == 0.5


MIRRORED_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    tf.config.experimental.enable_op_determinism()
    from tfpose import data, training
    from tfpose.config import ExperimentConfig
    dataset = "human36m/gt" if sys.argv[1] == "repgan" else "human36m/sh"
    frames = data.synthetic_frames(640, dataset, seed=0)
    out = {}
    for name in ("default", "mirrored"):
        strategy = (tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]) if name == "mirrored"
                    else tf.distribute.get_strategy())
        cfg = ExperimentConfig.from_flat(model=sys.argv[1], dataset=dataset, epochs=1,
                                         batch_size=64, width=64, dropout=0.0, val_stride=0,
                                         seed=3, ema_decay=0.9)
        d = sys.argv[2] + "/" + name
        training.fit(cfg, d, strategy=strategy, train_frames=frames, val_frames=None,
                     measure_hardware=False)
        task = training.restore_task(d)
        out[name] = training.predict(task, frames.pose_2d[:50]).tolist()
        out[name + "_replicas"] = strategy.num_replicas_in_sync
    print("RESULT" + json.dumps(out))
""")


@pytest.mark.parametrize("model", ["asn", "repgan"])
def test_mirrored_strategy_matches_single_device(tmp_path, model):
    proc = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT, model, str(tmp_path)],
                          cwd=REPO, env=ENV, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-5000:]
    out = json.loads(proc.stdout.split("RESULT", 1)[1])
    assert out["mirrored_replicas"] == 2 and out["default_replicas"] == 1
    a, b = np.array(out["default"]), np.array(out["mirrored"])
    scale = np.abs(a).mean()
    # The GAN's coupled optimisers amplify the rounding of cross-replica sums.
    tolerance = 3e-3 if model == "repgan" else 1e-3
    assert np.abs(a - b).max() < tolerance * max(scale, 1.0), np.abs(a - b).max()


@pytest.mark.parametrize("model", ["baseline", "repgan"])
def test_speed_switches_keep_the_numerics(tmp_path, frames_sh, frames_gt, model):
    """Several steps per call and XLA change speed, not results (within tolerance)."""
    tf.config.experimental.enable_op_determinism()
    dataset = "human36m/gt" if model == "repgan" else "human36m/sh"
    frames = frames_gt if model == "repgan" else frames_sh
    results = {}
    runs = {"plain": dict(steps_per_call=1), "multi": dict(steps_per_call=7),
            "xla": dict(steps_per_call=7, jit_compile=True),
            "one_step_less": dict(steps_per_call=1, max_steps=20)}
    for name, kw in runs.items():
        max_steps = kw.pop("max_steps", 21)
        # One checkpoint, at the step the run stops (a stop at max_steps saves nothing more).
        cfg = _config(model=model, dataset=dataset, seed=5, dropout=0.0,
                      checkpoint_every=max_steps, **kw)
        _fit(cfg, tmp_path / name, frames, max_steps=max_steps)
        results[name] = training.predict(training.restore_task(str(tmp_path / name)),
                                         frames.pose_2d[:64])
    scale = np.abs(results["plain"]).mean()
    # A regression stays equal to float rounding; the GAN's three coupled
    # optimisers (Adam with beta1 = 0) amplify rounding differences of the
    # loop's graph, so it gets a looser bound -- still below what one step
    # more or less changes (back-projection divides by each pose's size, which
    # amplifies it a little more).
    tight, loose = (1e-5, 3e-3) if model == "baseline" else (1e-2, 2e-2)
    np.testing.assert_allclose(results["multi"], results["plain"], atol=tight * scale)
    np.testing.assert_allclose(results["xla"], results["plain"], atol=loose * scale)
    worst = max(np.abs(results[k] - results["plain"]).max() for k in ("multi", "xla"))
    assert np.abs(results["one_step_less"] - results["plain"]).max() > 2 * worst


@pytest.mark.parametrize("model", ["baseline", "asn", "repgan"])
def test_bfloat16_mixed_precision_trains_close_to_float32(tmp_path, frames_sh, frames_gt, model):
    """--mixed_precision=bfloat16: trunks compute in bfloat16, variables, heads and
    losses stay float32; after 21 steps the weights match a float32 run to
    bfloat16 rounding, and the model directory restores in float32."""
    dataset = "human36m/gt" if model == "repgan" else "human36m/sh"
    frames = frames_gt if model == "repgan" else frames_sh
    results = {}
    for mode in ("none", "bfloat16"):
        cfg = _config(model=model, dataset=dataset, seed=5, dropout=0.0, checkpoint_every=21,
                      steps_per_call=7, mixed_precision=mode)
        _fit(cfg, tmp_path / mode, frames, max_steps=21)
        results[mode] = training.predict(training.restore_task(str(tmp_path / mode)),
                                         frames.pose_2d[:64])

    def trunk_and_head(task):
        m = task.model.generator if model == "repgan" else task.model
        return m.trunk, (m.basic_output if model == "asn" else m.output_dense)

    trunk, head = trunk_and_head(
        training.restore_task(str(tmp_path / "bfloat16"), mixed_precision="bfloat16"))
    assert trunk.input_block.dense.compute_dtype == "bfloat16"
    assert head.compute_dtype == "float32"
    restored = training.restore_task(str(tmp_path / "bfloat16"))
    assert all(v.dtype == "float32" for v in restored.model.variables if v.dtype != "int64"
               and "seed" not in v.path)
    assert trunk_and_head(restored)[0].input_block.dense.compute_dtype == "float32"
    scale = np.abs(results["none"]).mean()
    diff = np.abs(results["bfloat16"] - results["none"]).mean()
    assert diff > 0  # bfloat16 really ran
    assert diff < 0.05 * scale, (diff, scale)


def test_auto_precision_is_probed_once_and_kept_for_the_run(tmp_path, frames_sh, monkeypatch):
    from tfpose import precision

    rates = {"none": 100.0, "bfloat16": 180.0}
    monkeypatch.setattr(precision, "probe", lambda *a, **k: dict(rates))
    cfg = _config(mixed_precision="auto", checkpoint_every=2)
    _fit(cfg, tmp_path, frames_sh, max_steps=2)
    chosen = training.read_run(str(tmp_path))["mixed_precision"]
    assert chosen["chosen"] == "bfloat16" and chosen["samples_per_second"] == rates
    rates.update({"none": 300.0})  # the machine now looks different: the run keeps its choice
    _fit(cfg, tmp_path, frames_sh, max_steps=4)
    assert training.read_run(str(tmp_path))["mixed_precision"]["chosen"] == "bfloat16"
    _fit(cfg, tmp_path / "other", frames_sh, max_steps=2)  # a new run probes afresh
    assert training.read_run(str(tmp_path / "other"))["mixed_precision"]["chosen"] == "none"


def test_repgan_trains_with_flips(tmp_path, frames_gt):
    """Flip augmentation mirrors RepGAN's root-centred inputs and real pairs alike (here
    paired real samples; the other RepGAN tests train with independent ones)."""
    cfg = _config(model="repgan", dataset="human36m/gt", batch_size=32, flip=True,
                  checkpoint_every=3, real_samples="paired", critic_steps=2)
    logs = _fit(cfg, tmp_path, frames_gt, max_steps=3)
    assert np.isfinite(list(logs.values())).all()


@pytest.mark.parametrize("flip", [False, True])
def test_paired_real_samples_are_the_generator_inputs_own_frames(frames_gt, flip):
    """--real_samples=paired: each real (3D, 2D) pair is the generator input's own frame,
    flipped with it; independent pairs come from other frames."""
    from tfpose import normalization

    def first_batch(real_samples):
        cfg = _config(model="repgan", dataset="human36m/gt", batch_size=32, flip=flip,
                      real_samples=real_samples)
        norm = normalization.create("root_scale", frames_gt.pose_2d, frames_gt.pose_3d, root=0)
        task = training.make_task(cfg, norm, tf.distribute.get_strategy())
        columns, independent = task.columns(frames_gt)
        ds = data.training_dataset(columns, task.transform, 32, 0, 0, independent=independent)
        return [t.numpy() for t in next(iter(ds))]

    x2d, real_3d, real_2d = first_batch("paired")
    np.testing.assert_allclose(real_2d, x2d, atol=1e-6)
    # The 3D pair is the same frame: its normalised x, y is its own normalised 2D projection
    # up to perspective, far closer than another frame's.
    other = np.roll(real_3d, 1, axis=0)
    own = np.abs(real_3d[..., :2] - x2d).mean(axis=(1, 2))
    assert (own < np.abs(other[..., :2] - x2d).mean(axis=(1, 2))).mean() > 0.9
    x2d_i, _, real_2d_i = first_batch("independent")
    np.testing.assert_allclose(x2d_i, x2d, atol=1e-6)  # same generator inputs, other reals
    assert np.abs(real_2d_i - x2d_i).max() > 0.1


# The synthetic frames' pinhole camera (data.synthetic_frames).
SYNTHETIC_FOCAL, SYNTHETIC_CENTRE = 1150.0, (500.0, 500.0)


def _ray_depth(pose_3d, rays):
    """Each joint's depth relative to the root in units of the root's depth times the
    2D pose's size in ray units: the depth that back-projects exactly."""
    rel = rays - rays[:, :1]
    k = np.linalg.norm(rel, axis=-1).sum(-1) / (rays.shape[1] - 1)
    z = pose_3d[..., 2]
    return (z - z[:, :1]) / (z[:, :1] * k[:, None])


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("geometry", ["backproject", "backproject_hybrid", "hybrid"])
def test_a_generator_with_the_true_depth_makes_exactly_the_real_pose(frames_gt, flip, geometry):
    """The critic's real 3D poses are what a generator that predicts each frame's true
    depth would make, so only depth tells fakes from reals: with back-projection the
    real pose is the camera-frame pose itself; with the hybrid geometries it is built like
    a fake from its own 2D (rays, for backproject_hybrid). (The old mismatched geometry's
    camera-frame reals differ from every hybrid fake in x-y by perspective, which no depth
    can change.)"""
    from tfpose import normalization

    def first_batch(geometry):
        cfg = _config(model="repgan", dataset="human36m/gt", batch_size=32, flip=flip,
                      real_samples="paired", geometry=geometry, width=16)
        norm = (normalization.CameraRaysNormalizer(SYNTHETIC_FOCAL, SYNTHETIC_CENTRE)
                if geometry.startswith("backproject") else normalization.RootScaleNormalizer())
        task = training.make_task(cfg, norm, tf.distribute.get_strategy())
        columns, independent = task.columns(frames_gt)
        ds = data.training_dataset(columns, task.transform, 32, 0, 0, independent=independent)
        return task, [t.numpy() for t in next(iter(ds))]

    task, (x2d, real_3d, real_2d) = first_batch(geometry)
    _, (x2d_m, camera, _) = first_batch("mismatched")  # camera-frame reals, root-scaled 2D
    assert task.model.geometry == geometry
    np.testing.assert_allclose(task.model.generator_input(x2d), x2d_m, atol=1e-5)
    np.testing.assert_allclose(real_2d, x2d_m, atol=1e-5)  # the critic's 2D: root-scaled
    if geometry == "backproject":
        np.testing.assert_allclose(real_3d, camera, atol=1e-6)
        # The rays and the camera-frame pose give the true depth in ray units: the scale
        # of the normalised pose is the root depth times the 2D size, found by iterating.
        depth = camera[..., 2]
        for _ in range(30):  # made_z = depth / size(depth): solve depth = camera_z * size
            made = task.model.pose_from(x2d, depth).numpy()
            size = np.abs(depth).sum(-1) / np.abs(made[..., 2]).sum(-1)
            depth = camera[..., 2] * size[:, None]
        made = task.model.pose_from(x2d, depth).numpy()
        np.testing.assert_allclose(made, camera, atol=1e-4)
    elif geometry == "backproject_hybrid":
        # Built by back-projecting its own rays with its normalised depth: exactly what a
        # generator answering that depth makes, and near the camera-frame pose (the
        # normalised depth is the ray depth up to perspective), not equal to it.
        made = task.model.pose_from(x2d, camera[..., 2]).numpy()
        np.testing.assert_allclose(made, real_3d, atol=1e-6)
        gap = np.abs(real_3d - camera).max(axis=(1, 2))
        assert 0 < gap.mean() < 0.1 * np.abs(camera).mean()
    else:
        np.testing.assert_array_equal(real_3d[..., :2], real_2d)
        np.testing.assert_array_equal(real_3d[..., 2], camera[..., 2])
        made = task.model.pose_from(x2d, camera[..., 2]).numpy()
        np.testing.assert_allclose(made, real_3d, atol=1e-5)
    np.testing.assert_array_equal(made[:, 0], 0.0)
    # Perspective: x-y copied from the 2D is measurably not the camera-frame x-y.
    assert np.abs(camera[..., :2] - real_2d).mean() > 0.02


def test_backprojection_with_the_true_depth_recovers_the_camera_frame_pose(frames_gt):
    """Back-projecting the true depth along the rays gives the camera-frame pose exactly,
    where copying the 2D x-y beside the true depth misses by perspective (N-MPJPE, mm)."""
    from tfpose import metrics, normalization
    from tfpose.models.repgan import backproject, pose_from_depth

    n = normalization.RootScaleNormalizer()
    rays = normalization.CameraRaysNormalizer(SYNTHETIC_FOCAL, SYNTHETIC_CENTRE)
    r = rays.normalize_2d(frames_gt.pose_2d).numpy()
    gt_mm = frames_gt.pose_3d - frames_gt.pose_3d[:, :1]
    back = backproject(r, _ray_depth(frames_gt.pose_3d, r), 0).numpy()
    true_z = n.normalize_3d(frames_gt.pose_3d).numpy()[..., 2]
    copied = pose_from_depth(n.normalize_2d(frames_gt.pose_2d), true_z, 0).numpy()
    np.testing.assert_allclose(back, n.normalize_3d(frames_gt.pose_3d).numpy(), atol=1e-4)
    assert metrics.n_mpjpe(back, gt_mm) < 0.05 and metrics.n_mpjpe(copied, gt_mm) > 5.0


def test_runs_stored_before_the_geometry_switch_resume_as_they_trained():
    """A config stored before --geometry existed reads back as the behaviour it trained
    with (mismatched); a new config leaves it to the dataset (back-projection on
    Human3.6M, which has a focal length; hybrid on HumanEva, which has none)."""
    from tfpose.models import registry

    cfg = ExperimentConfig.from_flat(model="repgan", dataset="human36m/gt")
    assert cfg.model.geometry is None
    assert registry.repgan_geometry(cfg.model, "human36m/gt") == "backproject"
    assert registry.repgan_geometry(cfg.model, "humaneva/gt") == "hybrid"
    for geometry in ("backproject", "backproject_hybrid"):
        with pytest.raises(ValueError, match=f"--geometry={geometry} needs the camera's focal"):
            registry.repgan_geometry(cfg.replace(geometry=geometry).model, "humaneva/gt")
    old = cfg.to_dict()
    del old["model"]["geometry"]
    assert ExperimentConfig.from_dict(old).model.geometry == "mismatched"
    assert ExperimentConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="geometry"):
        ExperimentConfig.from_flat(model="repgan", geometry="orthographic")
