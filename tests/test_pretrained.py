"""Pretrained models (issue #15): pack -> load by name -> lift, integrity checks,
camera independence, export/predict/evaluate by name, no training imports.

Small synthetic models are packed into a temporary root (tests/
pretrained_helpers.py); nothing here needs shipped weights.
"""

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

import tfpose.pretrained as pretrained
from pretrained_helpers import BASELINE, BASELINE_INT8, REPGAN, packed_models
from tfpose import (data, evaluation, export, formats, image_mapping, normalization, provenance,
                    serving, skeleton, training)
from tfpose.pretrained import compact, inference, pack

REPO = pathlib.Path(__file__).resolve().parents[1]
TRAINING_MODULES = ("tfpose.training", "tfpose.data", "tfpose.losses", "tfpose.optimizers",
                    "tfpose.export", "tfpose.evaluation")
H36M16 = skeleton.H36M_16.joint_names


@pytest.fixture(scope="session")
def shipped(tmp_path_factory, synthetic_export):
    return packed_models(tmp_path_factory, synthetic_export)


def _env(root) -> dict:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO),
            pretrained.ROOT_ENV: str(root)}


def _run(args, root, timeout=400):
    proc = subprocess.run([str(a) for a in args], cwd=REPO, env=_env(root), capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc


def _source_weights(model_dir, description) -> dict:
    """float32 weights of a model directory's inference network."""
    network = inference.build_model(description)
    task = training.restore_task(str(model_dir))
    inference.copy_from_trained(network, task.model, description["model_kind"])
    return inference.weight_arrays(network)


# --------------------------------------------------------------------------
# What pack writes


def test_pack_writes_the_documented_folder(shipped):
    folder = shipped.root / BASELINE
    assert sorted(os.listdir(folder)) == ["metadata.json", "model.json", "normalization.json",
                                          "weights.npz"]
    assert not [n for n in os.listdir(shipped.root) if n.startswith(".")]  # no leftovers
    assert pretrained.available(str(shipped.root)) == sorted([BASELINE, BASELINE_INT8, REPGAN])
    model = json.loads((folder / "model.json").read_text())
    meta = json.loads((folder / "metadata.json").read_text())
    run = training.read_run(str(shipped.baseline_dir))
    assert (model["model_kind"], model["dataset"], model["units"]) == \
        ("baseline", "human36m/sh", "mm")
    assert model["joint_names_2d"] == list(H36M16)
    assert model["joint_names_3d"] == list(skeleton.H36M_17.joint_names)
    assert model["model_kwargs"] == run["model_kwargs"]
    assert model["input_frame"] == image_mapping.H36M_FRAME.to_dict()
    assert model["weights"]["precision"] == "float16"
    keys = set(model["weights"]["variables"])
    assert keys and all(k.startswith("baseline/") for k in keys)
    assert not [k for k in keys if "seed" in k]  # dropout seed states are not weights
    # Hashes, sizes, provenance, licence.
    for name in pretrained.HASHED_FILES:
        assert meta["sha256"][name] == pretrained.sha256(str(folder / name))
        assert meta["sizes"][name] == (folder / name).stat().st_size
    assert meta["training"]["command_line"] == run["command_line"]
    assert meta["training"]["train_config"] == run["train_config"]
    assert meta["git_commit"] == provenance.git_commit()
    assert "Human3.6M" in meta["licence"] and "research" in meta["licence"]
    assert meta["evaluation"] is None and "not measured" in meta["compaction"]["chosen"]
    assert meta["evaluate_command"] == f"python evaluate.py --pretrained={BASELINE}"
    stored = normalization.Normalizer.load(str(shipped.baseline_dir / "normalization.json"))
    assert json.loads((folder / "normalization.json").read_text()) == stored.to_dict()


def test_weights_are_compact_kernels_and_float32_vectors(shipped):
    f16 = compact.load(str(shipped.root / BASELINE / "weights.npz"))
    i8 = compact.load(str(shipped.root / BASELINE_INT8 / "weights.npz"))
    for key, value in f16.items():
        assert value.dtype == (np.float16 if value.ndim >= 2 else np.float32), key
    kernels = [k for k, v in f16.items() if v.ndim >= 2]
    for key in kernels:
        assert i8[key].dtype == np.int8 and np.abs(i8[key]).max() == 127
        assert i8[key + compact.SCALE_SUFFIX].shape == (f16[key].shape[-1],)
    kernel_bytes = [sum(a[k].nbytes + (a[k + compact.SCALE_SUFFIX].nbytes if a is i8 else 0)
                        for k in kernels) for a in (f16, i8)]
    assert kernel_bytes[1] < 0.6 * kernel_bytes[0]


def test_int8_quantisation_error_is_at_most_half_a_step():
    w = np.random.default_rng(0).normal(0, 0.05, (40, 12)).astype(np.float32)
    w[:, 3] = 0.0  # a dead column keeps scale 1 and exact zeros
    q, scale = compact.quantize_int8(w)
    back = compact.decode(compact.encode({"k": w}, "int8"))["k"]
    np.testing.assert_array_equal(back, q.astype(np.float32) * scale)
    assert np.all(np.abs(back - w) <= scale / 2 + 1e-7)
    assert np.all(back[:, 3] == 0)
    with pytest.raises(compact.WeightsError, match="unknown precision 'int4'"):
        compact.encode({"k": w}, "int4")


# --------------------------------------------------------------------------
# Load by name -> lift


@pytest.mark.parametrize("name,source,tolerance", [
    (BASELINE, "baseline_dir", 2e-3), (BASELINE_INT8, "baseline_dir", 3e-2),
    (REPGAN, "repgan_dir", 2e-3)])
def test_lift_by_name_matches_the_source_model(shipped, name, source, tolerance):
    model_dir = getattr(shipped, source)
    task = training.restore_task(str(model_dir))
    lifter = serving.load(name, pretrained_root=str(shipped.root))
    assert isinstance(lifter, serving.KerasLifter) and lifter.backend == "keras"
    x = export.probe_poses(task, 64, seed=3)
    reference = training.predict(task, x)
    got = lifter.lift(x)
    scale = float(np.max(np.abs(reference)))
    assert got.shape == reference.shape and lifter.units == task.normalizer.units
    assert np.max(np.abs(got - reference)) / scale < tolerance
    # The network holds exactly the compacted source weights...
    loaded = pretrained.load(name, str(shipped.root))
    precision = loaded.metadata["weights"]["precision"]
    expected = compact.decode(compact.encode(_source_weights(model_dir, loaded.metadata),
                                             precision))
    weights = inference.weight_arrays(loaded.model)
    assert weights.keys() == expected.keys()
    for key in weights:
        np.testing.assert_array_equal(weights[key], expected[key], err_msg=key)
    # ... and the probe difference in metadata.json is what they give.
    probe = export.probe_poses(task, pack.NUM_PROBE_POSES)
    dist = np.linalg.norm(lifter.lift(probe) - training.predict(task, probe), axis=-1)
    recorded = loaded.metadata["compaction"]["probe"]
    assert recorded["mean_joint_difference"] == pytest.approx(float(dist.mean()), rel=1e-4)
    assert recorded["units"] == task.normalizer.units


def test_float16_is_closer_to_float32_than_int8(shipped):
    f16 = json.loads((shipped.root / BASELINE / "metadata.json").read_text())
    i8 = json.loads((shipped.root / BASELINE_INT8 / "metadata.json").read_text())
    assert f16["compaction"]["probe"]["mean_joint_difference"] < \
        i8["compaction"]["probe"]["mean_joint_difference"]


def test_repgan_ships_its_generator_only(shipped):
    model = json.loads((shipped.root / REPGAN / "model.json").read_text())
    keys = list(model["weights"]["variables"])
    assert keys and all(k.startswith("generator/") for k in keys)
    task = training.restore_task(str(shipped.repgan_dir))
    generator = inference.weight_variables(task.model.generator)
    assert len(keys) == len(generator) < len(inference.weight_variables(task.model))
    lifter = serving.load(REPGAN, pretrained_root=str(shipped.root))
    assert lifter.units == "normalized" and lifter.num_joints_2d == lifter.num_joints_3d == 17
    x = data.synthetic_frames(6, "human36m/gt", seed=2).pose_2d
    out = lifter.lift(x)
    np.testing.assert_allclose(out[:, 0], 0.0, atol=1e-6)  # root-relative
    # The generator alone lifts as the whole trained model (back-projecting its depth).
    assert task.model.geometry == "backproject"
    full = task.model(task.normalizer.normalize_2d(x), training=False).numpy()
    np.testing.assert_allclose(out, full, atol=0.02 * np.abs(full).max())
    copied = task.model.generator_input(task.normalizer.normalize_2d(x)).numpy()
    assert np.abs(out[..., :2] - copied).mean() > 0.01  # x-y are not the 2D's, copied


def test_non_finite_poses_give_nan_and_leave_the_others_alone(shipped):
    lifter = serving.load(BASELINE, pretrained_root=str(shipped.root))
    x = data.synthetic_frames(5, "human36m/sh", seed=4).pose_2d
    bad = x.copy()
    bad[1, 3, 0], bad[3, 0, 1] = np.nan, np.inf
    out = lifter.lift(bad)
    assert np.isnan(out[[1, 3]]).all()
    np.testing.assert_allclose(out[[0, 2, 4]], lifter.lift(x[[0, 2, 4]]), rtol=1e-5, atol=1e-3)
    assert lifter.lift(np.zeros((0, 16, 2))).shape == (0, 17, 3)
    with pytest.raises(ValueError, match=r"NaN or infinite keypoints in 2 of 5 frames"):
        lifter.lift(bad, nan_policy="raise")


def test_layouts_are_mapped_before_lifting(shipped):
    lifter = serving.load(BASELINE, pretrained_root=str(shipped.root))
    rng = np.random.default_rng(1)
    coco = (rng.normal(0, 80, (4, 17, 2)) + [500, 480]).astype(np.float32)
    h36m = formats.to_h36m17(coco, "coco17")
    keep = [skeleton.H36M_17.index(n) for n in H36M16]
    np.testing.assert_allclose(lifter.lift(coco, layout="coco17"), lifter.lift(h36m[:, keep]),
                               rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(lifter.lift(h36m, layout="h36m17"), lifter.lift(h36m[:, keep]),
                               rtol=1e-5, atol=1e-3)
    mpii = np.empty((4, 16, 2), np.float32)
    mpii[:, list(skeleton.MPII_TO_H36M16)] = h36m[:, keep]
    np.testing.assert_allclose(lifter.prepare(mpii, layout="sh16"), h36m[:, keep], atol=1e-4)
    with pytest.raises(ValueError, match="layout coco17 needs 17 joints per frame, got 16"):
        lifter.lift(h36m[:, keep], layout="coco17")


# --------------------------------------------------------------------------
# Camera independence


def _project(pose_3d: np.ndarray, width: int, height: int, focal: float) -> np.ndarray:
    """Pinhole projection with the principal point at the image centre."""
    return (focal * pose_3d[..., :2] / pose_3d[..., 2:] + [width / 2, height / 2]) \
        .astype(np.float32)


def test_one_pose_at_three_image_sizes_lifts_to_the_same_3d(shipped):
    lifter = serving.load(BASELINE, pretrained_root=str(shipped.root))
    frames = data.synthetic_frames(8, "human36m/sh", seed=11)
    pose_3d = frames.pose_3d[:, [skeleton.H36M_17.index(n) for n in H36M16]]  # camera frame, mm
    frame = image_mapping.H36M_FRAME
    mapped, raw = {}, {}
    for w, h in ((640, 480), (1000, 1000), (1920, 1080)):
        # The same camera (Human3.6M's horizontal field of view) at three resolutions.
        pixels = _project(pose_3d, w, h, focal=w * frame.focal_length / frame.width)
        mapped[w] = lifter.lift(pixels, image_size=(w, h))
        raw[w] = lifter.lift(pixels)
    for w in (640, 1920):
        assert np.max(np.linalg.norm(mapped[w] - mapped[1000], axis=-1)) < 1.0
    # Without the mapping the lifts differ: the step is what makes them agree.
    assert np.max(np.linalg.norm(raw[640] - raw[1920], axis=-1)) > 10.0
    # A camera with another field of view, its focal length given.
    wide = _project(pose_3d, 1280, 720, focal=700.0)
    got = lifter.lift(wide, image_size=(1280, 720), focal_length=700.0)
    assert np.max(np.linalg.norm(got - mapped[1000], axis=-1)) < 1.0


def test_image_mapping_is_the_documented_formula():
    frame = image_mapping.H36M_FRAME
    assert (frame.width, frame.height, frame.principal_point) == (1000, 1000, (514.04, 506.70))
    centre = image_mapping.to_training_frame([[960.0, 540.0]], (1920, 1080), frame)
    np.testing.assert_allclose(centre, [frame.principal_point], atol=1e-4)
    # u' = (u - w/2) * 1000/w + cx, v' = (v - h/2) * 1000/w + cy
    got = image_mapping.to_training_frame([[0.0, 1080.0]], (1920, 1080), frame)
    np.testing.assert_allclose(got, [[514.04 - 500.0, 506.70 + 540 * 1000 / 1920]], atol=1e-3)
    got = image_mapping.to_training_frame([[740.0, 240.0]], (640, 480), frame,
                                          focal_length=frame.focal_length / 2)
    np.testing.assert_allclose(got, [[514.04 + 840.0, 506.70]], atol=1e-3)
    assert image_mapping.frame_for({"dataset": "humaneva/gt"}).width == 640
    with pytest.raises(ValueError, match="has no focal length"):
        image_mapping.to_training_frame([[0, 0]], (640, 480), image_mapping.HUMANEVA_FRAME, 500)
    with pytest.raises(ValueError, match="image_size must be two positive numbers"):
        image_mapping.to_training_frame([[0, 0]], (0, 480), frame)
    with pytest.raises(ValueError, match=r"image_size must be \(width, height\)"):
        image_mapping.to_training_frame([[0, 0]], "1920", frame)


# --------------------------------------------------------------------------
# Refusing what cannot be trusted


@pytest.mark.parametrize("victim", pretrained.HASHED_FILES)
def test_changed_or_corrupted_files_are_refused(shipped, tmp_path, victim):
    copy = tmp_path / BASELINE
    shutil.copytree(shipped.root / BASELINE, copy)
    path = copy / victim
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # one flipped bit
    path.write_bytes(bytes(raw))
    with pytest.raises(pretrained.PretrainedError,
                       match=rf"{victim} is corrupted or was changed: sha256") as info:
        serving.load(str(copy))
    assert "\n" not in str(info.value)
    with pytest.raises(pretrained.PretrainedError, match="is corrupted"):
        serving.load(BASELINE, pretrained_root=str(tmp_path))


def test_weights_that_do_not_fit_the_model_are_refused(shipped, tmp_path):
    copy = tmp_path / BASELINE
    shutil.copytree(shipped.root / BASELINE, copy)
    stored = compact.load(str(copy / "weights.npz"))
    dropped = sorted(stored)[0]
    del stored[dropped]
    compact.save(str(copy / "weights.npz"), stored)
    meta = json.loads((copy / "metadata.json").read_text())
    meta["sha256"]["weights.npz"] = pretrained.sha256(str(copy / "weights.npz"))
    (copy / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(pretrained.PretrainedError, match=rf"does not match the model: missing "
                                                         rf"{dropped}"):
        pretrained.load(str(copy))
    meta["format_version"] = pretrained.FORMAT_VERSION + 1
    (copy / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(pretrained.PretrainedError, match="upgrade tfpose"):
        pretrained.load(str(copy))


def test_unknown_names_are_one_line_errors_listing_the_shipped_models(shipped, tmp_path):
    names = ", ".join(sorted([BASELINE, BASELINE_INT8, REPGAN]))
    with pytest.raises(serving.ExportError, match=rf"'asn-h36m-gt' is neither a shipped "
                                                  rf"pretrained model nor an existing "
                                                  rf"directory; shipped models: {names}$"):
        serving.load("asn-h36m-gt", pretrained_root=str(shipped.root))
    with pytest.raises(serving.ExportError, match="no pretrained models are shipped yet"):
        serving.load("asn-h36m-gt", pretrained_root=str(tmp_path))
    with pytest.raises(pretrained.PretrainedError, match=rf"unknown pretrained model 'x'; "
                                                         rf"shipped models: {names}"):
        pretrained.load("x", str(shipped.root))
    with pytest.raises(serving.ExportError, match=r"runs in Keras; .*--pretrained="):
        serving.load(BASELINE, backend="tflite", pretrained_root=str(shipped.root))


def test_available_lists_complete_model_folders_only(shipped, tmp_path):
    shutil.copytree(shipped.root / REPGAN, tmp_path / REPGAN)
    shutil.copytree(shipped.root / REPGAN, tmp_path / ".repgan.tmp-1234")  # a pack under way
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "model.json").write_text("{}")
    assert pretrained.available(str(tmp_path)) == [REPGAN]
    assert pretrained.available(str(tmp_path / "missing")) == []


# --------------------------------------------------------------------------
# Serving by name in a fresh interpreter: no training code


def test_serving_by_name_imports_no_training_code(shipped, tmp_path):
    x = data.synthetic_frames(20, "human36m/sh", seed=8).pose_2d
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(f"""
        import json, sys
        import numpy as np
        from tfpose import serving
        lifter = serving.load("{BASELINE}")
        np.save(r"{tmp_path / 'out.npy'}", lifter.lift(np.load(r"{tmp_path / 'x.npy'}")))
        print(json.dumps(sorted(m for m in sys.modules if m.startswith("tfpose"))))
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=_env(shipped.root),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "tfpose.pretrained.inference" in loaded and "tfpose.models" in loaded
    leaked = [m for m in loaded if m.startswith(TRAINING_MODULES)]
    assert not leaked, f"serving a pretrained model imported training code: {leaked}"
    expected = serving.load(BASELINE, pretrained_root=str(shipped.root)).lift(x)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, rtol=1e-5, atol=1e-3)


# --------------------------------------------------------------------------
# Export, pack CLI, example


def test_export_pretrained_cli_writes_saved_model_and_tflite(shipped, tmp_path):
    out = tmp_path / "export"
    _run([sys.executable, "-m", "tfpose.export", f"--pretrained={REPGAN}", f"--out={out}",
          "--nofloat16", "--noint8"], shipped.root)
    meta = serving.read_metadata(str(out))
    shipped_meta = json.loads((shipped.root / REPGAN / "metadata.json").read_text())
    assert meta["pretrained"]["name"] == REPGAN
    assert meta["pretrained"]["sha256"] == shipped_meta["sha256"]
    assert meta["model_kind"] == "repgan" and meta["units"] == "normalized"
    assert sorted(meta["files"]) == ["saved_model", "tflite"]
    x = data.synthetic_frames(30, "human36m/gt", seed=6).pose_2d
    reference = serving.load(REPGAN, pretrained_root=str(shipped.root)).lift(x)
    scale = float(np.max(np.abs(reference)))
    for backend, tolerance in (("saved_model", 1e-4), ("tflite", 1e-3)):
        got = serving.load(str(out), backend).lift(x)
        assert np.max(np.abs(got - reference)) / scale < tolerance, backend


def test_export_pretrained_baseline_keeps_the_input_frame(shipped, tmp_path):
    out = export.export_pretrained(BASELINE, str(tmp_path / "e"), float16=False, int8=False,
                                   root_dir=str(shipped.root))
    lifter = serving.load(out)
    assert lifter.metadata["input_frame"] == image_mapping.H36M_FRAME.to_dict()
    x = data.synthetic_frames(10, "human36m/sh", seed=9).pose_2d
    keras_lifter = serving.load(BASELINE, pretrained_root=str(shipped.root))
    np.testing.assert_allclose(lifter.lift(x, image_size=(1920, 1080)),
                               keras_lifter.lift(x, image_size=(1920, 1080)), rtol=1e-4,
                               atol=1e-2)


def test_pack_cli_is_deterministic_and_list_reports(shipped, tmp_path):
    root = tmp_path / "root"
    proc = _run([sys.executable, "-m", "tfpose.pretrained", "pack",
                 f"--model_dir={shipped.baseline_dir}", f"--name={BASELINE}",
                 "--precision=float16", "--nomeasure", f"--root={root}"], shipped.root)
    assert f"packed {shipped.baseline_dir} as {BASELINE}" in proc.stdout
    # The same weights packed twice give the same bytes.
    for name in ("weights.npz", "normalization.json"):
        assert pretrained.sha256(str(root / BASELINE / name)) == \
            pretrained.sha256(str(shipped.root / BASELINE / name))
    meta = json.loads((root / BASELINE / "metadata.json").read_text())
    assert "--nomeasure" in meta["pack_command"]
    listed = _run([sys.executable, "-m", "tfpose.pretrained", "list"], root).stdout
    assert listed.strip() == (f"{BASELINE}: baseline on human36m/sh, 16 -> 17 joints, mm, "
                              f"float16; not measured")
    bad = subprocess.run([sys.executable, "-m", "tfpose.pretrained", "pack",
                          f"--model_dir={tmp_path}", "--name=Bad Name", "--nomeasure"],
                         cwd=REPO, env=_env(root), capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "bad pretrained model name 'Bad Name'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_example_lifts_a_coco_file_to_a_gif(shipped, tmp_path):
    rng = np.random.default_rng(3)
    results = [{"image_id": i, "category_id": 1, "score": 0.9,
                "keypoints": np.concatenate([rng.normal(0, 50, (17, 2)) + [900, 560],
                                             np.full((17, 1), 0.95)], 1).ravel().tolist()}
               for i in range(3)]
    (tmp_path / "results.json").write_text(json.dumps(results))
    gif = tmp_path / "lifted.gif"
    _run([sys.executable, "examples/lift_pretrained.py", f"--model={BASELINE}",
          f"--input={tmp_path / 'results.json'}", "--image_size=1920x1080", f"--gif={gif}"],
         shipped.root)
    assert gif.read_bytes()[:6] in (b"GIF87a", b"GIF89a")
    det = formats.read_detections(str(tmp_path / "results.json"))
    expected = serving.load(BASELINE, pretrained_root=str(shipped.root)).lift(
        det.keypoints, layout="h36m17", image_size=(1920, 1080))
    np.testing.assert_allclose(np.load(tmp_path / "lifted.npy"), expected, rtol=1e-5, atol=1e-3)


# --------------------------------------------------------------------------
# Measured on real data: pack records protocols, evaluate.py reproduces them


@pytest.fixture(scope="module")
def h36m_s9(shared_data, tmp_path_factory):
    """(data_dir, manual_dir): TFDS builds only S9 on first use (quick)."""
    return tmp_path_factory.mktemp("tfds_s9"), shared_data / "h36m"


def test_pack_measures_and_evaluate_reproduces_the_metadata(shipped, h36m_s9, tmp_path):
    data_dir, manual_dir = h36m_s9
    root = tmp_path / "root"
    folder = pack.pack(str(shipped.baseline_dir), "measured", "auto", root_dir=str(root),
                       data_dir=str(data_dir), manual_dir=str(manual_dir), subjects=["S9"],
                       frame_stride=50)
    meta = json.loads(pathlib.Path(folder, "metadata.json").read_text())
    ev, comp = meta["evaluation"], meta["compaction"]
    assert (ev["dataset"], ev["split"], ev["subjects"], ev["frame_stride"]) == \
        ("human36m/sh", "test", ["S9"], 50)
    assert ev["protocol1"]["metric"] == "mpjpe" and ev["protocol2"]["metric"] == "p_mpjpe"
    # auto: int8 when its measured cost is under the limit, else float16.
    assert comp["tried"][0]["precision"] == "int8"
    first_ok = next(t for t in comp["tried"] if max(map(abs, t["cost_mm"].values())) < 0.5)
    precision = json.loads(pathlib.Path(folder, "model.json").read_text())["weights"]["precision"]
    assert precision == first_ok["precision"] == comp["precision"]
    for p in ("protocol1", "protocol2"):
        assert comp["cost_mm"][p] == pytest.approx(ev[p]["avg"] - comp["float32"][p])
    out = tmp_path / "results.json"
    proc = _run([sys.executable, "evaluate.py", "--pretrained=measured",
                 f"--data_dir={data_dir}", f"--manual_dir={manual_dir}", "--subjects=S9",
                 "--frame_stride=50", f"--output={out}"], root)
    assert "reproduced (tolerance 0.1 mm)" in proc.stdout and "NOT" not in proc.stdout
    check = json.loads(out.read_text())["pretrained"]["check"]
    assert check["reproduced"] and all(abs(d) <= 0.1 for d in check["difference_mm"].values())
    # Other frames: reported, not compared.
    results, text = evaluation.run(pretrained=folder, data_dir=str(data_dir),
                                   manual_dir=str(manual_dir), subjects=["S9"],
                                   frame_stride=100, output=str(tmp_path / "r100.json"))
    assert results["pretrained"]["check"]["comparable"] is False
    assert "not compared with metadata.json: different frames" in text
    # The same frames with other inputs (test-time flip): not compared either.
    results, text = evaluation.run(pretrained=folder, data_dir=str(data_dir),
                                   manual_dir=str(manual_dir), subjects=["S9"],
                                   frame_stride=50, test_flip=True,
                                   output=str(tmp_path / "flip.json"))
    check = results["pretrained"]["check"]
    assert check["comparable"] is False and "inputs: test_flip False in the metadata, True" in \
        check["reason"]


SHIPPED_NAMES = pretrained.available(os.path.dirname(pretrained.__file__))


@pytest.mark.parametrize("name", SHIPPED_NAMES or [pytest.param(None, marks=pytest.mark.skip(
    reason="no model ships in tfpose/pretrained"))])
def test_shipped_models_are_measured_on_the_whole_test_split_and_intact(name):
    """What docs/PRETRAINED.md promises of each shipped folder: files that hash
    to metadata.json, protocols measured on every S9/S11 test frame with the
    shipped weights, a compaction cost under the limit, the licence note."""
    folder = os.path.join(os.path.dirname(pretrained.__file__), name)
    meta = json.loads(pathlib.Path(folder, pretrained.METADATA_FILE).read_text())
    pretrained.verify(folder, meta)
    ev = meta["evaluation"]
    assert (ev["split"], sorted(ev["subjects"]), ev["frame_stride"]) == \
        ("test", ["S11", "S9"], 1)
    assert ev["dataset"] == meta["dataset"] and ev["num_frames"] > 500_000
    assert max(map(abs, meta["compaction"]["cost_mm"].values())) < pack.MAX_COMPACTION_COST_MM
    for p in ("protocol1", "protocol2"):
        per_action = {a: v for a, v in ev[p]["per_action"].items() if a != "Avg"}
        assert len(per_action) == 15
        assert ev[p]["avg"] == pytest.approx(np.mean(list(per_action.values())), abs=1e-6)
        assert ev[p]["per_action"].get("Avg", ev[p]["avg"]) == pytest.approx(ev[p]["avg"])
    assert meta["licence"] == pretrained.LICENCE_NOTES[meta["dataset"].split("/")[0]]


def test_shipped_models_fit_the_size_budget():
    base = os.path.dirname(pretrained.__file__)
    total = sum(os.path.getsize(os.path.join(base, n, f)) for n in SHIPPED_NAMES
                for f in os.listdir(os.path.join(base, n)))
    assert total <= pack.MAX_TOTAL_BYTES


# --------------------------------------------------------------------------
# Backend "auto" of a pretrained model: small calls move to an in-memory TFLite


def _rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("name", [BASELINE, REPGAN])
def test_auto_converts_small_calls_to_tflite_with_the_same_results(shipped, name):
    lifter = serving.load(name, pretrained_root=str(shipped.root))
    plain = serving.load(name, backend="keras", pretrained_root=str(shipped.root))
    assert "backend auto(tflite for <= 64 poses" in repr(lifter)
    assert repr(plain).endswith("backend keras)")
    j2 = lifter.num_joints_2d
    x = data.synthetic_frames(200, "human36m/sh" if j2 == 16 else "human36m/gt",
                              seed=5).pose_2d
    # A few small calls stay in Keras (a script lifting once never pays the conversion).
    for i in range(serving.AUTO_CONVERT_AFTER - 1):
        np.testing.assert_array_equal(lifter.lift(x[i:i + 1]), plain.lift(x[i:i + 1]))
        assert lifter.backend == "keras"
    for n in (1, serving.AUTO_SMALL_BATCH):
        got = lifter.lift(x[:n])
        assert lifter.backend == "tflite", n
        assert _rel_diff(got, plain.lift(x[:n])) < 1e-5, n
    got = lifter.lift(x)  # a large call: Keras, the very same numbers
    assert lifter.backend == "keras"
    np.testing.assert_array_equal(got, plain.lift(x))
    # The NaN contract holds on the TFLite route too.
    bad = x[:5].copy()
    bad[1, 3, 0], bad[3, 0, 1] = np.nan, np.inf
    out = lifter.lift(bad)
    assert lifter.backend == "tflite" and np.isnan(out[[1, 3]]).all()
    assert _rel_diff(out[[0, 2, 4]], plain.lift(x[[0, 2, 4]])) < 1e-5
    # backend="keras" never converts.
    for _ in range(serving.AUTO_CONVERT_AFTER + 1):
        plain.lift(x[:1])
    assert plain.backend == "keras"


def test_a_failed_conversion_warns_and_keeps_keras(shipped, monkeypatch):
    def broken(fn):
        raise RuntimeError("converter says no\nsecond line")

    monkeypatch.setattr(serving, "tflite_from_function", broken)
    lifter = serving.load(BASELINE, pretrained_root=str(shipped.root))
    x = data.synthetic_frames(1, "human36m/sh", seed=6).pose_2d
    with pytest.warns(RuntimeWarning, match=r"TFLite conversion of baseline-sh failed "
                                            r"\(converter says no\); small batches stay in Keras"):
        for _ in range(serving.AUTO_CONVERT_AFTER):
            lifter.lift(x)
    assert lifter.backend == "keras" and not lifter.convert_to_tflite()


def test_auto_conversion_in_a_fresh_interpreter_imports_no_training_code(shipped, tmp_path):
    x = data.synthetic_frames(100, "human36m/sh", seed=9).pose_2d
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(f"""
        import json, sys
        import numpy as np
        from tfpose import serving
        lifter = serving.load("{BASELINE}")
        x = np.load(r"{tmp_path / 'x.npy'}")
        assert lifter.convert_to_tflite()
        small = lifter.lift(x[:1])
        backends = [lifter.backend]
        large = lifter.lift(x)
        backends.append(lifter.backend)
        np.save(r"{tmp_path / 'out.npy'}", np.concatenate([small, large]))
        print(json.dumps([backends, sorted(m for m in sys.modules if m.startswith("tfpose"))]))
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=_env(shipped.root),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    backends, loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert backends == ["tflite", "keras"]
    leaked = [m for m in loaded if m.startswith(TRAINING_MODULES)]
    assert not leaked, f"converting a pretrained model imported training code: {leaked}"
    plain = serving.load(BASELINE, backend="keras", pretrained_root=str(shipped.root))
    out = np.load(tmp_path / "out.npy")
    assert _rel_diff(out[:1], plain.lift(x[:1])) < 1e-5
    np.testing.assert_array_equal(out[1:], plain.lift(x))
