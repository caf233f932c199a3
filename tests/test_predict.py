"""python -m tfpose.predict: file formats, joint layouts, plots, bad input."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from tfpose import data, predict, serving, skeleton

REPO = pathlib.Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
H36M16 = skeleton.H36M_16.joint_names


@pytest.fixture(scope="session")
def baseline_export(synthetic_export):
    """A tiny baseline on human36m/sh (16 -> 17), exported (tests/conftest.py;
    the same directory as the other test modules', so a session trains once)."""
    return synthetic_export("baseline", "human36m/sh")[1]


@pytest.fixture(scope="session")
def lifter(baseline_export):
    """The export's SavedModel, loaded directly: the answer ``tfpose.predict``
    must reproduce from a file."""
    return serving.load(str(baseline_export))


@pytest.fixture
def keypoints():
    """8 frames of 16 joints in the model's (h36m16) order, pixels."""
    return data.synthetic_frames(8, "human36m/sh", seed=5).pose_2d


def _lift(baseline_export, tmp_path, name, data, output="out.npz", **kwargs):
    path = tmp_path / name
    writers = {
        ".npz": lambda: np.savez(path, keypoints=data),
        ".npy": lambda: np.save(path, data),
        ".json": lambda: path.write_text(json.dumps(np.asarray(data).tolist())),
        ".csv": lambda: np.savetxt(path, np.asarray(data).reshape(len(data), -1),
                                   delimiter=","),
    }
    if not isinstance(data, (str, bytes)):
        writers[path.suffix]()
    elif isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)
    return predict.run(str(baseline_export), str(path), str(tmp_path / output), **kwargs)


def _read_output(path: pathlib.Path):
    if path.suffix == ".npz":
        with np.load(path) as d:
            return {k: d[k] for k in d.files}
    return json.loads(path.read_text())


# --------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("in_ext", [".npz", ".npy", ".json", ".csv"])
@pytest.mark.parametrize("out_ext", [".npz", ".json"])
def test_round_trip(baseline_export, lifter, keypoints, tmp_path, in_ext, out_ext):
    result = _lift(baseline_export, tmp_path, "kp" + in_ext, keypoints, output="out" + out_ext)
    expected = lifter.lift(keypoints)
    out = _read_output(tmp_path / ("out" + out_ext))
    got = np.asarray(out["keypoints_3d"], np.float32)
    assert got.shape == (8, 17, 3)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(result["keypoints_3d"], expected, rtol=1e-5, atol=1e-3)
    assert [str(n) for n in out["joint_names_3d"]] == list(skeleton.H36M_17.joint_names)
    assert [str(n) for n in out["joint_names_2d"]] == list(H36M16)
    assert str(out["units"]) == "mm" and str(out["model_kind"]) == "baseline"
    np.testing.assert_allclose(np.asarray(out["keypoints_2d"], np.float32), keypoints,
                               rtol=1e-6)
    assert result["num_frames"] == 8 and result["plot"] is None


def test_other_input_shapes_of_each_format(baseline_export, lifter, keypoints, tmp_path):
    expected = lifter.lift(keypoints)
    # npz: the only array, whatever its name.
    np.savez(tmp_path / "single.npz", detections=keypoints)
    res = predict.run(str(baseline_export), str(tmp_path / "single.npz"), str(tmp_path / "a.npz"))
    np.testing.assert_allclose(res["keypoints_3d"], expected, rtol=1e-5, atol=1e-3)
    # JSON object with "keypoints".
    (tmp_path / "obj.json").write_text(json.dumps({"keypoints": keypoints.tolist(), "fps": 50}))
    res = predict.run(str(baseline_export), str(tmp_path / "obj.json"), str(tmp_path / "b.json"))
    np.testing.assert_allclose(res["keypoints_3d"], expected, rtol=1e-5, atol=1e-3)
    # CSV with a header row.
    header = ",".join(f"{n}_{c}" for n in H36M16 for c in "xy")
    rows = "\n".join(",".join(repr(float(v)) for v in f.reshape(-1)) for f in keypoints)
    (tmp_path / "head.csv").write_text(header + "\n" + rows + "\n")
    res = predict.run(str(baseline_export), str(tmp_path / "head.csv"), str(tmp_path / "c.npz"))
    np.testing.assert_allclose(res["keypoints_3d"], expected, rtol=1e-5, atol=1e-3)


# --------------------------------------------------------------------------
# Layouts


def test_sh16_layout_is_reordered(baseline_export, lifter, keypoints, tmp_path):
    # The same detections in MPII (Stacked Hourglass) order.
    mpii = np.empty_like(keypoints)
    mpii[:, list(skeleton.MPII_TO_H36M16)] = keypoints
    np.testing.assert_array_equal(skeleton.mpii_to_h36m16(mpii), keypoints)
    res = _lift(baseline_export, tmp_path, "mpii.npz", mpii, layout="sh16")
    manual = lifter.lift(skeleton.mpii_to_h36m16(mpii))
    np.testing.assert_allclose(res["keypoints_3d"], manual, rtol=1e-5, atol=1e-3)
    out = _read_output(tmp_path / "out.npz")
    np.testing.assert_array_equal(out["keypoints_2d"], keypoints)
    # Without the layout the file is read in the model's order: a different answer.
    res_raw = _lift(baseline_export, tmp_path, "mpii2.npz", mpii, output="raw.npz")
    assert np.max(np.abs(res_raw["keypoints_3d"] - manual)) > 1.0


def test_coco17_layout_maps_then_selects_the_model_joints(baseline_export, lifter,
                                                         tmp_path):
    rng = np.random.default_rng(0)
    coco = (rng.normal(0, 80, (5, 17, 2)) + [480, 520]).astype(np.float32)
    res = _lift(baseline_export, tmp_path, "coco.json", coco, layout="coco17", output="o.json")
    h36m17 = skeleton.coco_to_h36m17(coco)
    keep = [i for i, n in enumerate(skeleton.H36M_JOINTS_17) if n != "Neck/Nose"]
    manual_input = h36m17[:, keep]
    np.testing.assert_allclose(res["keypoints_3d"], lifter.lift(manual_input),
                               rtol=1e-5, atol=1e-3)
    out = _read_output(tmp_path / "o.json")
    np.testing.assert_allclose(np.asarray(out["keypoints_2d"]), manual_input, rtol=1e-6)
    # Hip is synthesised as the middle of the COCO hips.
    np.testing.assert_allclose(np.asarray(out["keypoints_2d"])[:, 0],
                               (coco[:, 11] + coco[:, 12]) / 2, rtol=1e-6)


def test_h36m17_layout_drops_the_joint_sh_lacks(baseline_export, lifter, keypoints,
                                                tmp_path):
    full = np.insert(keypoints, 9, 123.0, axis=1)  # add Neck/Nose at its H36M-17 slot
    res = _lift(baseline_export, tmp_path, "h17.npz", full, layout="h36m17")
    np.testing.assert_allclose(res["keypoints_3d"], lifter.lift(keypoints), rtol=1e-5,
                               atol=1e-3)


def test_plot_writes_a_png(baseline_export, keypoints, tmp_path):
    res = _lift(baseline_export, tmp_path, "kp.npz", keypoints, plot=str(tmp_path / "fig.png"),
                plot_frames=3)
    png = tmp_path / "fig.png"
    assert res["plot"] == str(png)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    import matplotlib.image

    img = matplotlib.image.imread(str(png))
    assert img.shape[0] > img.shape[1]  # three rows of (2D | 3D)


def test_allow_nan_gives_nan_poses(baseline_export, lifter, keypoints, tmp_path):
    bad = keypoints.copy()
    bad[3, 2] = np.nan
    res = _lift(baseline_export, tmp_path, "nan.json", bad, allow_nan=True, output="o.json",
                plot=str(tmp_path / "p.png"))
    assert np.isnan(res["keypoints_3d"][3]).all()
    good = [0, 1, 2, 4, 5, 6, 7]
    np.testing.assert_allclose(res["keypoints_3d"][good], lifter.lift(keypoints)[good],
                               rtol=1e-5, atol=1e-3)
    out = json.loads((tmp_path / "o.json").read_text())  # strict JSON: null, not NaN
    assert out["keypoints_3d"][3][0] == [None, None, None]
    assert (tmp_path / "p.png").is_file()  # the NaN frame is skipped in the plot


# --------------------------------------------------------------------------
# Bad input: a PredictError (ValueError) naming the file and the problem


BAD_INPUTS = [
    ("wrong_joints.npz", np.zeros((4, 15, 2), np.float32), {}, r"15 joints per frame.*takes 16"),
    ("rank2.npz", np.zeros((16, 2), np.float32), {}, r"shape \[frames, joints, 2\].*\[16, 2\]"),
    ("three_coords.npy", np.zeros((4, 16, 3), np.float32), {}, r"\[4, 16, 3\]"),
    ("no_frames.npz", np.zeros((0, 16, 2), np.float32), {}, r"no frames"),
    ("nan.npz", "NAN", {}, r"NaN or infinite keypoints in 1 of 8 frames \(frames 6\).*--allow_nan"),
    ("empty.json", "", {}, r"the file is empty"),
    ("empty_list.json", "[]", {}, r"no keypoints"),
    ("ragged.json", "[[[1, 2], [3]]]", {}, r"not a rectangular"),
    ("words.json", '[[["a", "b"]]]', {}, r"non-numeric"),
    ("obj.json", '{"points": []}', {}, r"needs a 'keypoints' entry"),
    ("broken.json", "[[[1, 2]", {}, r"not valid JSON"),
    ("odd.csv", "1,2,3\n4,5,6\n", {}, r"even number"),
    ("ragged.csv", "1,2,3,4\n4,5\n", {}, r"line 2 has 2 columns"),
    ("text.csv", "1,2\nx,4\n", {}, r"line 2: 'x' is not a number"),
    ("header_only.csv", "a_x,a_y\n", {}, r"header but no frames"),
    ("keys.npz", "TWO_ARRAYS", {}, r"expected an array 'keypoints' or a single array"),
    ("corrupt.npz", b"not a zip file", {}, r"cannot read it as \.npz"),
    ("kp.txt", "1 2", {}, r"unknown input extension '\.txt'"),
    ("kp.npz", "GOOD", {"layout": "openpose25"}, r"unknown --layout 'openpose25'"),
    ("kp.npz", "GOOD", {"layout": "coco17"}, r"--layout=coco17 needs 17 joints.*has 16"),
    ("kp.npz", "GOOD", {"layout": "humaneva15"}, r"needs 15 joints"),
    ("kp.npz", "GOOD", {"output": "out.csv"}, r"out\.csv: unknown output extension"),
    ("kp.npz", "GOOD", {"plot": "fig.jpg"}, r"fig\.jpg: --plot writes a PNG"),
]


@pytest.mark.parametrize("name,data,kwargs,message", BAD_INPUTS,
                         ids=[f"{b[0]}-{'-'.join(b[2].values()) or 'default'}" for b in BAD_INPUTS])
def test_bad_input_is_a_clear_error(baseline_export, keypoints, tmp_path, name, data, kwargs,
                                    message):
    path = tmp_path / name
    if isinstance(data, np.ndarray):
        (np.savez if name.endswith(".npz") else np.save)(path, data)
    elif data == "NAN":
        bad = keypoints.copy()
        bad[6, 0, 1] = np.inf
        np.savez(path, keypoints=bad)
    elif data == "TWO_ARRAYS":
        np.savez(path, a=keypoints, b=keypoints)
    elif data == "GOOD":
        np.savez(path, keypoints=keypoints)
    elif isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)
    kwargs = dict(kwargs)
    output = str(tmp_path / kwargs.pop("output", "out.npz"))
    if "plot" in kwargs:
        kwargs["plot"] = str(tmp_path / kwargs["plot"])
    with pytest.raises(predict.PredictError, match=message) as info:
        predict.run(str(baseline_export), str(path), output, **kwargs)
    named = output if "output extension" in message else kwargs.get("plot", str(path))
    assert str(info.value).startswith(named + ":"), str(info.value)
    assert not os.path.exists(output)


def test_missing_file_and_bad_model(baseline_export, keypoints, tmp_path):
    with pytest.raises(predict.PredictError, match=r"nope\.npz: no such file"):
        predict.run(str(baseline_export), str(tmp_path / "nope.npz"), str(tmp_path / "o.npz"))
    np.savez(tmp_path / "kp.npz", keypoints=keypoints)
    with pytest.raises(predict.PredictError, match=r"--model=.*not a tfpose export directory"):
        predict.run(str(tmp_path), str(tmp_path / "kp.npz"), str(tmp_path / "o.npz"))


def test_tflite_backend(baseline_export, lifter, keypoints, tmp_path):
    res = _lift(baseline_export, tmp_path, "kp.npz", keypoints, backend="tflite")
    np.testing.assert_allclose(res["keypoints_3d"], lifter.lift(keypoints), rtol=1e-4,
                               atol=1e-2)


# --------------------------------------------------------------------------
# The command line, in a subprocess


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "tfpose.predict", *map(str, args)], cwd=REPO,
                          env=ENV, capture_output=True, text=True, timeout=300)


def test_cli_lifts_and_plots(baseline_export, lifter, keypoints, tmp_path):
    mpii = np.empty_like(keypoints)
    mpii[:, list(skeleton.MPII_TO_H36M16)] = keypoints
    np.savetxt(tmp_path / "kp.csv", mpii.reshape(8, -1), delimiter=",")
    proc = _cli(f"--model={baseline_export}", f"--input={tmp_path / 'kp.csv'}",
                f"--output={tmp_path / 'out.json'}", "--layout=sh16",
                f"--plot={tmp_path / 'fig.png'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "lifted 8 frames (mm)" in proc.stdout
    out = json.loads((tmp_path / "out.json").read_text())
    np.testing.assert_allclose(np.asarray(out["keypoints_3d"]), lifter.lift(keypoints),
                               rtol=1e-4, atol=1e-2)
    assert (tmp_path / "fig.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("case", ["wrong_joints", "empty"])
def test_cli_bad_input_exits_nonzero_without_traceback(baseline_export, tmp_path, case):
    if case == "wrong_joints":
        path = tmp_path / "kp.npz"
        np.savez(path, keypoints=np.zeros((3, 17, 2), np.float32))
        expected = "17 joints per frame, but the model takes 16"
    else:  # fails before TensorFlow is even imported
        path = tmp_path / "kp.json"
        path.write_text("")
        expected = "the file is empty"
    proc = _cli(f"--model={baseline_export}", f"--input={path}",
                f"--output={tmp_path / 'out.npz'}")
    assert proc.returncode != 0
    assert f"{path}: {expected}" in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out.npz").exists()


def test_predict_imports_no_training_code(baseline_export, keypoints, tmp_path):
    """A fresh interpreter lifting a file with tfpose.predict never loads the
    training side of tfpose (models, losses, optimizers, data pipeline)."""
    np.savez(tmp_path / "kp.npz", keypoints=keypoints)
    script = (f"import json, sys\nfrom tfpose import predict\n"
              f"predict.run(r'{baseline_export}', r'{tmp_path / 'kp.npz'}', "
              f"r'{tmp_path / 'out.npz'}', backend='tflite')\n"
              f"print(json.dumps(sorted(m for m in sys.modules if m.startswith('tfpose'))))")
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "tfpose.serving" in loaded and (tmp_path / "out.npz").is_file()
    assert not [m for m in loaded if m.startswith(("tfpose.training", "tfpose.data",
                                                   "tfpose.losses", "tfpose.optimizers",
                                                   "tfpose.models", "tfpose.export"))], loaded
