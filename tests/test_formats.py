"""Detector files -> H36M-17: each format's real structure, joint tables,
confidence, gaps, people, detection and errors; smoothing; metric scale."""

import json
import pathlib

import numpy as np
import pytest

from tfpose import formats, skeleton

H36M = skeleton.H36M_JOINTS_17
REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

# Each layout's keypoint order, written out here from the detectors' docs
# (not taken from tfpose) so that a wrong table in tfpose would show.
COCO17 = ["nose", "leye", "reye", "lear", "rear", "lsh", "rsh", "lelb", "relb", "lwri", "rwri",
          "lhip", "rhip", "lknee", "rknee", "lank", "rank"]
HALPE26 = COCO17 + ["headtop", "neck", "midhip", "lbigtoe", "rbigtoe", "lsmalltoe",
                    "rsmalltoe", "lheel", "rheel"]
BODY25 = ["nose", "neck", "rsh", "relb", "rwri", "lsh", "lelb", "lwri", "midhip", "rhip", "rknee",
          "rank", "lhip", "lknee", "lank", "reye", "leye", "rear", "lear", "lbigtoe",
          "lsmalltoe", "lheel", "rbigtoe", "rsmalltoe", "rheel"]
COCO18 = ["nose", "neck", "rsh", "relb", "rwri", "lsh", "lelb", "lwri", "rhip", "rknee", "rank",
          "lhip", "lknee", "lank", "reye", "leye", "rear", "lear"]
MEDIAPIPE33 = ["nose", "leye_in", "leye", "leye_out", "reye_in", "reye", "reye_out", "lear",
               "rear", "mouth_l", "mouth_r", "lsh", "rsh", "lelb", "relb", "lwri", "rwri",
               "lpinky", "rpinky", "lindex", "rindex", "lthumb", "rthumb", "lhip", "rhip",
               "lknee", "rknee", "lank", "rank", "lheel", "rheel", "lfoot", "rfoot"]
MPII16 = ["rank", "rknee", "rhip", "lhip", "lknee", "lank", "pelvis", "thorax", "upperneck",
          "headtop", "rwri", "relb", "rsh", "lsh", "lelb", "lwri"]
ALL_ROLES = sorted(set(COCO17 + HALPE26 + BODY25 + MEDIAPIPE33 + MPII16))


def _person(seed=0, shift=(0.0, 0.0)):
    """Pixel positions of every body point; neck, mid-hip and head top are
    deliberately not the midpoints a table would synthesise."""
    rng = np.random.default_rng(seed)
    return {r: rng.uniform(100, 900, 2) + np.asarray(shift) for r in ALL_ROLES}


def _mid(p, a, b):
    return (p[a] + p[b]) / 2


def _expected(p, hip=None, thorax=None, head=None):
    """H36M-17 of person ``p`` by the documented rules; overrides for copied joints."""
    hip = p[hip] if hip else _mid(p, "lhip", "rhip")
    thorax = p[thorax] if thorax else _mid(p, "lsh", "rsh")
    head = p[head] if head else _mid(p, "lear", "rear")
    e = {"Hip": hip, "RHip": p["rhip"], "RKnee": p["rknee"], "RFoot": p["rank"],
         "LHip": p["lhip"], "LKnee": p["lknee"], "LFoot": p["lank"],
         "Spine": (hip + thorax) / 2, "Thorax": thorax, "Neck/Nose": p["nose"], "Head": head,
         "LShoulder": p["lsh"], "LElbow": p["lelb"], "LWrist": p["lwri"],
         "RShoulder": p["rsh"], "RElbow": p["relb"], "RWrist": p["rwri"]}
    return np.array([e[n] for n in H36M])


def _flat(p, order, conf=None):
    """[x, y, c] * J in ``order``; conf: role -> confidence (default 0.9)."""
    conf = conf or {}
    return [float(v) for r in order for v in (*p[r], conf.get(r, 0.9))]


def _write_json(path, obj):
    path.write_text(json.dumps(obj))
    return path


def _openpose_file(path, people):
    _write_json(path, {"version": 1.3, "people": [
        {"person_id": [pid], "pose_keypoints_2d": kps, "face_keypoints_2d": [],
         "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": [],
         "pose_keypoints_3d": [], "face_keypoints_3d": [], "hand_left_keypoints_3d": [],
         "hand_right_keypoints_3d": []} for pid, kps in people]})


# --------------------------------------------------------------------------
# Each format, exact joint correspondence


def test_coco_results_ordered_by_image_id_and_mapped_as_documented(tmp_path):
    people = {i: _person(i) for i in (5, 6, 7)}
    results = [{"image_id": i, "category_id": 1, "keypoints": _flat(people[i], COCO17),
                "score": 0.8} for i in (7, 5, 6)]  # not in frame order
    path = _write_json(tmp_path / "results.json", results)
    det = formats.read_detections(path)
    assert (det.format, det.joint_set, det.model_kind) == ("coco", "coco17", "gt")
    assert det.frame_ids == (5, 6, 7) and det.num_frames == 3 and not det.dropped
    assert det.keypoints.shape == (3, 17, 2) and det.keypoints.dtype == np.float32
    for t, i in enumerate((5, 6, 7)):
        np.testing.assert_allclose(det.keypoints[t], _expected(people[i]), atol=1e-3)
    # The same joints as the array layout coco17 of tfpose.predict.
    coco = np.array([[people[i][r] for r in COCO17] for i in (5, 6, 7)])
    np.testing.assert_allclose(det.keypoints, skeleton.coco_to_h36m17(coco), atol=1e-3)
    assert det.image_size is None


def test_halpe26_copies_head_top_neck_and_hip(tmp_path):
    p = _person(1)
    results = [{"image_id": f"{i}.jpg", "category_id": 1, "keypoints": _flat(p, HALPE26),
                "score": 2.5, "box": [0, 0, 10, 10], "idx": 0} for i in (10, 9, 2)]
    det = formats.read_detections(_write_json(tmp_path / "alphapose-results.json", results))
    assert (det.format, det.joint_set, det.model_kind) == ("halpe", "halpe26", "gt")
    assert det.frame_ids == ("2.jpg", "9.jpg", "10.jpg")  # numbers compared as numbers
    want = _expected(p, hip="midhip", thorax="neck", head="headtop")
    np.testing.assert_allclose(det.keypoints[0], want, atol=1e-3)
    assert not np.allclose(want, _expected(p), atol=1.0)  # the copies differ from midpoints


def test_mpii16_results_map_with_customary_names_and_suit_the_sh_model(tmp_path):
    p = _person(2)
    results = [{"image_id": 0, "category_id": 1, "keypoints": _flat(p, MPII16), "score": 1.0}]
    det = formats.read_detections(_write_json(tmp_path / "mpii.json", results))
    assert (det.format, det.joint_set, det.model_kind) == ("mpii", "mpii16", "sh")
    got = dict(zip(H36M, det.keypoints[0]))
    mpii = np.array([p[r] for r in MPII16])
    h16 = skeleton.mpii_to_h36m16(mpii)
    for name, value in zip(skeleton.H36M_16.joint_names, h16):
        np.testing.assert_allclose(got[name], value, atol=1e-3)
    np.testing.assert_allclose(got["Spine"], p["thorax"], atol=1e-3)
    np.testing.assert_allclose(got["Thorax"], p["upperneck"], atol=1e-3)
    np.testing.assert_allclose(got["Neck/Nose"], _mid(p, "upperneck", "headtop"), atol=1e-3)


def test_openpose_body25_folder_in_file_name_order(tmp_path):
    folder = tmp_path / "json"
    folder.mkdir()
    frames = {n: _person(n) for n in (1, 2, 10)}
    for n, p in frames.items():  # unpadded numbers: 10 must come after 2
        _openpose_file(folder / f"clip_{n}_keypoints.json", [(-1, _flat(p, BODY25))])
    (folder / "notes.txt").write_text("not a frame")
    det = formats.read_detections(folder)
    assert (det.format, det.joint_set, det.model_kind) == ("openpose", "body25", "gt")
    assert det.frame_ids == ("clip_1_keypoints.json", "clip_2_keypoints.json",
                             "clip_10_keypoints.json")
    for t, n in enumerate((1, 2, 10)):
        np.testing.assert_allclose(det.keypoints[t],
                                   _expected(frames[n], hip="midhip", thorax="neck"), atol=1e-3)


def test_openpose_coco18_synthesises_hip_and_copies_neck(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    p = _person(3)
    _openpose_file(folder / "video_000000000000_keypoints.json", [(-1, _flat(p, COCO18))])
    det = formats.read_detections(folder, format="openpose")
    assert det.joint_set == "coco18"
    np.testing.assert_allclose(det.keypoints[0], _expected(p, thorax="neck"), atol=1e-3)
    # A single OpenPose file is a one-frame sequence.
    one = formats.read_detections(folder / "video_000000000000_keypoints.json")
    np.testing.assert_allclose(one.keypoints, det.keypoints)


def test_mediapipe_normalised_landmarks_need_the_image_size(tmp_path):
    w, h = 1280, 720
    people = [_person(s) for s in (4, 5)]

    def landmarks(p, as_list=False):
        out = []
        for r in MEDIAPIPE33:
            x, y = p[r][0] / 1000, p[r][1] / 1000  # fractions of the image
            out.append([x, y, -0.1, 0.95] if as_list else
                       {"x": x, "y": y, "z": -0.1, "visibility": 0.95})
        return out

    def pixels(p):
        return {r: p[r] / 1000 * np.array([w, h]) for r in p}

    path = _write_json(tmp_path / "mp.json", [landmarks(people[0]), landmarks(people[1], True)])
    with pytest.raises(formats.FormatError, match="image size"):
        formats.read_detections(path)
    det = formats.read_detections(path, image_size="1280x720")
    assert (det.format, det.joint_set, det.model_kind) == ("mediapipe", "mediapipe33", "gt")
    assert det.image_size == (w, h) and det.frame_ids == (0, 1)
    for t, p in enumerate(people):
        np.testing.assert_allclose(det.keypoints[t], _expected(pixels(p)), atol=1e-2)
    # The image size from the file; per-frame objects; several people (Tasks API).
    wrapped = _write_json(tmp_path / "mp2.json", {
        "image_width": w, "image_height": h,
        "frames": [{"landmarks": landmarks(people[0])},
                   {"pose_landmarks": [landmarks(people[0]), landmarks(people[1])]}]})
    det2 = formats.read_detections(wrapped)
    assert det2.image_size == (w, h)
    np.testing.assert_allclose(det2.keypoints[0], det.keypoints[0], atol=1e-3)


# --------------------------------------------------------------------------
# Confidence, gaps, people


def _moving_coco(tmp_path, num_frames, conf_of_frame=lambda t: {}, people_of_frame=None):
    """A COCO results file of one person moving at constant velocity."""
    base = _person(7)
    results, truth = [], []
    for t in range(num_frames):
        p = {r: v + np.array([6.0 * t, -3.0 * t]) for r, v in base.items()}
        truth.append(_expected(p))
        results.append({"image_id": t, "category_id": 1, "score": 0.9,
                        "keypoints": _flat(p, COCO17, conf_of_frame(t))})
    return _write_json(tmp_path / "moving.json", results), np.array(truth)


def test_low_confidence_joints_are_interpolated_over_short_gaps(tmp_path):
    gap = {2: {"lwri": 0.1}, 3: {"lwri": 0.05}, 4: {"rknee": 0.0}}
    path, truth = _moving_coco(tmp_path, 8, lambda t: gap.get(t, {}))
    det = formats.read_detections(path, min_confidence=0.3, max_gap=2)
    assert det.num_frames == 8 and not det.dropped
    np.testing.assert_allclose(det.keypoints, truth, atol=1e-3)  # linear motion: exact
    lw, rk = H36M.index("LWrist"), H36M.index("RKnee")
    assert set(zip(*np.nonzero(det.interpolated))) == {(2, lw), (3, lw), (4, rk)}
    assert "3 with interpolated joints" in det.summary()
    # Gaps longer than max_gap are not filled: those frames are left out.
    short = formats.read_detections(path, min_confidence=0.3, max_gap=1)
    assert [(d.index, d.reason) for d in short.dropped] == [(2, "missing LWrist"),
                                                            (3, "missing LWrist")]
    assert short.frame_ids == (0, 1, 4, 5, 6, 7)
    np.testing.assert_array_equal(short.frame_indices, [0, 1, 4, 5, 6, 7])
    assert "2 left out (joints missing: 2)" in short.summary()
    # A lower threshold keeps the joints as detected.
    low = formats.read_detections(path, min_confidence=0.01, max_gap=0)
    assert [d.index for d in low.dropped] == [4]  # confidence 0 is never a detection


def test_gaps_at_the_ends_cannot_be_filled_and_are_reported(tmp_path):
    path, truth = _moving_coco(tmp_path, 6, lambda t: {"lear": 0.0, "rear": 0.0, "leye": 0.0}
                               if t >= 4 else {})
    det = formats.read_detections(path, max_gap=5)
    assert [(d.index, d.frame_id, d.reason) for d in det.dropped] == [
        (4, 4, "missing Head"), (5, 5, "missing Head")]
    np.testing.assert_allclose(det.keypoints, truth[:4], atol=1e-3)


def test_fallback_recipes_fill_joints_the_first_choice_lacks(tmp_path):
    p = _person(8)
    conf = {"lear": 0.0, "nose": 0.1}
    path = _write_json(tmp_path / "r.json", [{"image_id": 1, "category_id": 1, "score": 1.0,
                                              "keypoints": _flat(p, COCO17, conf)}])
    got = dict(zip(H36M, formats.read_detections(path).keypoints[0]))
    np.testing.assert_allclose(got["Head"], p["rear"], atol=1e-3)  # the one ear seen
    np.testing.assert_allclose(got["Neck/Nose"], (got["Thorax"] + got["Head"]) / 2, atol=1e-3)


def test_highest_score_per_frame_or_a_track_id(tmp_path):
    a, b = _person(10), _person(11)
    results = []
    for t in range(4):
        results.append({"image_id": t, "category_id": 1, "keypoints": _flat(a, COCO17),
                        "score": 0.9 if t != 2 else 0.2, "track_id": 1})
        if t != 3:
            results.append({"image_id": t, "category_id": 1, "keypoints": _flat(b, COCO17),
                            "score": 0.5, "track_id": 2})
    path = _write_json(tmp_path / "tracked.json", results)
    best = formats.read_detections(path)
    np.testing.assert_allclose(best.keypoints[[0, 1, 3]], [_expected(a)] * 3, atol=1e-3)
    np.testing.assert_allclose(best.keypoints[2], _expected(b), atol=1e-3)  # b scores higher
    tracked = formats.read_detections(path, person=2, max_gap=0)
    np.testing.assert_allclose(tracked.keypoints, [_expected(b)] * 3, atol=1e-3)
    assert [(d.index, d.reason) for d in tracked.dropped] == [(3, "track 2 not in the frame")]
    with pytest.raises(formats.FormatError, match="track ids in the file: 1, 2"):
        formats.read_detections(path, person=5)


def test_person_needs_track_ids_and_openpose_person_id_is_one(tmp_path):
    folder = tmp_path / "op"
    folder.mkdir()
    a, b = _person(12), _person(13)
    for t in range(3):
        _openpose_file(folder / f"f_{t:04d}_keypoints.json",
                       [(0, _flat(a, BODY25)), (3, _flat(b, BODY25, {"nose": 0.2}))])
    det = formats.read_detections(folder, person=3, min_confidence=0.1)
    np.testing.assert_allclose(det.keypoints[0], _expected(b, hip="midhip", thorax="neck"),
                               atol=1e-3)
    # Without a person: the higher mean confidence (OpenPose gives no score).
    det = formats.read_detections(folder, min_confidence=0.1)
    np.testing.assert_allclose(det.keypoints[0], _expected(a, hip="midhip", thorax="neck"),
                               atol=1e-3)
    untracked = tmp_path / "untracked"
    untracked.mkdir()
    _openpose_file(untracked / "x_keypoints.json", [(-1, _flat(a, BODY25))])
    with pytest.raises(formats.FormatError, match="has none; leave person unset"):
        formats.read_detections(untracked, person=0)


def test_frames_without_anybody_are_gaps(tmp_path):
    folder = tmp_path / "op"
    folder.mkdir()
    p = _person(14)
    for t in range(5):
        shifted = {r: v + 10.0 * t for r, v in p.items()}
        _openpose_file(folder / f"v_{t:012d}_keypoints.json",
                       [] if t in (1, 4) else [(-1, _flat(shifted, BODY25))])
    det = formats.read_detections(folder, max_gap=3)
    assert det.frame_indices.tolist() == [0, 1, 2, 3]
    assert [(d.index, d.reason) for d in det.dropped] == [(4, "no person detected")]
    np.testing.assert_allclose(det.keypoints[1], (det.keypoints[0] + det.keypoints[2]) / 2,
                               atol=1e-3)
    assert det.interpolated[1].all()
    assert "1 left out (no person detected: 1)" in det.summary()


def test_all_frames_incomplete_is_an_error(tmp_path):
    path, _ = _moving_coco(tmp_path, 3, lambda t: {"lwri": 0.0})
    with pytest.raises(formats.FormatError, match="none of the 3 frames has all 17"):
        formats.read_detections(path)


# --------------------------------------------------------------------------
# Detection and errors


def test_format_detection(tmp_path):
    p = _person(0)
    coco = _write_json(tmp_path / "c.json", [{"image_id": 0, "keypoints": _flat(p, COCO17)}])
    halpe = _write_json(tmp_path / "h.json", [{"image_id": 0, "keypoints": _flat(p, HALPE26)}])
    mpii = _write_json(tmp_path / "m.json", [{"image_id": 0, "keypoints": _flat(p, MPII16)}])
    mp = _write_json(tmp_path / "mp.json", [None, [{"x": 0.5, "y": 0.5}] * 33])
    folder = tmp_path / "op"
    folder.mkdir()
    _openpose_file(folder / "a_keypoints.json", [(-1, _flat(p, BODY25))])
    got = [formats.detect_format(x) for x in (coco, halpe, mpii, mp, folder,
                                              folder / "a_keypoints.json")]
    assert got == ["coco", "halpe", "mpii", "mediapipe", "openpose", "openpose"]


@pytest.mark.parametrize("content,kwargs,message", [
    ('{"frames_2d": [[1, 2]]}', {}, "cannot tell the detector format.*pass format="),
    ("[[1, 2], [3, 4]]", {}, "cannot tell the detector format"),
    ("{not json", {}, "not valid JSON"),
    ("", {}, "the file is empty"),
    ('[{"image_id": 0, "keypoints": [1, 2, 0.5]}]', {}, "1 keypoints per detection"),
    ('[{"image_id": 0, "keypoints": [1, 2, 0.5, 4]}]', {"format": "coco"}, "not a multiple of 3"),
    ('[{"image_id": 0, "keypoints": ' + json.dumps([1.0] * 51) + "}]", {"format": "halpe"},
     "format=halpe was asked for, but the detections have 17 keypoints"),
    ('[{"image_id": 0, "keypoints": [1, 2, 1]}]', {"format": "yolo"}, "unknown format 'yolo'"),
    ('[{"image_id": 0, "keypoints": ' + json.dumps([1.0] * 51) + "}]", {"image_size": "big"},
     "image_size: expected width and height"),
    ('[[' + ", ".join(['{"x": 0.5, "y": 0.5}'] * 32) + "]]", {"format": "mediapipe"},
     "expected 33 MediaPipe pose landmarks, got 32"),
])
def test_bad_files_give_one_line_errors_naming_the_file(tmp_path, content, kwargs, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(formats.FormatError, match=message) as err:
        formats.read_detections(path, **kwargs)
    text = str(err.value)
    assert "\n" not in text and str(path) in text


def test_missing_paths_and_empty_folders(tmp_path):
    with pytest.raises(formats.FormatError, match="no such file or folder"):
        formats.read_detections(tmp_path / "nope.json")
    with pytest.raises(formats.FormatError, match="no OpenPose \\*_keypoints.json"):
        formats.read_detections(tmp_path)
    folder = tmp_path / "mixed"
    folder.mkdir()
    _openpose_file(folder / "a_keypoints.json", [(-1, _flat(_person(0), BODY25))])
    _openpose_file(folder / "b_keypoints.json", [(-1, _flat(_person(0), COCO18))])
    with pytest.raises(formats.FormatError, match="mix BODY_25 and COCO-18"):
        formats.read_detections(folder)


def test_parse_image_size():
    assert formats.parse_image_size("1920x1080") == (1920, 1080)
    assert formats.parse_image_size("640,480") == (640, 480)
    assert formats.parse_image_size([1000, 1002]) == (1000, 1002)
    with pytest.raises(formats.FormatError, match="positive integers"):
        formats.parse_image_size("0x10")


# --------------------------------------------------------------------------
# Gaps and smoothing as functions


def test_fill_gaps_is_linear_inside_and_leaves_the_ends():
    x = np.arange(8, dtype=float)[:, None, None] * np.array([[[2.0, -1.0]]])
    x[[0, 3, 4, 7], 0] = np.nan
    filled, mask = formats.fill_gaps(x, max_gap=2)
    np.testing.assert_allclose(filled[1:7, 0], np.arange(1, 7)[:, None] * [2.0, -1.0])
    assert np.isnan(filled[[0, 7], 0]).all()
    assert mask[:, 0].tolist() == [False, False, False, True, True, False, False, False]


def test_smooth_keeps_steady_motion_and_damps_jitter():
    t = np.arange(20, dtype=float)
    steady = np.stack([t * 3.0, 100 - t], -1)[:, None, :]
    np.testing.assert_allclose(formats.smooth(steady, 5), steady, atol=1e-9)
    jitter = steady + np.where(t % 2, 4.0, -4.0)[:, None, None]
    out = formats.smooth(jitter, 5)
    assert np.abs(out - steady)[2:-2].max() < 1.0 < np.abs(jitter - steady).min()
    np.testing.assert_array_equal(formats.smooth(jitter, 0), jitter)
    with pytest.raises(ValueError, match="odd"):
        formats.smooth(jitter, 4)


def test_smooth_does_not_cross_left_out_frames():
    x = np.zeros((6, 1, 2))
    x[3:] = 100.0  # frames 3.. come after a jump in frame numbers
    out = formats.smooth(x, 3, frame_indices=[0, 1, 2, 10, 11, 12])
    np.testing.assert_array_equal(out, x)
    assert not np.allclose(formats.smooth(x, 3), x)


def test_read_detections_smooth_window(tmp_path):
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 3, (12, len(COCO17), 2))
    base = _person(9)
    results = [{"image_id": t, "category_id": 1, "score": 1.0,
                "keypoints": _flat({r: v + noise[t, COCO17.index(r)] if r in COCO17 else v
                                    for r, v in base.items()}, COCO17)} for t in range(12)]
    path = _write_json(tmp_path / "noisy.json", results)
    raw = formats.read_detections(path)
    smoothed = formats.read_detections(path, smooth_window=5)
    truth = _expected(base)
    assert np.abs(smoothed.keypoints - truth).mean() < 0.6 * np.abs(raw.keypoints - truth).mean()


# --------------------------------------------------------------------------
# Metric scale for RepGAN


def _metric_poses():
    rng = np.random.default_rng(1)
    skel = skeleton.H36M_17
    lengths = rng.uniform(80, 450, skel.num_bones)
    poses = np.zeros((5, 17, 3))
    for j in range(1, 17):
        d = rng.normal(size=(5, 3))
        d /= np.linalg.norm(d, axis=-1, keepdims=True)
        poses[:, j] = poses[:, skel.parents[j]] + d * lengths[j - 1]
    return poses, lengths


def test_to_metric_by_height_and_by_bone_lengths():
    poses, lengths = _metric_poses()
    skel = skeleton.H36M_17
    # Bone j - 1 ends at joint j: spine Hip->Spine->Thorax->Neck/Nose->Head,
    # legs RHip->RKnee->RFoot and LHip->LKnee->LFoot.
    height = lengths[[6, 7, 8, 9]].sum() + (lengths[[1, 2]].sum() + lengths[[4, 5]].sum()) / 2
    np.testing.assert_allclose(formats.skeleton_height(poses), height)
    unitless = poses / np.array([300.0, 410.0, 380.0, 500.0, 250.0])[:, None, None]
    np.testing.assert_allclose(formats.to_metric(unitless, height_mm=height), poses, atol=1e-6)
    np.testing.assert_allclose(formats.to_metric(unitless, bone_lengths_mm=lengths), poses,
                               atol=1e-6)
    assert [b[1] for b in skel.bones] == list(range(1, 17))  # lengths[j - 1] is bone j
    with pytest.raises(ValueError, match="exactly one"):
        formats.to_metric(unitless)
    with pytest.raises(ValueError, match="16 lengths"):
        formats.to_metric(unitless, bone_lengths_mm=[1.0] * 3)


# --------------------------------------------------------------------------
# Tables and their documentation


def test_every_joint_set_table_is_in_docs_formats_md():
    doc = (REPO_ROOT / "docs" / "FORMATS.md").read_text()
    for name in formats.JOINT_SETS:
        assert formats.mapping_markdown(name) in doc, f"docs/FORMATS.md: table of {name} is stale"


def test_tables_cover_every_h36m_joint_with_known_source_joints():
    for js in formats.JOINT_SETS.values():
        assert sorted(t for t, _ in js.to_h36m) == sorted(H36M)
        complete = np.random.default_rng(0).uniform(0, 1000, (3, js.num_joints, 2))
        assert np.isfinite(formats.to_h36m17(complete, js)).all()
