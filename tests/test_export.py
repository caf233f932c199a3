"""Export for TF Serving / TFLite: parity with the training code, the serving
contract (saved_model_cli), metadata, bad input, atomic writes, the CLI.
Loading exports is tested in tests/test_serving.py."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from tfpose import data, export, provenance, serving, skeleton, training
from tfpose.models import registry

REPO = pathlib.Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
SAVED_MODEL_CLI = pathlib.Path(sys.executable).with_name("saved_model_cli")

# One small model per kind, covering the three skeleton pairs:
# 16 -> 17 (SH input), 17 -> 17, 15 -> 15 (RepGAN: same joints in 2D and 3D).
KINDS = {"baseline": "human36m/sh", "asn": "human36m/gt", "repgan": "humaneva/gt"}
EXPECTED_JOINTS = {"baseline": (16, 17), "asn": (17, 17), "repgan": (15, 15)}


@pytest.fixture(scope="session")
def exported(synthetic_export):
    """``get(kind) -> (model_dir, export_dir, restored task)`` (tests/conftest.py)."""
    cache = {}

    def get(kind):
        if kind not in cache:
            model_dir, export_dir = synthetic_export(kind, KINDS[kind])
            cache[kind] = (model_dir, export_dir, training.restore_task(str(model_dir)))
        return cache[kind]

    return get


def poses_for(kind: str, n: int = 64, seed: int = 1) -> np.ndarray:
    return data.synthetic_frames(n, KINDS[kind], seed).pose_2d


def scale_of(reference: np.ndarray) -> float:
    return float(np.max(np.abs(reference)))


def _run(args, check=True, timeout=300):
    proc = subprocess.run([str(a) for a in args], cwd=REPO, env=ENV, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-5000:]}")
    return proc


# --------------------------------------------------------------------------
# Parity


def test_saved_model_in_fresh_process_matches_training_predict(exported, tmp_path):
    """Load each SavedModel in a new Python where tfpose cannot be imported:
    the export is self-contained, and agrees with training.predict."""
    inputs, refs = {}, {}
    for kind in KINDS:
        _, export_dir, task = exported(kind)
        x = poses_for(kind, 300)
        np.save(tmp_path / f"{kind}_in.npy", x)
        inputs[kind] = str(export_dir / "saved_model")
        refs[kind] = training.predict(task, x)
    script = textwrap.dedent(f"""
        import json, sys, numpy as np, tensorflow as tf
        sys.modules["tfpose"] = None  # any attempt to import tfpose now fails
        for kind, path in json.loads({json.dumps(json.dumps(inputs))}).items():
            loaded = tf.saved_model.load(path)
            x = np.load(r"{tmp_path}/" + kind + "_in.npy")
            for sig in ("serving_default", "serving_xla"):
                out = loaded.signatures[sig](keypoints_2d=tf.constant(x))
                assert list(out) == ["keypoints_3d"], list(out)
                np.save(r"{tmp_path}/" + kind + sig + "_out.npy", out["keypoints_3d"].numpy())
        print("ok")
    """)
    env = {k: v for k, v in ENV.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    for kind in KINDS:
        for sig in ("serving_default", "serving_xla"):
            got = np.load(tmp_path / f"{kind}{sig}_out.npy")
            j2, j3 = EXPECTED_JOINTS[kind]
            assert got.shape == (300, j3, 3)
            ref = refs[kind]
            assert np.isfinite(ref).all() and scale_of(ref) > 0
            diff = np.max(np.abs(got - ref)) / scale_of(ref)
            assert diff < 1e-4, (kind, sig, diff)


@pytest.mark.parametrize("kind", list(KINDS))
def test_tflite_matches_training_predict(exported, kind, capsys):
    _, export_dir, task = exported(kind)
    x = poses_for(kind, 300, seed=2)
    ref = training.predict(task, x)
    scale = scale_of(ref)
    f32 = serving.load(export_dir, backend="tflite")
    f16 = serving.load(export_dir, backend="tflite_fp16")
    # Several batch sizes: the interpreter's input is resized each time.
    for n in (1, 7, 300, 3):
        got = f32.lift(x[:n])
        assert got.shape == ref[:n].shape
        assert np.max(np.abs(got - ref[:n])) / scale < 1e-3, (kind, n)
    got16 = f16.lift(x)
    diff16 = float(np.max(np.abs(got16 - ref)) / scale)
    assert np.isfinite(got16).all()
    assert diff16 < 2e-2, diff16  # float16 weights: ~1e-3 of the output scale
    # Dynamic-range int8: close on average, and it is not secretly float32.
    got8 = serving.load(export_dir, backend="tflite_int8").lift(x)
    mean8 = float(np.mean(np.abs(got8 - ref)) / scale)
    assert np.isfinite(got8).all() and 0 < mean8 < 2e-2, mean8
    with capsys.disabled():
        print(f"\n[{kind}] tflite fp16 max |diff| = {diff16:.2e} of the output scale "
              f"({diff16 * scale:.3g} {task.normalizer.units}); int8 mean |diff| = "
              f"{mean8:.2e} ({mean8 * scale:.3g})")
    # The conversion uses TFLite builtin ops only (no Flex delegate): the
    # interpreter above would have failed to allocate otherwise, and the
    # flatbuffer names no Flex op.
    for name in serving.TFLITE_FILES.values():
        assert b"Flex" not in (export_dir / name).read_bytes()


# --------------------------------------------------------------------------
# saved_model_cli (the TF Serving view of the signature)


def _signature_block(text: str, key: str) -> str:
    start = text.index(f"signature_def['{key}']")
    nxt = text.find("signature_def[", start + 1)
    return text[start:nxt if nxt > 0 else len(text)]


def test_saved_model_cli_show(exported):
    _, export_dir, _ = exported("baseline")
    proc = _run([SAVED_MODEL_CLI, "show", "--dir", export_dir / "saved_model", "--all"])
    block = _signature_block(proc.stdout, "serving_default")
    inp = re.search(r"inputs\['(\w+)'\] tensor_info:\s+dtype: (\w+)\s+shape: (\([^)]*\))", block)
    out = re.search(r"outputs\['(\w+)'\] tensor_info:\s+dtype: (\w+)\s+shape: (\([^)]*\))", block)
    assert inp and out, block
    assert inp.groups() == ("keypoints_2d", "DT_FLOAT", "(-1, 16, 2)")
    assert out.groups() == ("keypoints_3d", "DT_FLOAT", "(-1, 17, 3)")
    assert block.count("inputs['") == 1 and block.count("outputs['") == 1
    assert "Method name is: tensorflow/serving/predict" in block


def test_saved_model_cli_run_matches_keras(exported, tmp_path):
    _, export_dir, task = exported("baseline")
    x = np.ones((2, 16, 2)) * 500
    # TF 2.21's saved_model_cli only takes Python literals in --input_exprs
    # (np.ones(...) is refused as "not a valid python literal"): pass the list.
    literal = str(x.tolist()).replace(" ", "")
    proc = _run([SAVED_MODEL_CLI, "run", "--dir", export_dir / "saved_model", "--tag_set",
                 "serve", "--signature_def", "serving_default", "--input_exprs",
                 f"keypoints_2d={literal}", "--outdir", tmp_path, "--overwrite"])
    assert "keypoints_3d" in proc.stdout
    got = np.load(tmp_path / "keypoints_3d.npy")
    # The Keras model itself, normalisation around it, outside any export.
    n = task.normalizer
    keras_out = n.denormalize_3d(task.model(n.normalize_2d(x.astype(np.float32)),
                                            training=False)).numpy()
    assert got.shape == (2, 17, 3)
    assert np.max(np.abs(got - keras_out)) / scale_of(keras_out) < 1e-4


# --------------------------------------------------------------------------
# Contract details


@pytest.mark.parametrize("kind", list(KINDS))
def test_metadata(exported, kind):
    model_dir, export_dir, task = exported(kind)
    meta = json.loads((export_dir / "metadata.json").read_text())
    j2, j3 = EXPECTED_JOINTS[kind]
    assert meta["model_kind"] == kind and meta["dataset"] == KINDS[kind]
    assert meta["joint_names_2d"] == list(task.skeleton_2d.joint_names) and len(
        meta["joint_names_2d"]) == j2
    assert meta["joint_names_3d"] == list(task.skeleton_3d.joint_names) and len(
        meta["joint_names_3d"]) == j3
    assert meta["units"] == ("normalized" if kind == "repgan" else "mm")
    assert meta["input_shape"] == [None, j2, 2] and meta["output_shape"] == [None, j3, 3]
    assert meta["input"]["name"] == "keypoints_2d" and meta["output"]["name"] == "keypoints_3d"
    assert meta["signature_key"] == "serving_default"
    stored = json.loads((model_dir / "config.json").read_text())["train_config"]
    assert meta["train_config"] == stored and meta["train_config"]["model"]["width"] == 64
    assert meta["format_version"] == serving.FORMAT_VERSION
    assert meta["tfpose_version"] == provenance.tfpose_version()
    assert meta["tensorflow_version"] == tf.__version__
    if (REPO / ".git").exists():
        assert re.fullmatch(r"[0-9a-f]{40}", meta["git_commit"] or ""), meta["git_commit"]
    assert "NaN" in meta["nan_policy"]
    for name in meta["files"].values():
        assert (export_dir / name).exists()
    assert set(meta["files"]) == {"saved_model", "tflite", "tflite_fp16", "tflite_int8"}
    checks = meta["checks"]
    assert checks["saved_model_max_rel_diff"] < 1e-4 and checks["tflite_max_rel_diff"] < 1e-3
    # Every file was checked, each through its own serving backend.
    assert {k[:-len("_max_rel_diff")] for k in checks if k.endswith("_max_rel_diff")} == set(
        serving.BACKENDS)
    assert checks["probe_poses"] > 0 and checks["output_scale"] > 0
    # No temporary directories left beside the export.
    assert not [p for p in export_dir.parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


def test_tfpose_version_is_the_package_version():
    import tfpose

    assert provenance.tfpose_version() == tfpose.__version__ and tfpose.__version__


def test_git_commit_reads_the_repository_without_git(tmp_path):
    sha = "0123456789abcdef0123456789abcdef01234567"
    (tmp_path / "repo" / ".git" / "refs" / "heads").mkdir(parents=True)
    (tmp_path / "repo" / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (tmp_path / "repo" / ".git" / "refs" / "heads" / "main").write_text(sha + "\n")
    (tmp_path / "repo" / "pkg").mkdir()
    assert provenance.git_commit(str(tmp_path / "repo" / "pkg")) == sha
    (tmp_path / "repo" / ".git" / "refs" / "heads" / "main").unlink()
    (tmp_path / "repo" / ".git" / "packed-refs").write_text(f"# pack\n{sha} refs/heads/main\n")
    assert provenance.git_commit(str(tmp_path / "repo")) == sha
    (tmp_path / "repo" / ".git" / "HEAD").write_text(sha[::-1] + "\n")  # detached
    assert provenance.git_commit(str(tmp_path / "repo")) == sha[::-1]
    (tmp_path / "plain").mkdir()
    assert provenance.git_commit(str(tmp_path / "plain")) in (None, provenance.git_commit())


@pytest.mark.parametrize("kind", ["baseline", "repgan"])
def test_empty_batch(exported, kind):
    _, export_dir, _ = exported(kind)
    j2, j3 = EXPECTED_JOINTS[kind]
    loaded = tf.saved_model.load(str(export_dir / "saved_model"))
    for sig in ("serving_default", "serving_xla"):
        out = loaded.signatures[sig](keypoints_2d=tf.zeros((0, j2, 2)))["keypoints_3d"]
        assert out.shape == (0, j3, 3) and out.dtype == tf.float32


@pytest.mark.parametrize("kind", list(KINDS))
def test_non_finite_poses_give_nan_and_leave_the_others_alone(exported, kind):
    _, export_dir, task = exported(kind)
    j2, j3 = EXPECTED_JOINTS[kind]
    fn = tf.saved_model.load(str(export_dir / "saved_model")).signatures["serving_default"]
    x = poses_for(kind, 8, seed=3)
    clean = fn(keypoints_2d=tf.constant(x))["keypoints_3d"].numpy()
    bad = x.copy()
    bad[2, 3, 0] = np.nan
    bad[5, 0, 1] = np.inf
    bad[6] = -np.inf
    out = fn(keypoints_2d=tf.constant(bad))["keypoints_3d"].numpy()
    good = [0, 1, 3, 4, 7]
    assert np.isnan(out[[2, 5, 6]]).all()  # the whole pose, every joint and coordinate
    assert np.isfinite(out[good]).all()
    np.testing.assert_allclose(out[good], clean[good], rtol=1e-6,
                               atol=1e-6 * scale_of(clean))
    np.testing.assert_allclose(clean, training.predict(task, x), rtol=1e-5,
                               atol=1e-5 * scale_of(clean))
    # A batch of nothing but NaN, huge finite values: defined, no crash.
    all_nan = fn(keypoints_2d=tf.fill((3, j2, 2), np.nan))["keypoints_3d"].numpy()
    assert all_nan.shape == (3, j3, 3) and np.isnan(all_nan).all()
    huge = fn(keypoints_2d=tf.fill((2, j2, 2), 3e38))["keypoints_3d"].numpy()
    assert huge.shape == (2, j3, 3)
    # TFLite behaves the same.
    tfl = serving.load(export_dir, "tflite").lift(bad)
    assert np.isnan(tfl[[2, 5, 6]]).all() and np.isfinite(tfl[good]).all()
    np.testing.assert_allclose(tfl[good], clean[good], atol=1e-3 * scale_of(clean))


def test_signature_rejects_wrong_shapes_and_dtypes(exported):
    _, export_dir, _ = exported("baseline")
    fn = tf.saved_model.load(str(export_dir / "saved_model")).signatures["serving_default"]
    spec = fn.structured_input_signature[1]["keypoints_2d"]
    assert spec.shape.as_list() == [None, 16, 2] and spec.dtype == tf.float32
    for bad in (tf.zeros((2, 17, 2)), tf.zeros((2, 16, 3)), tf.zeros((16, 2)),
                tf.zeros((1, 2, 16, 2)), tf.zeros((2, 16, 2), tf.float64)):
        with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError)):
            fn(keypoints_2d=bad)
    # The signature still works afterwards (nothing was left in a bad state).
    assert fn(keypoints_2d=tf.zeros((1, 16, 2)))["keypoints_3d"].shape == (1, 17, 3)


# --------------------------------------------------------------------------
# Writing exports


def test_failed_export_leaves_no_complete_looking_directory(exported, tmp_path, monkeypatch):
    model_dir, export_dir, _ = exported("baseline")

    def broken(*args, **kwargs):
        raise export.ExportError("simulated converter failure")

    monkeypatch.setattr(export, "_convert_tflite", broken)
    fresh = tmp_path / "fresh"
    with pytest.raises(export.ExportError, match="simulated"):
        export.export_model_dir(str(model_dir), str(fresh))
    assert not fresh.exists()
    # An existing export survives a failed re-export untouched.
    kept = tmp_path / "kept"
    shutil.copytree(export_dir, kept)
    before = (kept / "metadata.json").read_text()
    with pytest.raises(export.ExportError):
        export.export_model_dir(str(model_dir), str(kept))
    assert (kept / "metadata.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]  # no temporaries left
    # A failed parity check is a failed export too.
    monkeypatch.undo()
    monkeypatch.setattr(export, "PARITY_TOLERANCE", -1.0)
    with pytest.raises(export.ExportError, match="disagrees"):
        export.export_model_dir(str(model_dir), str(kept), float16=False)
    assert (kept / "metadata.json").read_text() == before
    # A successful re-export replaces it; float16/int8=False skip those files.
    monkeypatch.undo()
    export.export_model_dir(str(model_dir), str(kept), float16=False, int8=False)
    meta = json.loads((kept / "metadata.json").read_text())
    assert meta["files"] == {"saved_model": "saved_model", "tflite": "model.tflite"}
    assert not (kept / "model_fp16.tflite").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]


def test_export_cli(exported, tmp_path):
    model_dir, _, _ = exported("baseline")
    out = tmp_path / "cli_export"
    proc = _run([sys.executable, "-m", "tfpose.export", f"--model_dir={model_dir}",
                 f"--out={out}", "--nofloat16", "--noint8"])
    assert str(out) in proc.stdout
    assert json.loads((out / "metadata.json").read_text())["model_kind"] == "baseline"
    assert (out / "model.tflite").is_file() and not (out / "model_fp16.tflite").exists()
    assert not (out / "model_int8.tflite").exists()
    proc = _run([sys.executable, "-m", "tfpose.export", f"--model_dir={tmp_path / 'nothing'}",
                 f"--out={tmp_path / 'x'}"], check=False)
    assert proc.returncode != 0
    assert "not a tfpose model directory" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x").exists()


def test_skeletons_of_fixture_match_design():
    # Guards the fixture's claims about which joints each export takes.
    for kind, dataset in KINDS.items():
        j2, j3 = (skeleton.get(s).num_joints for s in registry.get(kind).skeletons(dataset))
        assert (j2, j3) == EXPECTED_JOINTS[kind]
