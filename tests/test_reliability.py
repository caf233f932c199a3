"""Faults a training run survives: SIGKILL at any moment (inside a checkpoint write
too), a damaged newest checkpoint, a full disk.

The kill test runs a short version of ``docs/kill_trials.py`` (subprocesses);
the others train in-process on ``data.synthetic_frames``.
"""

import errno
import os
import pathlib
import shutil

import numpy as np
import pytest
import tensorflow as tf

from conftest import load_script
from tfpose import checkpointing, data, training
from tfpose.config import ExperimentConfig

REPO = pathlib.Path(__file__).resolve().parents[1]


def _config(**kw) -> ExperimentConfig:
    base = dict(model="baseline", dataset="human36m/sh", epochs=1, batch_size=64, width=32,
                val_stride=0, seed=4, checkpoint_every=5, steps_per_call=5)
    base.update(kw)
    return ExperimentConfig.from_flat(**base)


def _fit(cfg, model_dir, frames, **kw):
    tf.config.experimental.enable_op_determinism()
    return training.fit(cfg, str(model_dir), train_frames=frames, val_frames=None,
                        measure_hardware=False, **kw)


@pytest.fixture(scope="module")
def frames():
    return data.synthetic_frames(1280, "human36m/sh", seed=5)


def _weights(model_dir):
    return [v.numpy() for v in training.restore_task(str(model_dir)).model.weights]


def _checkpoint_weights(prefix):
    """The model variables stored in one checkpoint, read without building a model."""
    reader = tf.train.load_checkpoint(prefix)
    keys = sorted((k for k in reader.get_variable_to_shape_map()
                   if k.startswith("model_variables/")), key=lambda k: int(k.split("/")[1]))
    return [reader.get_tensor(k) for k in keys]


def _step(prefix):
    return int(prefix.rsplit("-", 1)[1])


def test_kill_trials_resume_to_the_uninterrupted_weights(tmp_path):
    """SIGKILL three times (once inside a checkpoint write), resume after each: the
    final weights equal an uninterrupted run's, and no recorded checkpoint was damaged."""
    kill_trials = load_script("docs/kill_trials.py")
    result = kill_trials.run_trial("baseline", kills=3, workdir=str(tmp_path), seed=1,
                                   save_kill_share=1 / 3)
    assert not result["crashes"], result["crashes"]
    assert result["kills"] == 3, result["events"]
    assert result["kills_during_checkpoint_write"] >= 1, result["events"]
    assert result["damaged_checkpoints_skipped"] == 0
    assert result["max_weight_difference"] <= 1e-5
    assert result["passed"]
    # The kills really interrupted the run: some segment ended with unsaved progress.
    assert any(e["killed"] for e in result["events"])


@pytest.fixture(scope="module")
def run_to_15(tmp_path_factory, frames):
    """An uninterrupted run stopped at step 15: checkpoints 5, 10 and 15."""
    model_dir = tmp_path_factory.mktemp("reliability") / "run"
    _fit(_config(), model_dir, frames, max_steps=15)
    return model_dir


def test_a_truncated_newest_checkpoint_falls_back_to_the_previous_one(
        tmp_path, frames, run_to_15, caplog):
    shutil.copytree(run_to_15, tmp_path / "run")
    ckpt_dir = tmp_path / "run" / "ckpt"
    newest, previous = (checkpointing.recorded(str(ckpt_dir)) + [None])[:2]
    assert (_step(newest), _step(previous)) == (15, 10)
    data_file = pathlib.Path(newest + ".data-00000-of-00001")
    data_file.write_bytes(data_file.read_bytes()[: data_file.stat().st_size // 2])

    # Inference loads the previous checkpoint and says which file is bad.
    with caplog.at_level("WARNING"):
        task = training.restore_task(str(tmp_path / "run"), averaged=False)
    assert "ckpt-15.data-00000-of-00001" in caplog.text and "unreadable" in caplog.text
    for got, want in zip([v.numpy() for v in task.model.variables],
                         _checkpoint_weights(previous)):
        np.testing.assert_array_equal(got, want)

    # A resume restarts from step 10 and redoes steps 11-15 exactly.
    caplog.clear()
    with caplog.at_level("WARNING"):
        _fit(_config(), tmp_path / "run", frames, max_steps=15)
    assert f"restored {previous} instead of the newer, unreadable {newest}" in caplog.text
    for a, b in zip(_weights(tmp_path / "run"), _weights(run_to_15)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_no_readable_checkpoint_is_a_clear_error(tmp_path, run_to_15):
    shutil.copytree(run_to_15, tmp_path / "run")
    for index in (tmp_path / "run" / "ckpt").glob("*.index"):
        index.write_bytes(b"garbage")
    with pytest.raises(training.TrainingError, match=r"no readable checkpoint in .*ckpt-15 "
                       r"\(ckpt-15.index: .*ckpt-10 \(ckpt-10.index: .*ckpt-5 \(ckpt-5.index"):
        training.restore_task(str(tmp_path / "run"))


def test_a_full_disk_stops_with_one_line_and_keeps_the_previous_checkpoint(
        tmp_path, frames, run_to_15, monkeypatch):
    real_write = tf.train.Checkpoint._write

    def fills_the_disk_at_step_10(self, file_prefix, *args, **kw):
        if file_prefix.endswith("-10"):
            # What a write cut short leaves behind: TF's temporary shard, half written.
            os.makedirs(file_prefix + "_temp", exist_ok=True)
            with open(os.path.join(file_prefix + "_temp",
                                   "part-00000-of-00001.data-00000-of-00001"), "wb") as f:
                f.write(b"\0" * 64)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, file_prefix, *args, **kw)

    monkeypatch.setattr(tf.train.Checkpoint, "_write", fills_the_disk_at_step_10)
    with pytest.raises(training.TrainingError) as err:
        _fit(_config(), tmp_path, frames)
    message = str(err.value)
    assert "\n" not in message
    assert message == (f"no space left writing checkpoint {tmp_path}/ckpt/ckpt-10 ([Errno 28] "
                       f"No space left on device); the previous checkpoint {tmp_path}/ckpt/"
                       "ckpt-5 is intact")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "checkpoint", "ckpt-5.data-00000-of-00001", "ckpt-5.index"]  # nothing half-written
    monkeypatch.undo()
    for got, want in zip([v.numpy() for v in
                          training.restore_task(str(tmp_path), averaged=False).model.variables],
                         _checkpoint_weights(str(tmp_path / "ckpt" / "ckpt-5"))):
        np.testing.assert_array_equal(got, want)
    # With space again, the run resumes from ckpt-5 and reaches step 15 like an
    # uninterrupted run.
    _fit(_config(), tmp_path, frames, max_steps=15)
    for a, b in zip(_weights(tmp_path), _weights(run_to_15)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def _small_saver(directory):
    variable = tf.Variable(tf.zeros([100]))
    return variable, checkpointing.Saver(tf.train.Checkpoint(v=variable), str(directory))


def test_tensorflows_full_disk_error_is_recognised(tmp_path, monkeypatch):
    """TensorFlow's file writer reports ENOSPC as ResourceExhaustedError (as on a full tmpfs)."""
    _, saver = _small_saver(tmp_path)
    saver.save(1)

    def full(self, file_prefix, *args, **kw):
        raise tf.errors.ResourceExhaustedError(
            None, None, f"{{{{function_node __wrapped__MergeV2Checkpoints}}}} {file_prefix}.index;"
            " No space left on device [Op:MergeV2Checkpoints]")

    monkeypatch.setattr(tf.train.Checkpoint, "_write", full)
    with pytest.raises(checkpointing.CheckpointError, match=(
            rf"^no space left writing checkpoint {tmp_path}/ckpt-2 \({tmp_path}/ckpt-2.index; "
            rf"No space left on device\); the previous checkpoint {tmp_path}/ckpt-1 is intact$")):
        saver.save(2)


@pytest.mark.parametrize("error", [
    tf.errors.PermissionDeniedError(None, None, "/x/ckpt-1.index; Permission denied"),
    tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor"),  # not disk
    OSError(errno.EACCES, "Permission denied"),
], ids=["permission", "out-of-memory", "OSError"])
def test_other_write_errors_are_not_reported_as_a_full_disk(tmp_path, monkeypatch, error):
    _, saver = _small_saver(tmp_path)

    def fails(self, file_prefix, *args, **kw):
        raise error

    monkeypatch.setattr(tf.train.Checkpoint, "_write", fails)
    with pytest.raises(type(error)):
        saver.save(1)
    assert not checkpointing.is_disk_full(error)


def test_a_second_training_in_a_run_directory_is_refused_until_the_first_ends(tmp_path, frames):
    """Two trainings in one model_dir would interleave checkpoints and history: while one
    holds the run (here a process killed with SIGKILL later), another is refused with a
    one-line error naming the holder, and writes nothing; once the holder is gone --
    however it ended -- the run trains and resumes as usual."""
    import signal
    import subprocess
    import sys

    from tfpose import run_lock

    run = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from tfpose import run_lock\n"
         f"with run_lock.hold({str(run)!r}):\n    print('held', flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE, text=True, cwd=str(REPO),
        env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(training.TrainingError,
                           match=rf"being trained by another process \(pid {holder.pid} "):
            _fit(_config(), run, frames, max_steps=5)
        assert sorted(os.listdir(run)) == [run_lock.LOCK_FILE]  # nothing else written
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    _fit(_config(), run, frames, max_steps=5)  # the kernel released the killed holder's lock
    assert (run / "config.json").exists()
    with run_lock.hold(str(run)):  # in-process holders conflict too (flock per open file)
        with pytest.raises(training.TrainingError, match="one training per run directory"):
            _fit(_config(), run, frames, max_steps=10)
    _fit(_config(), run, frames, max_steps=10)
    assert _step(tf.train.latest_checkpoint(str(run / "ckpt"))) == 10
