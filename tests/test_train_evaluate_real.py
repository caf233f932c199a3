"""train.py / evaluate.py end to end on small slices of the real Human3.6M data (skipped
without ``../shared/data``); the loop itself is tested on synthetic frames in
``test_training.py``."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from tfpose import data

REPO = pathlib.Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}


def _run(args, check=True):
    proc = subprocess.run([sys.executable, *args], cwd=REPO, env=ENV, capture_output=True,
                          text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-5000:]}")
    return proc


@pytest.mark.parametrize("model,dataset,extra", [
    ("baseline", "human36m/sh", []),
    ("asn", "human36m/sh", []),
    # A GAN needs more steps than a regression to learn depth: 4x the frames.
    ("repgan", "human36m/gt", ["--learning_rate=2e-4", "--frame_stride=12"]),
])
def test_train_then_evaluate_end_to_end(tmp_path, tfds_data_dir, model, dataset, extra):
    model_dir = tmp_path / model
    common = [f"--data_dir={tfds_data_dir}", f"--model_dir={model_dir}"]
    _run(["train.py", f"--model={model}", f"--dataset={dataset}", "--subjects=S1",
          "--frame_stride=50", "--epochs=2", "--width=256", "--val_stride=20",
          "--checkpoint_every=100", *common, *extra])
    history = json.loads((model_dir / "history.json").read_text())
    assert set(history) == {"1", "2"}
    cfg = json.loads((model_dir / "config.json").read_text())
    assert cfg["model_kind"] == model and cfg["dataset"] == dataset
    proc = _run(["evaluate.py", *common, "--frame_stride=20"])
    assert "Direct" in proc.stdout and "protocol1" in proc.stdout
    res = json.loads((model_dir / "results.json").read_text())
    p1 = res["protocols"]["protocol1"]["per_action"]
    p2 = res["protocols"]["protocol2"]["per_action"]
    assert len(p1) == 16 and res["subjects"] == ["S11", "S9"]
    assert res["command_line"] and res["train_config"]["model"]["kind"] == model
    assert res["train_command_line"].startswith("train.py --model=" + model)
    for table in (p1, p2):
        assert all(np.isfinite(v) and 0 < v < 400 for v in table.values())
    assert p2["Avg"] < p1["Avg"]  # alignment can only help
    if model == "baseline":  # the export evaluates to the same numbers, per runtime
        from tfpose import export

        export_dir = export.export_model_dir(str(model_dir), str(tmp_path / "export"))
        for backend, tol in (("saved_model", 1e-3), ("tflite_int8", 0.05)):
            out = tmp_path / f"results_{backend}.json"
            _run(["evaluate.py", f"--data_dir={tfds_data_dir}", f"--saved_model={export_dir}",
                  f"--backend={backend}", "--frame_stride=20", f"--output={out}"])
            got = json.loads(out.read_text())
            assert got["backend"] == backend
            avg = got["protocols"]["protocol1"]["per_action"]["Avg"]
            assert abs(avg - p1["Avg"]) <= tol * p1["Avg"], (backend, avg, p1["Avg"])
    training_block = res["training"]
    assert training_block["steps"] == history["2"]["steps"] > 0
    assert training_block["wall_seconds"] > 0 and training_block["hardware"][0]["cores"] >= 1
    assert training_block["hardware"][0]["matmul_float32_gflops"] > 0
    assert res["per_joint"]["Hip"] == 0.0  # root-relative output (RepGAN included)
    assert res["hard_joints"] > res["other_joints"]
    assert 0 < res["pck150"] <= 100
    if model == "repgan":
        losses = [history[e]["wasserstein"] for e in ("1", "2")]
        assert all(np.isfinite(losses))
        # Depth was learnt: better than lifting every joint to the root's depth.
        assert history["2"]["val_n_mpjpe"] < _flat_pose_n_mpjpe(tfds_data_dir)
        assert "z_only" in res
    else:
        assert history["2"]["loss"] < history["1"]["loss"]
        assert history["2"]["val_mpjpe"] < history["1"]["val_mpjpe"]
        # Far better than always answering the training split's mean pose.
        assert p1["Avg"] < 0.85 * _mean_pose_mpjpe(tfds_data_dir)


def _mean_pose_mpjpe(data_dir):
    from tfpose import metrics

    train = data.load_frames("human36m/sh", "train", data_dir=str(data_dir), subjects=["S1"],
                             frame_stride=50)
    test = data.load_frames("human36m/sh", "test", data_dir=str(data_dir), frame_stride=20)
    mean = (train.pose_3d - train.pose_3d[:, :1]).mean(0)
    target = test.pose_3d - test.pose_3d[:, :1]
    return metrics.mpjpe(np.broadcast_to(mean, target.shape), target)


def _flat_pose_n_mpjpe(data_dir):
    from tfpose import metrics, normalization

    frames = data.load_frames("human36m/gt", "test", data_dir=str(data_dir), frame_stride=20)
    norm = normalization.RootScaleNormalizer()
    flat = norm.normalize_2d(frames.pose_2d).numpy()
    flat = np.concatenate([flat, np.zeros_like(flat[..., :1])], -1)
    target = frames.pose_3d - frames.pose_3d[:, :1]
    return metrics.n_mpjpe(flat, target)


def test_cli_rejects_bad_input_and_tests_on_a_superset_of_joints(tmp_path, tfds_data_dir):
    proc = _run(["train.py", "--model=posenet", f"--model_dir={tmp_path}/x"], check=False)
    assert proc.returncode != 0 and "posenet" in proc.stderr
    proc = _run(["train.py", "--dataset=human36m/cpn", f"--model_dir={tmp_path}/x"], check=False)
    assert proc.returncode != 0 and "human36m/cpn" in proc.stderr
    # A 16-joint (SH) model evaluated on the 17-joint ground-truth dataset.
    model_dir = tmp_path / "sh"
    _run(["train.py", "--model=baseline", "--dataset=human36m/sh", "--subjects=S1",
          "--frame_stride=200", "--epochs=1", "--width=32", "--val_stride=0",
          f"--data_dir={tfds_data_dir}", f"--model_dir={model_dir}"])
    proc = _run(["evaluate.py", f"--model_dir={model_dir}", "--dataset=humaneva/gt",
                 f"--data_dir={tfds_data_dir}"], check=False)
    assert proc.returncode != 0 and "16 input joints" in proc.stderr and "15" in proc.stderr
    assert "without Hip, RFoot, LFoot, Spine" in proc.stderr  # the H36M joints HumanEva lacks
    # ... but the same model can be tested on ground-truth 2D of its 16 joints (RepGAN's SH-GT).
    out = tmp_path / "sh_gt.json"
    _run(["evaluate.py", f"--model_dir={model_dir}", "--dataset=human36m/gt",
          f"--data_dir={tfds_data_dir}", "--frame_stride=100", f"--output={out}"])
    res = json.loads(out.read_text())
    assert res["trained_on"] == "human36m/sh" and res["dataset"] == "human36m/gt"
    assert len(res["per_joint"]) == 17 and np.isfinite(res["protocols"]["protocol1"]
                                                       ["per_action"]["Avg"])


def test_evaluate_tests_on_the_held_out_validation_subject_only(tmp_path, tfds_data_dir):
    """--validation: every protocol on the run's --val_subjects (where recipes are
    chosen), from the training split; refused for subjects the run trained on."""
    model_dir = tmp_path / "val"
    common = [f"--data_dir={tfds_data_dir}", f"--model_dir={model_dir}"]
    _run(["train.py", "--model=baseline", "--dataset=human36m/gt", "--subjects=S1",
          "--val_subjects=S5", "--frame_stride=200", "--epochs=1", "--width=32",
          "--val_stride=100", *common])
    proc = _run(["evaluate.py", "--validation", "--frame_stride=50", *common])
    assert "held-out validation subjects S5" in proc.stdout
    res = json.loads((model_dir / "results_validation.json").read_text())
    assert res["subjects"] == ["S5"] and res["split"] == "train" and res["validation"]
    assert not (model_dir / "results.json").exists()  # the test-split file is not touched
    s5 = data.load_frames("human36m/gt", "train", data_dir=str(tfds_data_dir),
                          subjects=["S5"], frame_stride=50)
    assert set(res["protocols"]["protocol1"]["per_action"]) - {"Avg"} == set(s5.action)
    # An export of the run knows its held-out subject too, and keeps its own results.json.
    from tfpose import export

    export_dir = export.export_model_dir(str(model_dir), str(tmp_path / "export"))
    _run(["evaluate.py", "--validation", "--frame_stride=50", f"--saved_model={export_dir}",
          f"--data_dir={tfds_data_dir}"])
    assert json.loads((tmp_path / "export" / "results_validation.json").read_text())[
        "subjects"] == ["S5"]
    assert not (tmp_path / "export" / "results.json").exists()
    proc = _run(["evaluate.py", "--validation", "--subjects=S1", *common], check=False)
    assert proc.returncode != 0 and "S1: not held out" in proc.stderr and "only S5" in proc.stderr
    plain = tmp_path / "plain"
    _run(["train.py", "--model=baseline", "--dataset=human36m/gt", "--subjects=S1",
          "--frame_stride=400", "--epochs=1", "--width=32", "--val_stride=0",
          f"--data_dir={tfds_data_dir}", f"--model_dir={plain}"])
    proc = _run(["evaluate.py", "--validation", f"--model_dir={plain}",
                 f"--data_dir={tfds_data_dir}"], check=False)
    assert proc.returncode != 0 and "without --val_subjects" in proc.stderr


def test_evaluate_an_earlier_checkpoint_or_the_raw_weights_into_files_of_their_own(
        tmp_path, tfds_data_dir):
    """--checkpoint=N evaluates the weights of step N, --noweight_average a run's raw weights;
    each result says which weights it measured and goes to its own file, so the run's
    results.json (its last weights, its weight average) is never overwritten."""
    from tfpose import evaluation, training
    from tfpose.config import ExperimentConfig

    model_dir = str(tmp_path / "run")
    cfg = ExperimentConfig.from_flat(model="baseline", dataset="human36m/gt", epochs=2,
                                     batch_size=64, width=32, val_stride=0, seed=0,
                                     checkpoint_every=10, ema_decay=0.9)
    frames = data.synthetic_frames(1280, "human36m/gt", seed=4)  # 20 steps per epoch
    training.fit(cfg, model_dir, train_frames=frames, val_frames=None, measure_hardware=False)
    common = dict(model_dir=model_dir, data_dir=str(tfds_data_dir), subjects=["S9"],
                  frame_stride=200)
    last, _ = evaluation.run(**common)
    mid, _ = evaluation.run(**common, checkpoint=30)
    end_of_epoch_1, _ = evaluation.run(**common, checkpoint=20)
    raw, _ = evaluation.run(**common, weight_average=False)
    assert last["checkpoint"] == {"prefix": "ckpt-40", "step": 40, "weights": "weight average"}
    assert mid["checkpoint"] == {"prefix": "ckpt-30", "step": 30, "weights": "weight average"}
    assert raw["checkpoint"]["weights"] == "raw" and raw["checkpoint"]["step"] == 40
    run = pathlib.Path(model_dir)
    flipped, _ = evaluation.run(**common, checkpoint=30, test_flip=True)
    for name, res in (("results.json", last), ("results_ckpt-30.json", mid),
                      ("results_ckpt-20.json", end_of_epoch_1), ("results_raw.json", raw),
                      ("results_ckpt-30_flip.json", flipped)):
        assert json.loads((run / name).read_text())["checkpoint"] == res["checkpoint"]
    avg = {k: r["protocols"]["protocol1"]["per_action"]["Avg"]
           for k, r in (("last", last), ("mid", mid), ("raw", raw))}
    assert len(set(avg.values())) == 3, avg  # three different sets of weights
    # What those weights cost: the run's record up to the step evaluated.
    assert last["training"]["steps"] == 40 and last["training"]["wall_seconds"] > 0
    assert "last epoch" in last["training"]["selection"]
    assert mid["training"]["steps"] == 30 and mid["training"]["epochs"] == 1
    history = training.read_history(model_dir)
    # Inside epoch 2: the wall time its checkpoint recorded, between the epochs' ends.
    assert history["1"]["wall_seconds"] < mid["training"]["wall_seconds"] < \
        history["2"]["wall_seconds"]
    assert mid["training"]["samples"] == 30 * 64
    assert "picked by hand" in mid["training"]["selection"]
    assert end_of_epoch_1["training"]["wall_seconds"] == history["1"]["wall_seconds"]
    assert end_of_epoch_1["training"]["samples"] == history["1"]["samples"] == 20 * 64
    with pytest.raises(training.TrainingError,
                       match=r"keeps no checkpoint 5 \(it keeps 20, 30, 40\)"):
        evaluation.run(**common, checkpoint=5)
    plain = str(tmp_path / "plain")
    training.fit(cfg.replace(ema_decay=0.0, epochs=1), plain, train_frames=frames,
                 val_frames=None, measure_hardware=False)
    with pytest.raises(ValueError, match="without a weight average"):
        evaluation.run(**{**common, "model_dir": plain}, weight_average=False)


def test_test_time_flip_of_an_export_equals_that_of_its_model_dir(tmp_path, tfds_data_dir,
                                                                  synthetic_export):
    """evaluate.py --test_flip on an export (or a shipped model) mirrors the input about the
    camera's principal point and the output back, as inside a model directory."""
    from tfpose import evaluation

    model_dir, export_dir = synthetic_export("baseline", "human36m/sh")
    common = dict(data_dir=str(tfds_data_dir), subjects=["S9"], frame_stride=200)
    avg = lambda r: r["protocols"]["protocol1"]["per_action"]["Avg"]  # noqa: E731
    in_dir, _ = evaluation.run(model_dir=str(model_dir), test_flip=True,
                               output=str(tmp_path / "dir.json"), **common)
    exported, text = evaluation.run(saved_model=str(export_dir), test_flip=True,
                                    output=str(tmp_path / "export.json"), **common)
    plain, _ = evaluation.run(saved_model=str(export_dir), output=str(tmp_path / "plain.json"),
                              **common)
    assert exported["test_flip"] and "test-time flip" in text
    assert abs(avg(exported) - avg(in_dir)) < 1e-3 * avg(in_dir)
    assert abs(avg(exported) - avg(plain)) > 1e-3 * avg(plain)  # the flip changed the poses
    for label in ("protocol1", "protocol2"):
        np.testing.assert_allclose(
            list(exported["protocols"][label]["per_action"].values()),
            list(in_dir["protocols"][label]["per_action"].values()), rtol=1e-3)
