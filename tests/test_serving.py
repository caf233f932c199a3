"""tfpose.serving: loading an export without the training code, lifting,
input checks, batching, and refusing broken or inconsistent exports."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from tfpose import data, image_mapping, serving, training

REPO = pathlib.Path(__file__).resolve().parents[1]
TRAINING_MODULES = ("tfpose.training", "tfpose.data", "tfpose.losses", "tfpose.optimizers",
                    "tfpose.models", "tfpose.export")


@pytest.fixture(scope="session")
def baseline(synthetic_export):
    """(model_dir, export_dir) of the tiny human36m/sh baseline (16 -> 17 joints)."""
    return synthetic_export("baseline", "human36m/sh")


def _poses(n: int, seed: int = 7) -> np.ndarray:
    return data.synthetic_frames(n, "human36m/sh", seed).pose_2d


def _copy_export(export_dir: pathlib.Path, dest: pathlib.Path, **metadata_changes):
    shutil.copytree(export_dir, dest)
    meta = json.loads((dest / "metadata.json").read_text())
    for key, value in metadata_changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    (dest / "metadata.json").write_text(json.dumps(meta))
    return dest


# --------------------------------------------------------------------------
# No training code in a serving process


def test_lift_in_fresh_interpreter_imports_no_training_code(baseline, tmp_path):
    model_dir, export_dir = baseline
    x = _poses(300)
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(f"""
        import json, sys
        import numpy as np
        from tfpose import serving
        x = np.load(r"{tmp_path / 'x.npy'}")
        for backend in ("saved_model", "tflite"):
            lifter = serving.load(r"{export_dir}", backend)
            np.save(r"{tmp_path}/" + backend + ".npy", lifter.lift(x, batch_size=128))
        auto = serving.load(r"{export_dir}")  # the default: TFLite for one pose, else SavedModel
        np.save(r"{tmp_path}/auto.npy", np.concatenate([auto.lift(x[:1]), auto.lift(x[1:])]))
        loaded = sorted(m for m in sys.modules if m.startswith("tfpose"))
        print(json.dumps(loaded))
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "tfpose.serving" in loaded
    leaked = [m for m in loaded if m.startswith(TRAINING_MODULES)]
    assert not leaked, f"serving imported training-side modules: {leaked}"
    # ... and still computes what the training code computes.
    reference = training.predict(training.restore_task(str(model_dir)), x)
    scale = float(np.max(np.abs(reference)))
    for backend, tolerance in (("saved_model", 1e-4), ("tflite", 1e-3), ("auto", 1e-3)):
        got = np.load(tmp_path / f"{backend}.npy")
        assert got.shape == (300, 17, 3)
        assert np.max(np.abs(got - reference)) / scale < tolerance, backend


# --------------------------------------------------------------------------
# The lifter


def test_lifter_describes_the_export(baseline):
    _, export_dir = baseline
    lifter = serving.load(str(export_dir), "saved_model")
    meta = json.loads((export_dir / "metadata.json").read_text())
    assert lifter.metadata == meta
    assert (lifter.num_joints_2d, lifter.num_joints_3d) == (16, 17)
    assert lifter.units == "mm" and lifter.backend == "saved_model"
    assert "16 -> 17 joints" in repr(lifter) and repr(lifter).endswith("backend saved_model)")
    # The same numbers as calling the signature by hand.
    x = _poses(10)
    fn = tf.saved_model.load(str(export_dir / "saved_model")).signatures["serving_default"]
    direct = fn(keypoints_2d=tf.constant(x))["keypoints_3d"].numpy()
    np.testing.assert_allclose(lifter.lift(x), direct, rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(lifter(x), direct, rtol=1e-6, atol=1e-4)
    # Lists are accepted, and the saved_model/ folder names the export too.
    same = serving.load(str(export_dir / "saved_model"), "saved_model").lift(x.tolist())
    np.testing.assert_allclose(same, direct, rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("backend", serving.BACKENDS)
def test_batching_is_invisible_and_empty_batches_are_empty(baseline, backend):
    _, export_dir = baseline
    lifter = serving.load(str(export_dir), backend)
    assert lifter.backend == backend
    x = _poses(10)
    whole = lifter.lift(x)
    assert whole.shape == (10, 17, 3) and whole.dtype == np.float32
    np.testing.assert_allclose(lifter.lift(x, batch_size=3), whole, rtol=1e-5, atol=1e-3)
    empty = lifter.lift(np.zeros((0, 16, 2)))
    assert empty.shape == (0, 17, 3) and empty.dtype == np.float32
    # After an empty batch the runtime still answers (TFLite keeps its last size).
    np.testing.assert_allclose(lifter.lift(x[:4]), whole[:4], rtol=1e-5, atol=1e-3)


# --------------------------------------------------------------------------
# Backend "auto": TFLite for small calls, the SavedModel for large ones


def _max_rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def test_auto_is_the_default_and_routes_by_batch_size(baseline):
    _, export_dir = baseline
    lifter = serving.load(str(export_dir))
    assert isinstance(lifter, serving.AutoLifter)
    assert lifter.backend == "saved_model"  # before any call: the large-batch runtime
    assert "backend auto(tflite for <= 64 poses, else saved_model" in repr(lifter)
    assert isinstance(serving.load(str(export_dir), "auto"), serving.AutoLifter)
    saved_model = serving.load(str(export_dir), "saved_model")
    tflite = serving.load(str(export_dir), "tflite")
    small = serving.AUTO_SMALL_BATCH
    x = _poses(small + 1)
    for n in (1, small):
        got = lifter.lift(x[:n])
        assert lifter.backend == "tflite", n
        np.testing.assert_array_equal(got, tflite.lift(x[:n]))
        assert _max_rel_diff(got, saved_model.lift(x[:n])) < 1e-5, n
    assert repr(lifter).endswith("last call: tflite))")
    got = lifter.lift(x)
    assert lifter.backend == "saved_model"
    np.testing.assert_array_equal(got, saved_model.lift(x))
    # The batch size of a call does not change the route: the call's pose count does.
    np.testing.assert_array_equal(lifter.lift(x, batch_size=2), saved_model.lift(x))
    assert lifter.backend == "saved_model"
    # Both routes keep the NaN contract; an empty call gives [0, J3, 3].
    bad = x.copy()
    bad[2, 5, 1] = np.nan
    for n in (3, small + 1):
        out = lifter.lift(bad[:n])
        assert np.isnan(out[2]).all() and np.isfinite(np.delete(out, 2, axis=0)).all(), n
    assert lifter.lift(x[:0]).shape == (0, 17, 3)


def test_explicit_backends_serve_every_call(baseline):
    _, export_dir = baseline
    x = _poses(serving.AUTO_SMALL_BATCH + 1)
    for backend in ("saved_model", "tflite"):
        lifter = serving.load(str(export_dir), backend)
        for n in (1, len(x)):
            lifter.lift(x[:n])
            assert lifter.backend == backend, (backend, n)
        assert repr(lifter).endswith(f"backend {backend})")


def test_auto_without_tflite_file_is_the_saved_model(baseline, tmp_path):
    _, export_dir = baseline
    no_tflite = _copy_export(export_dir, tmp_path / "no_tflite")
    (no_tflite / "model.tflite").unlink()
    lifter = serving.load(str(no_tflite))
    assert isinstance(lifter, serving.SavedModelLifter)
    lifter.lift(_poses(1))
    assert lifter.backend == "saved_model"


def test_run_in_batches_slices_and_joins():
    calls = []

    def run(batch):
        calls.append(len(batch))
        return np.repeat(batch[:, :1, :1], 3, axis=1).repeat(3, axis=2) * 2

    x = np.arange(7, dtype=np.float32).reshape(7, 1, 1) * np.ones((7, 4, 2), np.float32)
    out = serving.run_in_batches(run, x, 3, num_joints_3d=3)
    assert calls == [3, 3, 1]
    np.testing.assert_array_equal(out[:, 0, 0], 2 * np.arange(7))
    calls.clear()
    assert serving.run_in_batches(run, x[:0], 3, num_joints_3d=5).shape == (0, 5, 3)
    assert calls == []  # an empty batch never reaches the runtime
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        serving.run_in_batches(run, x, 0, num_joints_3d=3)


def test_lift_checks_its_input(baseline):
    _, export_dir = baseline
    lifter = serving.load(str(export_dir))
    x = _poses(10)
    with pytest.raises(ValueError, match=r"keypoints_2d must have shape \[frames, 16, 2\].*"
                                         r"got shape \[10, 17, 2\]"):
        lifter.lift(np.zeros((10, 17, 2)))
    with pytest.raises(ValueError, match=r"got shape \[16, 2\]"):
        lifter.lift(np.zeros((16, 2)))
    with pytest.raises(ValueError, match="not a numeric array"):
        lifter.lift([["a"]])
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        lifter.lift(x, batch_size=-1)
    bad = x.copy()
    bad[4, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinite keypoints in 1 of 10 frames "
                                         r"\(frames 4\)"):
        lifter.lift(bad, nan_policy="raise")
    with pytest.raises(ValueError, match="nan_policy"):
        lifter.lift(x, nan_policy="ignore")
    out = lifter.lift(bad)  # default: propagate, like the server
    assert np.isnan(out[4]).all() and np.isfinite(np.delete(out, 4, axis=0)).all()


def test_lift_maps_layouts_and_image_sizes_first(baseline):
    _, export_dir = baseline
    lifter = serving.load(str(export_dir))
    assert lifter.input_frame == image_mapping.H36M_FRAME  # from the export's dataset
    x = _poses(6)
    h36m17 = np.insert(x, 9, 321.0, axis=1)  # Neck/Nose, which the SH model does not read
    np.testing.assert_allclose(lifter.lift(h36m17, layout="h36m17"), lifter.lift(x),
                               rtol=1e-6, atol=1e-4)
    frame = image_mapping.H36M_FRAME
    mapped = (x - [320.0, 240.0]) * (frame.width / 640) + frame.principal_point
    np.testing.assert_allclose(lifter.prepare(x, image_size=(640, 480)), mapped, rtol=1e-6)
    np.testing.assert_allclose(lifter.lift(x, image_size=(640, 480)), lifter.lift(mapped),
                               rtol=1e-5, atol=1e-3)
    with pytest.raises(ValueError, match="focal_length needs image_size"):
        lifter.lift(x, focal_length=1000.0)
    with pytest.raises(ValueError, match=r"keypoints_2d: unknown layout 'coco18x'"):
        lifter.lift(x, layout="coco18x")


# --------------------------------------------------------------------------
# Finding and reading exports


def test_bad_paths_and_backends(baseline, tmp_path):
    _, export_dir = baseline
    with pytest.raises(ValueError, match=r"unknown backend 'onnx'; expected one of saved_model, "
                                         r".*, keras, auto$"):
        serving.load(str(export_dir), backend="onnx")
    with pytest.raises(serving.ExportError, match="not a tfpose export directory: no "
                                                  "metadata.json"):
        serving.load(str(export_dir.parent))
    with pytest.raises(serving.ExportError, match="does not exist"):
        serving.load(str(export_dir / "nope"))
    with pytest.raises(serving.ExportError, match="backend 'keras' is for pretrained models"):
        serving.load(str(export_dir), backend="keras")
    # A bare word is a shipped model's name or a directory; neither is a one-line error.
    with pytest.raises(serving.ExportError, match=r"^'no-such-model' is neither a shipped "
                                                  r"pretrained model nor an existing directory; "
                                                  r"no pretrained models are shipped yet"):
        serving.load("no-such-model", pretrained_root=str(tmp_path))


@pytest.mark.parametrize("content,message", [
    ("{", r"metadata\.json is not valid JSON"),
    ("[1, 2]", r"metadata\.json must hold a JSON object, got list"),
    ('{"model_kind": "baseline", "dataset": "human36m/sh"}',
     r"metadata\.json lacks joint_names_2d, joint_names_3d, units"),
])
def test_unreadable_metadata(tmp_path, content, message):
    (tmp_path / "metadata.json").write_text(content)
    with pytest.raises(serving.ExportError, match=message):
        serving.read_metadata(str(tmp_path))
    with pytest.raises(serving.ExportError, match=message):
        serving.load(str(tmp_path))


def test_newer_format_is_refused_older_fields_are_optional(baseline, tmp_path):
    _, export_dir = baseline
    newer = _copy_export(export_dir, tmp_path / "newer",
                         format_version=serving.FORMAT_VERSION + 1)
    with pytest.raises(serving.ExportError, match=rf"format_version {serving.FORMAT_VERSION + 1}"
                                                  rf"; this tfpose reads versions up to "
                                                  rf"{serving.FORMAT_VERSION}"):
        serving.load(str(newer))
    # An export from before these fields existed: default file names are used.
    old = _copy_export(export_dir, tmp_path / "old", format_version=None, files=None,
                       xla_signature_key=None, checks=None)
    x = _poses(5)
    for backend in ("saved_model", "tflite", "tflite_int8"):
        expected = serving.load(str(export_dir), backend).lift(x)
        np.testing.assert_allclose(serving.load(str(old), backend).lift(x), expected,
                                   rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("backend", ["saved_model", "tflite"])
def test_metadata_that_disagrees_with_the_graph_is_refused(baseline, tmp_path, backend):
    _, export_dir = baseline
    meta = json.loads((export_dir / "metadata.json").read_text())
    broken = _copy_export(export_dir, tmp_path / "broken",
                          joint_names_2d=meta["joint_names_2d"][:-1])
    with pytest.raises(serving.ExportError, match=r"has 16 joints but metadata\.json lists 15"):
        serving.load(str(broken), backend)


def test_missing_or_corrupt_files(baseline, tmp_path):
    _, export_dir = baseline
    no_int8 = _copy_export(export_dir, tmp_path / "no_int8")
    (no_int8 / "model_int8.tflite").unlink()
    with pytest.raises(serving.ExportError, match=r"has no model_int8\.tflite"):
        serving.load(str(no_int8), "tflite_int8")
    assert serving.load(str(no_int8), "tflite").num_joints_3d == 17  # the others still load
    (no_int8 / "model.tflite").write_bytes(b"not a flatbuffer")
    with pytest.raises(serving.ExportError, match=r"cannot load .*model\.tflite"):
        serving.load(str(no_int8), "tflite")
    with pytest.raises(serving.ExportError, match=r"cannot load .*model\.tflite"):
        serving.load(str(no_int8))  # auto loads both files
    shutil.rmtree(no_int8 / "saved_model")
    with pytest.raises(serving.ExportError, match="cannot load the SavedModel"):
        serving.load(str(no_int8))
