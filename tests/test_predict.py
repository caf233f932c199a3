"""python -m tfpose.predict: file formats, joint layouts, plots, bad input."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import tfpose.pretrained as pretrained
from pretrained_helpers import BASELINE, REPGAN, packed_models
from tfpose import bvh, data, formats, predict, serving, skeleton

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
    ("kp.npz", "GOOD", {"layout": "coco17"}, r"layout coco17 needs 17 joints per frame, got 16"),
    ("kp.npz", "GOOD", {"layout": "humaneva15"}, r"needs 15 joints"),
    ("kp.npz", "GOOD", {"image_size": "1920"}, r"expected width and height, e\.g\. 1920x1080"),
    ("kp.npz", "GOOD", {"format": "yolo"}, r"unknown --format 'yolo'"),
    ("kp.npz", "GOOD", {"min_confidence": 0.5, "smooth": 3},
     r"--min_confidence, --smooth apply to detector files"),
    ("kp.npz", "GOOD", {"animation": "a.avi"}, r"a\.avi: --animation writes \.gif or \.mp4"),
    ("kp.npz", "GOOD", {"bvh": "a.txt"}, r"a\.txt: --bvh writes a \.bvh file"),
    ("kp.npz", "GOOD", {"output": "out.csv"}, r"out\.csv: unknown output extension"),
    ("kp.npz", "GOOD", {"plot": "fig.jpg"}, r"fig\.jpg: --plot writes a PNG"),
]


@pytest.mark.parametrize("name,data,kwargs,message", BAD_INPUTS,
                         ids=[f"{b[0]}-{'-'.join(map(str, b[2].values())) or 'default'}"
                              for b in BAD_INPUTS])
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
    for key in ("animation", "bvh"):
        if key in kwargs:
            kwargs[key] = str(tmp_path / kwargs[key])
    with pytest.raises(predict.PredictError, match=message) as info:
        predict.run(str(baseline_export), str(path), output, **kwargs)
    named = output if "output extension" in message else \
        kwargs.get("plot", kwargs.get("animation", kwargs.get("bvh", str(path))))
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
# Shipped models by name, detector files, image size, animation, BVH, metric scale


@pytest.fixture(scope="session")
def shipped(tmp_path_factory, synthetic_export):
    """Small synthetic models packed as pretrained models (tests/pretrained_helpers.py)."""
    return packed_models(tmp_path_factory, synthetic_export)


@pytest.fixture
def shipped_env(shipped, monkeypatch):
    monkeypatch.setenv(pretrained.ROOT_ENV, str(shipped.root))
    return shipped


def _coco_results(path, coco: np.ndarray, confidence: np.ndarray, image_ids) -> str:
    """A COCO keypoint results file: one person per image, in the order given."""
    results = [{"image_id": int(i), "category_id": 1, "score": 0.9,
                "keypoints": np.concatenate([coco[t], confidence[t][:, None]], 1).ravel()
                .tolist()} for t, i in enumerate(image_ids)]
    path.write_text(json.dumps(results[::-1]))  # files need not be in frame order
    return str(path)


@pytest.fixture
def coco_file(tmp_path):
    """6 frames of COCO keypoints from a 1920x1080 video; frame 2's left wrist is
    scored 0.1 (missing at the default min_confidence, then interpolated)."""
    rng = np.random.default_rng(4)
    coco = (rng.normal(0, 70, (6, 17, 2)) + [960, 560]).astype(np.float32)
    confidence = np.full((6, 17), 0.9)
    confidence[2, skeleton.COCO_JOINTS_17.index("left_wrist")] = 0.1
    return _coco_results(tmp_path / "results.json", coco, confidence, range(10, 16))


def test_model_name_lifts_like_the_pretrained_lifter(shipped_env, keypoints, tmp_path):
    np.savez(tmp_path / "kp.npz", keypoints=keypoints)
    res = predict.run(BASELINE, str(tmp_path / "kp.npz"), str(tmp_path / "out.npz"))
    np.testing.assert_allclose(res["keypoints_3d"], serving.load(BASELINE).lift(keypoints),
                               rtol=1e-5, atol=1e-3)
    assert str(_read_output(tmp_path / "out.npz")["model_kind"]) == "baseline"
    with pytest.raises(predict.PredictError, match=r"--model=asn-h36m-gt: 'asn-h36m-gt' is "
                                                   r"neither a shipped .*shipped models: "
                                                   rf"{BASELINE}"):
        predict.run("asn-h36m-gt", str(tmp_path / "kp.npz"), str(tmp_path / "o.npz"))


def test_coco_detections_are_mapped_filled_and_sized(shipped_env, coco_file, tmp_path):
    lifter = serving.load(BASELINE)
    res = predict.run(BASELINE, coco_file, str(tmp_path / "out.json"), image_size="1920x1080")
    det = formats.read_detections(coco_file)
    expected = lifter.lift(det.keypoints, layout="h36m17", image_size=(1920, 1080))
    np.testing.assert_allclose(res["keypoints_3d"], expected, rtol=1e-5, atol=1e-3)
    assert res["summary"] == det.summary() and "1 with interpolated joints" in res["summary"]
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["frame_ids"] == list(range(10, 16)) and out["image_size"] == [1920, 1080]
    keep = [skeleton.H36M_17.index(n) for n in H36M16]
    np.testing.assert_allclose(out["keypoints_2d"], det.keypoints[:, keep], atol=1e-3)  # image px
    assert out["input_frame"]["principal_point"] == [514.04, 506.70]
    # Below the wrist's score nothing is missing: the detected wrist itself is used.
    low = predict.run(BASELINE, coco_file, str(tmp_path / "low.json"), image_size="1920x1080",
                      min_confidence=0.05)
    assert "interpolated" not in low["summary"]
    assert np.abs(low["keypoints_3d"][2] - res["keypoints_3d"][2]).max() > 1e-3
    np.testing.assert_allclose(low["keypoints_3d"][[0, 1, 3]], res["keypoints_3d"][[0, 1, 3]],
                               rtol=1e-5, atol=1e-3)
    # Without the image size the pixels are taken as Human3.6M's: another answer, and a note.
    unsized = predict.run(BASELINE, coco_file, str(tmp_path / "u.json"))
    assert np.abs(unsized["keypoints_3d"] - res["keypoints_3d"]).max() > 1.0
    assert any("no --image_size" in n for n in unsized["notes"])
    assert any("suit a model trained on gt" in n for n in unsized["notes"])


def test_detector_options_reach_the_reader(shipped_env, tmp_path):
    rng = np.random.default_rng(5)
    coco = (rng.normal(0, 70, (7, 17, 2)) + [500, 500]).astype(np.float32)
    path = _coco_results(tmp_path / "r.json", coco, np.full((7, 17), 0.9), range(7))
    smooth = predict.run(BASELINE, path, str(tmp_path / "s.npz"), smooth=3)
    det = formats.read_detections(path, smooth_window=3)
    np.testing.assert_allclose(smooth["keypoints_3d"],
                               serving.load(BASELINE).lift(det.keypoints, layout="h36m17"),
                               rtol=1e-5, atol=1e-3)
    with pytest.raises(predict.PredictError, match=r"person=2 asks for a track id"):
        predict.run(BASELINE, path, str(tmp_path / "p.npz"), person=2)
    with pytest.raises(predict.PredictError, match=r"--layout=coco17 applies to arrays only"):
        predict.run(BASELINE, path, str(tmp_path / "l.npz"), layout="coco17")
    with pytest.raises(predict.PredictError, match=r"format=halpe was asked for, but the "
                                                   r"detections have 17 keypoints"):
        predict.run(BASELINE, path, str(tmp_path / "f.npz"), format="halpe")


def test_mediapipe_landmarks_need_the_image_size(shipped_env, tmp_path):
    rng = np.random.default_rng(6)
    frames = [[{"x": float(x), "y": float(y), "z": 0.0, "visibility": 0.9}
               for x, y in rng.uniform(0.3, 0.7, (33, 2))] for _ in range(3)]
    path = tmp_path / "mp.json"
    path.write_text(json.dumps(frames))
    with pytest.raises(predict.PredictError, match=r"mp\.json: mediapipe landmarks are "
                                                   r"normalised.*image size"):
        predict.run(BASELINE, str(path), str(tmp_path / "o.json"))
    res = predict.run(BASELINE, str(path), str(tmp_path / "o.json"), image_size="640x480")
    det = formats.read_detections(str(path), image_size=(640, 480))
    np.testing.assert_allclose(
        res["keypoints_3d"],
        serving.load(BASELINE).lift(det.keypoints, layout="h36m17", image_size=(640, 480)),
        rtol=1e-5, atol=1e-3)
    assert json.loads((tmp_path / "o.json").read_text())["image_size"] == [640, 480]


def test_animation_and_bvh(shipped_env, keypoints, tmp_path):
    np.savez(tmp_path / "kp.npz", keypoints=keypoints)
    res = predict.run(BASELINE, str(tmp_path / "kp.npz"), str(tmp_path / "out.npz"),
                      animation=str(tmp_path / "a.gif"), bvh=str(tmp_path / "a.bvh"), fps=30)
    assert res["animation"] == str(tmp_path / "a.gif") and res["bvh"] == str(tmp_path / "a.bvh")
    assert (tmp_path / "a.gif").read_bytes()[:6] in (b"GIF87a", b"GIF89a")
    motion = bvh.read_bvh(str(tmp_path / "a.bvh"))
    assert motion.num_frames == 8 and motion.frame_time == pytest.approx(1 / 30, rel=1e-4)
    # Bone directions are exact (lengths are the sequence's medians).
    back = bvh.read_poses(str(tmp_path / "a.bvh"))
    pose = res["keypoints_3d"]
    for parent, child in skeleton.H36M_17.bones:
        a, b = pose[:, child] - pose[:, parent], back[:, child] - back[:, parent]
        cos = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
        assert cos.min() > 0.999


def test_height_mm_gives_repgan_millimetres(shipped_env, tmp_path):
    x = data.synthetic_frames(5, "human36m/gt", seed=1).pose_2d
    np.savez(tmp_path / "kp.npz", keypoints=x)
    with pytest.raises(predict.PredictError, match=r"a\.bvh: a BVH needs millimetres.*"
                                                   r"--height_mm"):
        predict.run(REPGAN, str(tmp_path / "kp.npz"), str(tmp_path / "o.npz"),
                    bvh=str(tmp_path / "a.bvh"))
    res = predict.run(REPGAN, str(tmp_path / "kp.npz"), str(tmp_path / "o.npz"),
                      height_mm=1700.0, bvh=str(tmp_path / "a.bvh"))
    normalized = serving.load(REPGAN).lift(x)
    np.testing.assert_allclose(res["keypoints_3d"], formats.to_metric(normalized, 1700.0),
                               rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(formats.skeleton_height(res["keypoints_3d"]), 1700.0, rtol=1e-4)
    out = _read_output(tmp_path / "o.npz")
    assert res["units"] == str(out["units"]) == "mm"
    assert "height_mm=1700" in str(out["metric_scale"])
    assert bvh.read_bvh(str(tmp_path / "a.bvh")).num_frames == 5
    with pytest.raises(predict.PredictError, match="already outputs mm"):
        predict.run(BASELINE, str(tmp_path / "kp.npz"), str(tmp_path / "b.npz"), height_mm=1700,
                    layout="h36m17")


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
    # TensorFlow's C++ start-up lines (oneDNN, CUDA stubs) stay out of the terminal.
    noise = [line for line in proc.stderr.splitlines()
             if any(m in line for m in ("oneDNN", "cuda", "absl::InitializeLog"))]
    assert not noise, noise
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


def test_cli_model_name_with_a_detector_file(shipped, coco_file, tmp_path):
    env = {**ENV, pretrained.ROOT_ENV: str(shipped.root)}
    proc = subprocess.run([sys.executable, "-m", "tfpose.predict", f"--model={BASELINE}",
                           f"--input={coco_file}", "--image_size=1920x1080", "--smooth=3",
                           f"--output={tmp_path / 'out.json'}",
                           f"--animation={tmp_path / 'a.gif'}"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith(f"{coco_file}: coco (COCO-17") and "6 frames read" in lines[0]
    assert lines[-1] == (f"lifted 6 frames (mm) -> {tmp_path / 'out.json'}; animation "
                         f"{tmp_path / 'a.gif'}")
    det = formats.read_detections(coco_file, smooth_window=3)
    expected = serving.load(BASELINE, pretrained_root=str(shipped.root)).lift(
        det.keypoints, layout="h36m17", image_size=(1920, 1080))
    got = np.asarray(json.loads((tmp_path / "out.json").read_text())["keypoints_3d"])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-2)


def test_example_input_carries_its_layout_and_image_size(shipped_env, tmp_path):
    """``--input=example`` is the shipped example; its file's layout and image
    size are used unless flags say otherwise."""
    from tfpose import example_motion
    path = example_motion.keypoints_path()
    explicit = predict.run(BASELINE, path, str(tmp_path / "a.json"), layout="h36m17",
                           image_size="1920x1080")
    implicit = predict.run(BASELINE, "example", str(tmp_path / "b.json"))
    np.testing.assert_array_equal(implicit["keypoints_3d"], explicit["keypoints_3d"])
    # A flag wins over the file: another image size maps the pixels differently.
    other = predict.run(BASELINE, "example", str(tmp_path / "c.json"), image_size="1000x1000")
    assert np.abs(other["keypoints_3d"] - explicit["keypoints_3d"]).max() > 1.0
    # Without the file's hints the 17 h36m17 joints do not match the model's 16.
    keypoints = predict.read_keypoints(path)
    np.save(tmp_path / "bare.npy", keypoints)
    with pytest.raises(predict.PredictError, match="bare.npy"):
        predict.run(BASELINE, str(tmp_path / "bare.npy"), str(tmp_path / "d.json"))


def test_bad_layout_entry_in_a_json_object_is_named(shipped_env, tmp_path):
    (tmp_path / "kp.json").write_text(json.dumps({"layout": "h37m", "keypoints":
                                                  np.zeros((2, 17, 2)).tolist()}))
    with pytest.raises(predict.PredictError, match=r"kp.json: its 'layout' entry"):
        predict.run(BASELINE, str(tmp_path / "kp.json"), str(tmp_path / "o.json"))
