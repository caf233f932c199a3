"""No detector mapping swaps left and right (issue #16).

For every joint set in ``formats.JOINT_SETS`` a synthetic person stands
upright facing the camera, so their left side is on the image's right
(larger x) -- the convention the lifted poses and ``tfpose.bvh`` share. Each
source joint's side comes from the detector's published keypoint layout,
written out below per index independently of ``formats``' name lists and
tables; every H36M joint named L*/R* must land on that side, and every
joint docs/FORMATS.md calls "copied" must be exactly its documented source.
The same is checked through ``read_detections`` on files in each
detector's real layout.
"""

import json
import pathlib
import re

import numpy as np
import pytest

from tfpose import formats

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
H36M = formats.H36M_NAMES

# Side of each keypoint index (L: the person's left, R: right, C: centre),
# from the detectors' own documentation of their output order.
PUBLISHED_SIDES = {
    # COCO: nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles (left first).
    "coco17": "C" + "LR" * 8,
    # Halpe-26: COCO-17, head, neck, hip, big toes, small toes, heels (left first).
    "halpe26": "C" + "LR" * 8 + "CCC" + "LR" * 3,
    # MPII: r ankle, r knee, r hip, l hip, l knee, l ankle, pelvis, thorax,
    # upper neck, head top, r wrist, r elbow, r shoulder, l shoulder, l elbow, l wrist.
    "mpii16": "RRRLLL" + "CCCC" + "RRRLLL",
    # BODY_25: nose, neck, R arm (3), L arm (3), mid hip, R leg (3), L leg (3),
    # r eye, l eye, r ear, l ear, L big toe, L small toe, L heel, R (the same).
    "body25": "CC" + "RRR" + "LLL" + "C" + "RRR" + "LLL" + "RLRL" + "LLL" + "RRR",
    # OpenPose COCO-18: nose, neck, R arm, L arm, R leg, L leg, r eye, l eye, r ear, l ear.
    "coco18": "CC" + "RRR" + "LLL" + "RRR" + "LLL" + "RLRL",
    # MediaPipe Pose: nose, left eye (inner, centre, outer), right eye (3),
    # then left/right pairs: ears, mouth, shoulders, ... foot index.
    "mediapipe33": "C" + "LLL" + "RRR" + "LR" * 13,
}

# Height of a body part in an upright person (image y grows downwards).
_HEIGHTS = (("toe", 850), ("foot", 850), ("eye", 100), ("ear", 105), ("nose", 110),
            ("mouth", 120), ("head", 80), ("neck", 160), ("thorax", 200), ("shoulder", 200),
            ("elbow", 320), ("wrist", 430), ("pinky", 450), ("index", 450), ("thumb", 450),
            ("pelvis", 460), ("hip", 460), ("knee", 640), ("ankle", 820), ("heel", 830))
CENTRE_X = 500.0


def _side_of_name(name: str) -> str:
    """L, R or C as a joint's name says it (``left_knee``, ``LKnee``, ``mouth_left``)."""
    words = name.lower().split("_")
    if "left" in words:
        return "L"
    if "right" in words:
        return "R"
    if name[:1] in "LR" and name[1:2].isupper():
        return name[0]
    return "C"


def _height(name: str) -> float:
    low = name.lower()
    if low in ("midhip", "hip"):
        return 460.0
    for part, y in _HEIGHTS:
        if part in low:
            return float(y)
    raise AssertionError(f"no height for joint {name!r}")


def frontal_pose(joint_set: str) -> np.ndarray:
    """[J, 2] pixels: an upright person facing the camera; a joint's x says its
    published side (left: x > CENTRE_X), and no two joints share a position."""
    js = formats.JOINT_SETS[joint_set]
    sides = PUBLISHED_SIDES[joint_set]
    sign = {"L": 1.0, "R": -1.0, "C": 0.0}
    pose = np.empty((js.num_joints, 2))
    for i, name in enumerate(js.joint_names):
        x = CENTRE_X + (sign[sides[i]] * (60.0 + 2.0 * i) if sides[i] != "C" else 0.25 * i)
        pose[i] = (x, _height(name) + 0.5 * i)
    return pose


def documented_copies(joint_set: str):
    """{H36M joint: source joint} for the rows docs/FORMATS.md marks "copied"."""
    doc = (REPO_ROOT / "docs" / "FORMATS.md").read_text()
    heading = re.search(rf"^###.*\(`{re.escape(joint_set)}`.*$", doc, re.M)
    assert heading, f"docs/FORMATS.md has no section for {joint_set}"
    copies = {}
    for line in doc[heading.end():].split("\n###")[0].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[1] == "copied":
            first = cells[2].split("; else ")[0]
            assert re.fullmatch(r"`[^`]+`", first), line
            copies[cells[0]] = first.strip("`")
    return copies


def assert_sides_and_copies(h36m: np.ndarray, joint_set: str, source: np.ndarray, atol=0.0):
    """``h36m`` [17, 2] from ``source`` [J, 2] (``frontal_pose``)."""
    js = formats.JOINT_SETS[joint_set]
    for j, name in enumerate(H36M):
        if name[0] in "LR" and name[1].isupper():
            left = h36m[j, 0] > CENTRE_X
            assert left == (name[0] == "L"), (
                f"{joint_set}: H36M {name} at x={h36m[j, 0]:.1f} lands on the person's "
                f"{'left' if left else 'right'} (left: x > {CENTRE_X})")
    copies = documented_copies(joint_set)
    assert {n for n in H36M if n[0] in "LR" and n[1].isupper()} <= set(copies), (
        f"{joint_set}: docs/FORMATS.md should list every L*/R* joint as copied")
    for target, src in copies.items():
        np.testing.assert_allclose(
            h36m[H36M.index(target)], source[js.joint_names.index(src)], rtol=0, atol=atol,
            err_msg=f"{joint_set}: H36M {target} is not its documented source {src!r}")
    # Upright: head above thorax above hip above knees above feet.
    y = {n: h36m[H36M.index(n), 1] for n in H36M}
    for upper, lower in (("Head", "Thorax"), ("Thorax", "Hip"), ("Hip", "LKnee"),
                         ("Hip", "RKnee"), ("LKnee", "LFoot"), ("RKnee", "RFoot"),
                         ("LShoulder", "LElbow"), ("RShoulder", "RElbow")):
        assert y[upper] < y[lower], f"{joint_set}: {upper} is not above {lower}"


def test_published_sides_cover_every_joint_set_and_agree_with_the_joint_names():
    assert set(PUBLISHED_SIDES) == set(formats.JOINT_SETS), (
        "add the published keypoint order of every joint set to PUBLISHED_SIDES")
    for name, js in formats.JOINT_SETS.items():
        sides = PUBLISHED_SIDES[name]
        assert len(sides) == js.num_joints, name
        named = "".join(_side_of_name(n) for n in js.joint_names)
        assert named == sides, (f"{name}: joint names put sides at {named}, the published "
                                f"order has {sides}")


@pytest.mark.parametrize("joint_set", sorted(formats.JOINT_SETS))
def test_to_h36m17_keeps_left_left_and_copies_the_documented_joint(joint_set):
    source = frontal_pose(joint_set)
    h36m = formats.to_h36m17(source, joint_set)
    assert np.isfinite(h36m).all()
    assert_sides_and_copies(h36m, joint_set, source)


def _flat(pose: np.ndarray) -> list:
    return np.concatenate([pose, np.ones((len(pose), 1))], axis=1).ravel().tolist()


def _write_real_layout(tmp_path: pathlib.Path, joint_set: str, pose: np.ndarray,
                       frames: int = 3) -> pathlib.Path:
    """``pose`` in ``frames`` frames, written as the detector writes it."""
    if joint_set in ("coco17", "halpe26", "mpii16"):
        path = tmp_path / f"{joint_set}_results.json"
        path.write_text(json.dumps([{"image_id": t, "category_id": 1, "keypoints": _flat(pose),
                                     "score": 0.9} for t in range(frames)]))
    elif joint_set in ("body25", "coco18"):
        path = tmp_path / f"openpose_{joint_set}"
        path.mkdir()
        for t in range(frames):
            (path / f"video_{t:012d}_keypoints.json").write_text(json.dumps(
                {"version": 1.3, "people": [{"person_id": [-1],
                                             "pose_keypoints_2d": _flat(pose)}]}))
    else:
        width, height = 1000, 1000
        landmarks = [{"x": x / width, "y": y / height, "z": 0.0, "visibility": 1.0}
                     for x, y in pose]
        path = tmp_path / "mediapipe.json"
        path.write_text(json.dumps({"image_width": width, "image_height": height,
                                    "frames": [{"landmarks": landmarks}] * frames}))
    return path


@pytest.mark.parametrize("joint_set", sorted(formats.JOINT_SETS))
def test_read_detections_keeps_left_left_in_each_real_file_layout(tmp_path, joint_set):
    source = frontal_pose(joint_set)
    path = _write_real_layout(tmp_path, joint_set, source)
    det = formats.read_detections(path)
    assert det.joint_set == joint_set and det.num_frames == 3 and not det.dropped
    for frame in det.keypoints:
        assert_sides_and_copies(frame, joint_set, source, atol=1e-3)  # float32 pixels
