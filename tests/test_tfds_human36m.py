"""Tests of the TFDS builders on small synthetic manual dirs and on real data.

Synthetic layouts are written with h5py/numpy in the exact shapes of the two
releases, with cameras simple enough that the expected 3D and 2D can be
computed by hand here (independently of tfpose.camera).
"""

from __future__ import annotations

import logging
import os
import pathlib

import h5py
import numpy as np
import pytest
import tensorflow_datasets as tfds

import tfds_human36m as th
from tfds_human36m import human36m as h36m_mod
from tfds_human36m import humaneva_cameras as hec
from tfpose import camera as camera_lib
from tfpose import skeleton
from tfpose.actions import H36M_ACTIONS

CAM_IDS = ("54138969", "55011271", "58860488", "60457274")
SUBJECTS = ("S1", "S5", "S9", "S11")  # two per split
F, C = (1000.0, 1010.0), (500.0, 505.0)
DEPTH = 5000.0


# -- synthetic Human3.6M (3d-pose-baseline layout) --------------------------

def _cam_T(i):
    """Camera centre (world, mm): identity rotation, so X_cam = X - T."""
    return np.array([100.0 * i, -50.0 * i, -DEPTH])


def _write_cameras(path, subjects=SUBJECTS):
    with h5py.File(path, "w") as f:
        for s in subjects:
            for i, cam_id in enumerate(CAM_IDS):
                g = f.create_group(f"subject{s[1:]}/camera{i + 1}")
                g["R"] = np.eye(3)  # stored transposed; identity either way
                g["T"] = _cam_T(i).reshape(3, 1)
                g["f"] = np.reshape(F, (2, 1))
                g["c"] = np.reshape(C, (2, 1))
                g["k"] = np.zeros((3, 1))
                g["p"] = np.zeros((2, 1))
                g["Name"] = np.array([ord(ch) for ch in cam_id], np.float64).reshape(-1, 1)


def _world_pose(num_frames, seed):
    """(T, 32, 3) world mm within +-800 mm of the origin."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-800, 800, size=(num_frames, 32, 3))


def _write_pose3d(path, world):
    with h5py.File(path, "w") as f:
        f["3D_positions"] = world.reshape(len(world), 96).T


def _write_dets(path, num_frames, seed, joints=16):
    with h5py.File(path, "w") as f:
        f["poses"] = np.random.default_rng(seed).uniform(0, 1000, (num_frames, joints, 2))


# (subject, file action, subaction or None, frames); detections for all cameras
# unless listed in _NO_DETS; _GAPS have detections but no 3D.
_SEQS = [("S1", "Walking", None, 6), ("S1", "Walking", "1", 7),
         ("S5", "TakingPhoto", None, 5), ("S5", "Eating", "2", 4),
         ("S9", "Walking", None, 8), ("S9", "Sitting", "1", 5),
         ("S11", "Walking", None, 6), ("S11", "Directions", None, 5)]
_GAPS = [("S9", "Discussion", "1", 5)]
_NO_DETS = {("S11", "Directions", None, "54138969")}


def make_h36m(root: pathlib.Path) -> dict:
    """Writes the layout; returns {(subject, action, sub): world (T, 32, 3)}."""
    root.mkdir(parents=True, exist_ok=True)
    _write_cameras(root / "cameras.h5")
    worlds = {}
    for n, (s, action, sub, t) in enumerate(_SEQS + _GAPS):
        pose_dir = root / s / "MyPoses" / "3D_positions"
        sh_dir = root / s / "StackedHourglass"
        pose_dir.mkdir(parents=True, exist_ok=True)
        sh_dir.mkdir(parents=True, exist_ok=True)
        if (s, action, sub, t) not in _GAPS:
            world = _world_pose(t, n)
            _write_pose3d(pose_dir / (f"{action} {sub}.h5" if sub else f"{action}.h5"), world)
            worlds[(s, action, sub)] = world
        for cam in CAM_IDS:
            if (s, action, sub, cam) not in _NO_DETS:
                name = f"{action}_{sub}.{cam}.h5" if sub else f"{action}.{cam}.h5"
                _write_dets(sh_dir / name, t, 100 * n + CAM_IDS.index(cam))
    return worlds


@pytest.fixture(scope="module")
def h36m_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("h36m_manual")
    return root, make_h36m(root)


def _examples(builder, split):
    return list(tfds.as_numpy(builder.as_dataset(split=split)))


def _text(x):
    return x.decode() if isinstance(x, bytes) else str(x)


def assert_nothing_prepared(name, data_dir, subjects=None):
    b = th.builder(name, data_dir=str(data_dir), subjects=subjects)
    assert not b.is_prepared()
    left = [p for p in pathlib.Path(data_dir).rglob("*")
            if p.name == "dataset_info.json" or p.name.startswith("incomplete")]
    assert not left, left


@pytest.fixture(scope="module")
def built_gt(h36m_dir, tmp_path_factory):
    root, worlds = h36m_dir
    data_dir = tmp_path_factory.mktemp("data_gt")
    b = th.prepare("human36m/gt", manual_dir=str(root), data_dir=str(data_dir), subjects=SUBJECTS)
    return b, worlds


def test_h36m_gt_counts_splits_and_fields(built_gt):
    b, _ = built_gt
    assert b.builder_config.name == "gt_S1_S5_S9_S11"
    assert b.info.splits["train"].num_examples == 4 * 4
    assert b.info.splits["test"].num_examples == 4 * 4  # gt keeps S11's camera without detections
    train, test = _examples(b, "train"), _examples(b, "test")
    assert {_text(e["subject"]) for e in train} == {"S1", "S5"}
    assert {_text(e["subject"]) for e in test} == {"S9", "S11"}
    assert {_text(e["action"]) for e in train} == {"Walking", "Photo", "Eating"}  # TakingPhoto -> Photo
    assert {(_text(e["action"]), _text(e["subaction"])) for e in train} == {
        ("Walking", "0"), ("Walking", "1"), ("Photo", "0"), ("Eating", "2")}
    assert {_text(e["camera_id"]) for e in test} == set(CAM_IDS)
    for e in train + test:
        t = e["pose_3d"].shape[0]
        assert e["pose_2d"].shape == (t, 17, 2) and e["pose_2d"].dtype == np.float32
        assert e["pose_3d"].shape == (t, 17, 3) and e["pose_3d"].dtype == np.float32
        assert e["fps"] == pytest.approx(50.0)
        np.testing.assert_allclose(e["camera_intrinsics"], list(F) + list(C) + [0] * 5)
        big = _text(e["camera_id"]) in ("54138969", "60457274")
        assert tuple(e["image_size"]) == ((1000, 1002) if big else (1000, 1000))


def test_h36m_gt_units_and_projection(built_gt):
    b, worlds = built_gt
    for e in _examples(b, "train") + _examples(b, "test"):
        action = {"Photo": "TakingPhoto"}.get(_text(e["action"]), _text(e["action"]))
        sub = _text(e["subaction"])
        world = worlds[(_text(e["subject"]), action, None if sub == "0" else sub)]
        assert len(world) == len(e["pose_3d"])
        cam_i = CAM_IDS.index(_text(e["camera_id"]))
        expected_3d = world[:, list(skeleton.H36M_32_TO_17)] - _cam_T(cam_i)
        np.testing.assert_allclose(e["pose_3d"], expected_3d, rtol=1e-5, atol=1e-2)
        assert np.all((e["pose_3d"][..., 2] > DEPTH - 900) & (e["pose_3d"][..., 2] < DEPTH + 900))
        uv = expected_3d[..., :2] / expected_3d[..., 2:] * np.array(F) + np.array(C)
        np.testing.assert_allclose(e["pose_2d"], uv, rtol=1e-5, atol=1e-2)


def test_h36m_sh_skips_gaps_and_reorders(h36m_dir, tmp_path, caplog):
    root, _ = h36m_dir
    caplog.set_level(logging.WARNING)
    b = th.prepare("human36m/sh", manual_dir=str(root), data_dir=str(tmp_path), subjects=SUBJECTS)
    assert b.builder_config.name == "sh_S1_S5_S9_S11"
    assert b.info.splits["train"].num_examples == 16
    assert b.info.splits["test"].num_examples == 15  # S11 Directions 54138969 skipped
    test = _examples(b, "test")
    keys = {(_text(e["subject"]), _text(e["action"]), _text(e["camera_id"])) for e in test}
    assert ("S11", "Directions", "54138969") not in keys
    assert ("S11", "Directions", "55011271") in keys
    assert not any(_text(e["action"]) == "Discussion" for e in test)
    log = caplog.text
    assert "S9 Discussion" in log and "no 3D file" in log
    assert "S11 Directions" in log and "54138969" in log and "no detections" in log
    for e in test:
        assert e["pose_2d"].shape[1:] == (16, 2) and e["pose_3d"].shape[1:] == (17, 3)
        if (_text(e["subject"]), _text(e["action"]), _text(e["camera_id"])) == ("S9", "Sitting", "58860488"):
            with h5py.File(root / "S9" / "StackedHourglass" / "Sitting_1.58860488.h5") as f:
                raw = f["poses"][()]
            np.testing.assert_allclose(e["pose_2d"], skeleton.mpii_to_h36m16(raw), rtol=1e-6)
            # h36m16 "Hip" is MPII "Pelvis" (index 6)
            np.testing.assert_allclose(e["pose_2d"][:, 0], raw[:, 6], rtol=1e-6)


def test_restricted_configs_do_not_collide(h36m_dir, tmp_path):
    root, _ = h36m_dir
    b9 = th.prepare("human36m/gt", manual_dir=str(root), data_dir=str(tmp_path), subjects=["S9"])
    assert list(b9.info.splits) == ["test"] and b9.info.splits["test"].num_examples == 8
    full = th.builder("human36m/gt", data_dir=str(tmp_path))
    assert not full.is_prepared() and full.data_dir != b9.data_dir
    # The full config needs every subject folder: a clear error, nothing left.
    with pytest.raises(th.ManualDataError, match="S6"):
        th.prepare("human36m/gt", manual_dir=str(root), data_dir=str(tmp_path))
    assert not th.builder("human36m/gt", data_dir=str(tmp_path)).is_prepared()
    again = th.prepare("human36m/gt", manual_dir="/nonexistent", data_dir=str(tmp_path), subjects=["S9"])
    assert again.is_prepared()  # already built: manual_dir not needed


def test_resolve_manual_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("TFPOSE_H36M_DIR", raising=False)
    default = tmp_path / "downloads" / "manual"
    assert th.resolve_manual_dir("human36m", data_dir=str(tmp_path)) == str(default)
    (default / "humaneva").mkdir(parents=True)
    assert th.resolve_manual_dir("humaneva/gt", data_dir=str(tmp_path)) == str(default / "humaneva")
    monkeypatch.setenv("TFPOSE_H36M_DIR", str(tmp_path / "env"))
    assert th.resolve_manual_dir("human36m/sh", data_dir=str(tmp_path)) == str(tmp_path / "env")
    assert th.resolve_manual_dir("human36m", str(tmp_path / "x"), str(tmp_path)) == str(tmp_path / "x")
    with pytest.raises(ValueError):
        th.resolve_manual_dir("mnist")


def test_env_var_used_by_builder(h36m_dir, tmp_path, monkeypatch):
    root, _ = h36m_dir
    monkeypatch.setenv("TFPOSE_H36M_DIR", str(root))
    b = th.builder("human36m/gt", data_dir=str(tmp_path), subjects=["S11"])
    b.download_and_prepare()  # no manual_dir given anywhere
    assert b.info.splits["test"].num_examples == 8


# -- bad inputs ---------------------------------------------------------------

def _copy_h36m(tmp_path):
    root = tmp_path / "manual"
    make_h36m(root)
    return root


def _fails(name, root, data_dir, match, subjects=SUBJECTS):
    with pytest.raises(ValueError, match=match) as err:
        th.prepare(name, manual_dir=str(root), data_dir=str(data_dir), subjects=subjects)
    assert isinstance(err.value, th.ManualDataError)
    assert_nothing_prepared(name, data_dir, subjects)
    return str(err.value)


def test_missing_manual_dir(tmp_path):
    msg = _fails("human36m/gt", tmp_path / "nowhere", tmp_path / "data", "nowhere")
    assert "does not exist" in msg


def test_missing_cameras_h5(tmp_path):
    root = _copy_h36m(tmp_path)
    (root / "cameras.h5").unlink()
    _fails("human36m/sh", root, tmp_path / "data", "cameras.h5")


def test_truncated_h5(tmp_path):
    root = _copy_h36m(tmp_path)
    path = root / "S5" / "MyPoses" / "3D_positions" / "Eating 2.h5"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _fails("human36m/gt", root, tmp_path / "data", "Eating 2.h5")


@pytest.mark.parametrize("what", ["3d_rows", "3d_name", "det_joints"])
def test_wrong_dataset_shape_or_name(tmp_path, what):
    root = _copy_h36m(tmp_path)
    pose = root / "S9" / "MyPoses" / "3D_positions" / "Walking.h5"
    det = root / "S9" / "StackedHourglass" / "Walking.55011271.h5"
    if what == "3d_rows":
        with h5py.File(pose, "w") as f:
            f["3D_positions"] = np.zeros((95, 8))
        _fails("human36m/gt", root, tmp_path / "data", r"Walking\.h5.*\(96, T\)")
    elif what == "3d_name":
        with h5py.File(pose, "w") as f:
            f["positions"] = np.zeros((96, 8))
        _fails("human36m/gt", root, tmp_path / "data", r"Walking\.h5.*'3D_positions'")
    else:
        _write_dets(det, 8, 0, joints=15)
        _fails("human36m/sh", root, tmp_path / "data", r"Walking\.55011271\.h5.*16")


def test_frame_count_mismatch(tmp_path):
    root = _copy_h36m(tmp_path)
    _write_dets(root / "S1" / "StackedHourglass" / "Walking_1.60457274.h5", 9, 0)
    msg = _fails("human36m/sh", root, tmp_path / "data", "Walking_1.60457274.h5")
    assert "Walking 1.h5" in msg and " 7 " in msg and " 9 " in msg


def test_failure_mid_build_leaves_nothing(tmp_path, monkeypatch):
    """A read error after examples were written must not leave a usable dataset."""
    root = _copy_h36m(tmp_path)
    real = h36m_mod._read_pose3d
    calls = []

    def flaky(path, num_frames):
        calls.append(path)
        if len(calls) == 3:
            raise th.ManualDataError(f"cannot read HDF5 file {path}: simulated")
        return real(path, num_frames)

    monkeypatch.setattr(h36m_mod, "_read_pose3d", flaky)
    _fails("human36m/gt", root, tmp_path / "data", "simulated")
    assert len(calls) == 3


# -- HumanEva -------------------------------------------------------------------

HE_F, HE_C = (700.0, 690.0), (320.0, 240.0)


def make_humaneva(root: pathlib.Path, mismatch=False):
    """Train/S1 and Validate/S1, Validate/S2; 2D = exact pinhole projection."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    seqs = {"Train/S1": {"Walking 1 chunk0": 7, "Box 1 chunk1": 5},
            "Validate/S1": {"Jog 1 chunk0": 6},
            "Validate/S2": {"Gestures 1 chunk2": 4, "ThrowCatch 1 chunk0": 5}}
    p3, p2 = {}, {}
    for key, items in seqs.items():
        extr = hec.extrinsics(key.split("/")[1])
        p3[key], p2[key] = {}, {}
        for name, t in items.items():
            world = rng.uniform(-0.5, 0.5, (t, 15, 3)) + np.array([0.0, 0.0, 1.0])  # metres
            p3[key][name] = world.astype(np.float32)
            views = []
            for cam_id, _, _ in hec.CAMERAS[key.split("/")[1]]:
                R, T = extr[cam_id]
                x = (world * 1000.0 - T) @ R.T
                views.append((x[..., :2] / x[..., 2:] * HE_F + HE_C).astype(np.float32))
            if mismatch and name == "Box 1 chunk1":
                views[1] = views[1][:-1]
            p2[key][name] = views
    np.savez(root / "data_3d_humaneva15.npz", positions_3d=np.array(p3, dtype=object))
    np.savez(root / "data_2d_humaneva15_gt.npz", positions_2d=np.array(p2, dtype=object),
             metadata=np.array({"num_joints": 15}, dtype=object))
    return p3


def test_humaneva_synthetic(tmp_path):
    root = tmp_path / "he"
    p3 = make_humaneva(root)
    b = th.prepare("humaneva/gt", manual_dir=str(root), data_dir=str(tmp_path / "data"))
    assert b.info.splits["train"].num_examples == 2 * 3
    assert b.info.splits["validation"].num_examples == 3 * 3
    train, val = _examples(b, "train"), _examples(b, "validation")
    assert {_text(e["subject"]) for e in train} == {"S1"}
    assert {_text(e["subject"]) for e in val} == {"S1", "S2"}
    assert {_text(e["action"]) for e in val} == {"Jog", "Gestures", "ThrowCatch"}
    assert {_text(e["camera_id"]) for e in val} == {"C1", "C2", "C3"}
    for part, e in [("Train", e) for e in train] + [("Validate", e) for e in val]:
        world = p3[f"{part}/{_text(e['subject'])}"][f"{_text(e['action'])} {_text(e['subaction'])}"]
        assert e["pose_2d"].shape == (len(world), 15, 2) and e["pose_3d"].shape == (len(world), 15, 3)
        # metres -> mm: bone lengths scale by 1000 (rigid transform otherwise)
        d_world = np.linalg.norm(world[:, 1] - world[:, 0], axis=-1)
        d_cam = np.linalg.norm(e["pose_3d"][:, 1] - e["pose_3d"][:, 0], axis=-1)
        np.testing.assert_allclose(d_cam, 1000.0 * d_world, rtol=1e-4)
        assert np.all(e["pose_3d"][..., 2] > 1000.0)  # in front of the camera, mm
        np.testing.assert_allclose(e["camera_intrinsics"][:4], HE_F + HE_C, rtol=1e-3)
        np.testing.assert_allclose(e["camera_intrinsics"][4:], 0.0)
        assert tuple(e["image_size"]) == (640, 480) and e["fps"] == pytest.approx(60.0)


def test_humaneva_unreadable_npz(tmp_path):
    root = tmp_path / "he"
    make_humaneva(root)
    (root / "data_3d_humaneva15.npz").write_bytes(b"PK\x03\x04 this is not a zip")
    _fails("humaneva/gt", root, tmp_path / "data", "data_3d_humaneva15.npz", subjects=None)


def test_humaneva_missing_file(tmp_path):
    root = tmp_path / "he"
    make_humaneva(root)
    (root / "data_2d_humaneva15_gt.npz").unlink()
    _fails("humaneva/gt", root, tmp_path / "data", "data_2d_humaneva15_gt.npz", subjects=None)


def test_humaneva_frame_count_mismatch(tmp_path):
    root = tmp_path / "he"
    make_humaneva(root, mismatch=True)
    msg = _fails("humaneva/gt", root, tmp_path / "data", "frame-count mismatch", subjects=None)
    assert "data_3d_humaneva15.npz" in msg and "data_2d_humaneva15_gt.npz" in msg
    assert "5 3D frames" in msg and "4 2D frames" in msg and "C2" in msg


# -- real data ----------------------------------------------------------------------

def test_real_h36m_sh_subject_s9(shared_data, tmp_path, caplog):
    root = shared_data / "h36m"
    caplog.set_level(logging.WARNING)
    b = th.prepare("human36m/sh", manual_dir=str(root), data_dir=str(tmp_path), subjects=["S9"])
    assert list(b.info.splits) == ["test"]
    examples = _examples(b, "test")
    pose_files = sorted(os.listdir(root / "S9" / "MyPoses" / "3D_positions"))
    assert len(examples) == 4 * len(pose_files)  # every S9 sequence has all 4 detections
    seen = set()
    for e in examples:
        action, sub, cam = _text(e["action"]), _text(e["subaction"]), _text(e["camera_id"])
        assert action in H36M_ACTIONS
        stem3d = f"{action} {sub}" if sub != "0" else action
        stemsh = f"{action}_{sub}" if sub != "0" else action
        with h5py.File(root / "S9" / "MyPoses" / "3D_positions" / f"{stem3d}.h5") as f:
            t3 = f["3D_positions"].shape[1]
        with h5py.File(root / "S9" / "StackedHourglass" / f"{stemsh}.{cam}.h5") as f:
            t2 = f["poses"].shape[0]
        assert e["pose_3d"].shape == (t3, 17, 3) and e["pose_2d"].shape == (t2, 16, 2)
        seen.add((action, sub))
    assert ("Discussion", "1") not in seen and ("Discussion", "2") in seen
    assert "S9 Discussion (subaction 1)" in caplog.text
    # Units: camera-frame mm, a person 2-8 m in front; the projected 3D hip
    # lands near the detected hip (SH and GT agree within tens of pixels).
    e = examples[0]
    assert 2000 < np.median(e["pose_3d"][..., 2]) < 8000
    k = e["camera_intrinsics"]
    uv = camera_lib.project_to_pixels(e["pose_3d"][:, 0], k[:2], k[2:4], k[4:7], k[7:9])
    assert np.median(np.linalg.norm(uv - e["pose_2d"][:, 0], axis=-1)) < 40


def test_real_humaneva_reprojects(shared_data, tmp_path):
    b = th.prepare("humaneva/gt", manual_dir=str(shared_data / "humaneva"), data_dir=str(tmp_path))
    assert b.info.splits["train"].num_examples > 0 and b.info.splits["validation"].num_examples > 0
    for e in _examples(b, "validation"):
        k = e["camera_intrinsics"]
        uv = camera_lib.project_to_pixels(e["pose_3d"], k[:2], k[2:4])
        assert np.median(np.linalg.norm(uv - e["pose_2d"], axis=-1)) < 5.0
        assert 1500 < np.median(e["pose_3d"][..., 2]) < 7000
