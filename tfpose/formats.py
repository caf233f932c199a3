"""Keypoint files written by 2D detectors -> H36M-17 keypoints ready to lift.

Users bring detector output, not Human3.6M arrays. This module reads

* ``coco`` -- COCO keypoint results JSON (detectron2, MMPose, YOLO-pose,
  AlphaPose with a COCO model): a list of ``{"image_id", "category_id",
  "keypoints": [x, y, v] * 17, "score"}``; frames ordered by ``image_id``;
* ``halpe`` -- the same list with 26 keypoints (AlphaPose Halpe-26);
* ``mpii`` -- the same list with 16 MPII keypoints (e.g. MMPose MPII models);
* ``openpose`` -- a folder of ``*_keypoints.json`` (one per frame, in
  file-name order, numbers compared as numbers) or one such file, with
  ``people[].pose_keypoints_2d`` in BODY_25 or COCO-18 layout;
* ``mediapipe`` -- MediaPipe Pose's 33 landmarks per frame, normalised to
  the image (x / width, y / height) with a visibility; pixels need the image
  size (from the file's ``image_width``/``image_height``, else the caller).

and maps each onto the 17 H36M joints with a table (``JOINT_SETS``, rendered
in docs/FORMATS.md by ``mapping_markdown``): each H36M joint lists recipes
in preference order, each recipe a weighted sum of source joints, and takes
the first whose joints were all detected in that frame. Then joints under
``min_confidence`` are missing, gaps up to ``max_gap`` frames are filled by
linear interpolation in time, and frames that still lack a joint are left
out and reported (``Detections.dropped``, ``Detections.summary()``).

The arguments of ``read_detections`` map 1:1 onto the predict CLI's flags
(``--format``, ``--image_size``, ``--min_confidence``, ``--person``,
``--max_gap``, ``--smooth``). Writing the lifted 3D poses as JSON/NPZ is
``tfpose.predict.write_output``'s job; ``to_metric`` gives RepGAN's
unit-less output a scale in millimetres.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import math
import os
import re
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from tfpose import skeleton as skeleton_lib

H36M_NAMES = skeleton_lib.H36M_JOINTS_17
FORMATS = ("coco", "halpe", "mpii", "openpose", "mediapipe")
DEFAULT_MIN_CONFIDENCE = 0.3
DEFAULT_MAX_GAP = 10
MAX_IMAGE_SIZE = 100_000  # pixels a side: larger is a typo, not a camera

# A recipe term names a source joint, or an H36M joint already mapped
# (prefix ``H36M_REF``), with its weight; a recipe's weights sum to 1.
H36M_REF = "h36m:"
Recipe = Tuple[Tuple[str, float], ...]


class FormatError(ValueError):
    """A detector file that cannot be read as asked; the message names the file."""


# --------------------------------------------------------------------------
# Joint sets and their mapping tables


@dataclasses.dataclass(frozen=True)
class JointSet:
    """A detector's keypoint layout and how each H36M-17 joint is made from it.

    ``to_h36m`` holds, for every H36M joint, its recipes in preference order;
    ``model_kind`` is the shipped model this input suits: "gt" (the model
    trained on clean 2D keypoints) or "sh" (trained on Stacked Hourglass /
    MPII detections).
    """

    name: str
    title: str
    joint_names: Tuple[str, ...]
    to_h36m: Tuple[Tuple[str, Tuple[Recipe, ...]], ...]
    model_kind: str

    def __post_init__(self):
        targets = [t for t, _ in self.to_h36m]
        if sorted(targets) != sorted(H36M_NAMES):
            raise ValueError(f"joint set {self.name!r} must map every H36M joint once, "
                             f"got {targets}")
        for target, recipes in self.to_h36m:
            for recipe in recipes:
                for source, _ in recipe:
                    known = (source[len(H36M_REF):] in H36M_NAMES if source.startswith(H36M_REF)
                             else source in self.joint_names)
                    if not known:
                        raise ValueError(f"joint set {self.name!r}: {target} uses unknown "
                                         f"joint {source!r}")
                if not math.isclose(sum(w for _, w in recipe), 1.0):
                    raise ValueError(f"joint set {self.name!r}: weights for {target} do not "
                                     f"sum to 1: {recipe}")

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def recipes(self, h36m_joint: str) -> Tuple[Recipe, ...]:
        return dict(self.to_h36m)[h36m_joint]


def _copy(name: str) -> Recipe:
    return ((name, 1.0),)


def _mid(a: str, b: str) -> Recipe:
    return ((a, 0.5), (b, 0.5))


def _body_table(n: Mapping[str, str], hip: Optional[str] = None, neck: Optional[str] = None,
                head_top: Optional[str] = None) -> Tuple[Tuple[str, Tuple[Recipe, ...]], ...]:
    """The H36M recipes of a COCO-like body layout; ``n`` names its joints by role.

    Detected mid-hip, neck and head-top joints are copied where the layout
    has them; otherwise Hip is the mid-hips, Thorax the mid-shoulders and Head
    the mid-ears (as ``skeleton.coco_to_h36m17``). Spine is always halfway
    between Hip and Thorax. Neck/Nose falls back to halfway between Thorax and
    Head (where the two H36M bones meet: 117 and 115 mm long in H36M).
    """
    ref = lambda j: H36M_REF + j  # noqa: E731
    table = {
        "Hip": ((_copy(hip),) if hip else ()) + (_mid(n["lhip"], n["rhip"]),),
        "RHip": (_copy(n["rhip"]),), "RKnee": (_copy(n["rknee"]),),
        "RFoot": (_copy(n["rankle"]),),
        "LHip": (_copy(n["lhip"]),), "LKnee": (_copy(n["lknee"]),),
        "LFoot": (_copy(n["lankle"]),),
        "Spine": (_mid(ref("Hip"), ref("Thorax")),),
        "Thorax": ((_copy(neck),) if neck else ()) + (_mid(n["lsh"], n["rsh"]),),
        "Neck/Nose": (_copy(n["nose"]), _mid(ref("Thorax"), ref("Head"))),
        "Head": ((_copy(head_top),) if head_top else ())
        + (_mid(n["lear"], n["rear"]), _copy(n["lear"]), _copy(n["rear"]),
           _mid(n["leye"], n["reye"])),
        "LShoulder": (_copy(n["lsh"]),), "LElbow": (_copy(n["lelbow"]),),
        "LWrist": (_copy(n["lwrist"]),),
        "RShoulder": (_copy(n["rsh"]),), "RElbow": (_copy(n["relbow"]),),
        "RWrist": (_copy(n["rwrist"]),),
    }
    return tuple((j, table[j]) for j in H36M_NAMES)


_COCO_ROLES = {
    "nose": "nose", "leye": "left_eye", "reye": "right_eye", "lear": "left_ear",
    "rear": "right_ear", "lsh": "left_shoulder", "rsh": "right_shoulder",
    "lelbow": "left_elbow", "relbow": "right_elbow", "lwrist": "left_wrist",
    "rwrist": "right_wrist", "lhip": "left_hip", "rhip": "right_hip", "lknee": "left_knee",
    "rknee": "right_knee", "lankle": "left_ankle", "rankle": "right_ankle",
}
_OPENPOSE_ROLES = {
    "nose": "Nose", "leye": "LEye", "reye": "REye", "lear": "LEar", "rear": "REar",
    "lsh": "LShoulder", "rsh": "RShoulder", "lelbow": "LElbow", "relbow": "RElbow",
    "lwrist": "LWrist", "rwrist": "RWrist", "lhip": "LHip", "rhip": "RHip",
    "lknee": "LKnee", "rknee": "RKnee", "lankle": "LAnkle", "rankle": "RAnkle",
}

HALPE_JOINTS_26 = skeleton_lib.COCO_JOINTS_17 + (
    "head", "neck", "hip", "left_big_toe", "right_big_toe", "left_small_toe",
    "right_small_toe", "left_heel", "right_heel",
)
OPENPOSE_BODY25 = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
    "MidHip", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar",
    "LEar", "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
)
OPENPOSE_COCO18 = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
    "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
)
MEDIAPIPE_JOINTS_33 = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
    "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee",
    "left_ankle", "right_ankle", "left_heel", "right_heel", "left_foot_index",
    "right_foot_index",
)


def _mpii_table() -> Tuple[Tuple[str, Tuple[Recipe, ...]], ...]:
    """MPII copied with the customary names (``skeleton.MPII_TO_H36M_NAMES``:
    MPII thorax -> Spine, upper neck -> Thorax, head top -> Head); MPII has no
    Neck/Nose, so it is halfway between Thorax and Head (the SH model does
    not read it)."""
    table = {h: (_copy(m),) for m, h in zip(skeleton_lib.MPII_JOINTS_16,
                                            skeleton_lib.MPII_TO_H36M_NAMES)}
    table["Neck/Nose"] = (_mid(H36M_REF + "Thorax", H36M_REF + "Head"),)
    return tuple((j, table[j]) for j in H36M_NAMES)


JOINT_SETS: Dict[str, JointSet] = {s.name: s for s in (
    JointSet("coco17", "COCO-17 (detectron2, MMPose, YOLO-pose, AlphaPose COCO)",
             skeleton_lib.COCO_JOINTS_17, _body_table(_COCO_ROLES), "gt"),
    JointSet("halpe26", "Halpe-26 (AlphaPose)", HALPE_JOINTS_26,
             _body_table(_COCO_ROLES, hip="hip", neck="neck", head_top="head"), "gt"),
    JointSet("mpii16", "MPII-16 (Stacked Hourglass, MMPose MPII models)",
             skeleton_lib.MPII_JOINTS_16, _mpii_table(), "sh"),
    JointSet("body25", "OpenPose BODY_25", OPENPOSE_BODY25,
             _body_table(_OPENPOSE_ROLES, hip="MidHip", neck="Neck"), "gt"),
    JointSet("coco18", "OpenPose COCO-18", OPENPOSE_COCO18,
             _body_table(_OPENPOSE_ROLES, neck="Neck"), "gt"),
    JointSet("mediapipe33", "MediaPipe Pose (BlazePose) 33 landmarks", MEDIAPIPE_JOINTS_33,
             _body_table(_COCO_ROLES), "gt"),
)}

# A results-list JSON's layout follows from its keypoint count.
_RESULTS_SETS = {17: "coco17", 26: "halpe26", 16: "mpii16"}
_RESULTS_FORMAT = {"coco17": "coco", "halpe26": "halpe", "mpii16": "mpii"}


def get_joint_set(name: Union[str, JointSet]) -> JointSet:
    if isinstance(name, JointSet):
        return name
    try:
        return JOINT_SETS[name]
    except KeyError:
        raise KeyError(f"unknown joint set {name!r}; known: {', '.join(JOINT_SETS)}") from None


def to_h36m17(keypoints, joint_set: Union[str, JointSet]) -> np.ndarray:
    """``[..., J, 2]`` keypoints of ``joint_set`` (NaN: missing) -> ``[..., 17, 2]``.

    Each H36M joint takes, per frame, its first recipe whose joints are all
    present; NaN where none is.
    """
    js = get_joint_set(joint_set)
    kp = np.asarray(keypoints, np.float64)
    if kp.ndim < 2 or kp.shape[-2:] != (js.num_joints, 2):
        raise ValueError(f"{js.name} keypoints need shape [..., {js.num_joints}, 2], got "
                         f"{list(kp.shape)}")
    source = {n: kp[..., i, :] for i, n in enumerate(js.joint_names)}
    done: Dict[str, np.ndarray] = {}

    def joint(name: str, visiting: Tuple[str, ...] = ()) -> np.ndarray:
        if name in done:
            return done[name]
        if name in visiting:
            raise ValueError(f"joint set {js.name!r}: recipes of {name} refer to each other")
        out = np.full(kp.shape[:-2] + (2,), np.nan)
        for recipe in js.recipes(name):
            value = sum(w * (joint(s[len(H36M_REF):], visiting + (name,))
                             if s.startswith(H36M_REF) else source[s]) for s, w in recipe)
            take = np.isnan(out).any(-1) & np.isfinite(value).all(-1)
            out[take] = value[take]
        done[name] = out
        return out

    return np.stack([joint(n) for n in H36M_NAMES], axis=-2)


def _describe_term(source: str) -> str:
    if source.startswith(H36M_REF):
        return f"H36M {source[len(H36M_REF):]}"
    return f"`{source}`"


def _describe_recipe(recipe: Recipe) -> str:
    if len(recipe) == 1:
        return _describe_term(recipe[0][0])
    if len(recipe) == 2 and all(math.isclose(w, 0.5) for _, w in recipe):
        return f"midpoint of {_describe_term(recipe[0][0])} and {_describe_term(recipe[1][0])}"
    return " + ".join(f"{w:g} {_describe_term(s)}" for s, w in recipe)


def mapping_markdown(joint_set: Union[str, JointSet]) -> str:
    """The Markdown table of how ``joint_set`` becomes H36M-17 (docs/FORMATS.md)."""
    js = get_joint_set(joint_set)
    lines = ["| H36M joint | how | from (first recipe whose joints are all present) |",
             "|---|---|---|"]
    for target, recipes in js.to_h36m:
        first = recipes[0]
        copied = len(first) == 1 and not first[0][0].startswith(H36M_REF)
        lines.append(f"| {target} | {'copied' if copied else 'synthesised'} | "
                     + "; else ".join(_describe_recipe(r) for r in recipes) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Reading: every person of every frame, in the file's own layout


@dataclasses.dataclass(frozen=True, eq=False)
class Person:
    """One detected person: ``keypoints`` [J, 3] (x, y, confidence)."""

    keypoints: np.ndarray
    score: float
    track_id: Optional[int] = None


@dataclasses.dataclass(frozen=True, eq=False)
class RawDetections:
    """What a file holds before a person is chosen: ``people[t]`` for frame t.

    ``normalized``: x, y are fractions of the image width/height (MediaPipe).
    """

    path: str
    format: str
    joint_set: str
    frame_ids: Tuple[Union[int, str], ...]
    people: Tuple[Tuple[Person, ...], ...]
    image_size: Optional[Tuple[int, int]] = None
    normalized: bool = False

    @property
    def has_track_ids(self) -> bool:
        return any(p.track_id is not None for frame in self.people for p in frame)


def _natural_key(text: str):
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", text)]


def _load_json(path: str):
    if not os.path.isfile(path):
        raise FormatError(f"{path}: no such file")
    if os.path.getsize(path) == 0:
        raise FormatError(f"{path}: the file is empty")
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise FormatError(f"{path}: not valid JSON ({e})") from None
        except UnicodeDecodeError:
            raise FormatError(f"{path}: not a text (JSON) file") from None
        except RecursionError:
            raise FormatError(f"{path}: JSON nested too deeply") from None


def _flat_keypoints(values, path: str, where: str, num_joints: Optional[int] = None) -> np.ndarray:
    """``[x, y, c] * J`` (numbers) -> [J, 3] float64."""
    if not isinstance(values, list):
        raise FormatError(f"{path}: {where}: keypoints must be a list of numbers, got "
                          f"{type(values).__name__}")
    try:
        arr = np.asarray(values, np.float64)
    except (TypeError, ValueError):
        raise FormatError(f"{path}: {where}: keypoints must be numbers "
                          f"([x, y, score] per joint)") from None
    if arr.ndim != 1 or arr.size % 3:
        raise FormatError(f"{path}: {where}: {arr.size} keypoint values, not a multiple of 3 "
                          f"([x, y, score] per joint)")
    if num_joints is not None and arr.size != 3 * num_joints:
        raise FormatError(f"{path}: {where}: {arr.size} keypoint values; expected "
                          f"{3 * num_joints} ({num_joints} joints x [x, y, score])")
    return arr.reshape(-1, 3)


def _track_id(value, path: str, where: str) -> Optional[int]:
    """A track id from ``track_id``/``idx``/``person_id`` (AlphaPose and OpenPose
    may wrap it in a one-element list; OpenPose writes -1 for none)."""
    if isinstance(value, list):
        value = value[0] if len(value) == 1 else None if not value else value
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise FormatError(f"{path}: {where}: track id {value!r} is not an integer")
    return None if int(value) < 0 else int(value)


def _person_score(keypoints: np.ndarray, score) -> float:
    """The file's score if it gives one, else the mean keypoint confidence."""
    if isinstance(score, (int, float)) and not isinstance(score, bool) and math.isfinite(score):
        return float(score)
    return float(np.mean(np.nan_to_num(keypoints[:, 2])))


def _is_results_list(obj) -> bool:
    return (isinstance(obj, list) and bool(obj) and isinstance(obj[0], dict)
            and "keypoints" in obj[0] and "image_id" in obj[0])


def read_results_json(path: str, format: Optional[str] = None) -> RawDetections:  # noqa: A002
    """A COCO-style keypoint results list (COCO-17, Halpe-26 or MPII-16).

    Frames are the distinct ``image_id`` values, ordered as numbers (file
    names such as AlphaPose's ``"12.jpg"`` by their numbers); an image with no
    detection is not in such a file and so is not a frame. The track id is
    ``track_id`` or AlphaPose's ``idx``; the person's score is ``score``.
    """
    obj = _load_json(path)
    if not isinstance(obj, list):
        raise FormatError(f"{path}: a keypoint results file is a JSON list of detections, "
                          f"got {type(obj).__name__}")
    if not obj:
        raise FormatError(f"{path}: the results list is empty (no detections)")
    counts = set()
    by_image: Dict[Union[int, str], List[Person]] = {}
    for i, det in enumerate(obj):
        if not isinstance(det, dict) or "keypoints" not in det or "image_id" not in det:
            raise FormatError(f"{path}: detection {i} is not an object with 'image_id' and "
                              f"'keypoints'")
        image_id = det["image_id"]
        if isinstance(image_id, bool) or not isinstance(image_id, (int, str)):
            raise FormatError(f"{path}: detection {i}: image_id {image_id!r} is neither an "
                              f"integer nor a string")
        kp = _flat_keypoints(det["keypoints"], path, f"detection {i} (image_id {image_id!r})")
        counts.add(len(kp))
        track = _track_id(det.get("track_id", det.get("idx")), path, f"detection {i}")
        by_image.setdefault(image_id, []).append(
            Person(kp, _person_score(kp, det.get("score")), track))
    if len(counts) > 1:
        raise FormatError(f"{path}: detections have different joint counts "
                          f"({', '.join(map(str, sorted(counts)))})")
    (count,) = counts
    if count not in _RESULTS_SETS:
        raise FormatError(f"{path}: {count} keypoints per detection; a results list must have "
                          + ", ".join(f"{n} ({_RESULTS_SETS[n]})" for n in _RESULTS_SETS))
    joint_set = _RESULTS_SETS[count]
    found = _RESULTS_FORMAT[joint_set]
    if format is not None and format != found:
        raise FormatError(f"{path}: format={format} was asked for, but the detections have "
                          f"{count} keypoints ({joint_set}: format={found})")
    if len({type(k) for k in by_image}) > 1:
        raise FormatError(f"{path}: image_id mixes integers and strings")
    ids = sorted(by_image, key=lambda k: k if isinstance(k, int) else _natural_key(k))
    return RawDetections(path, found, joint_set, tuple(ids),
                         tuple(tuple(by_image[k]) for k in ids))


def _openpose_frame(path: str) -> Tuple[Person, ...]:
    obj = _load_json(path)
    if not isinstance(obj, dict) or not isinstance(obj.get("people"), list):
        raise FormatError(f"{path}: an OpenPose file is a JSON object with a 'people' list")
    people = []
    for i, p in enumerate(obj["people"]):
        if not isinstance(p, dict) or "pose_keypoints_2d" not in p:
            raise FormatError(f"{path}: people[{i}] has no 'pose_keypoints_2d' (run OpenPose "
                              f"with the body model)")
        kp = _flat_keypoints(p["pose_keypoints_2d"], path, f"people[{i}].pose_keypoints_2d")
        if len(kp) == 0:
            continue  # OpenPose writes [] for a body it did not estimate
        people.append(Person(kp, _person_score(kp, None),
                             _track_id(p.get("person_id"), path, f"people[{i}]")))
    return tuple(people)


def read_openpose(path: str) -> RawDetections:
    """An OpenPose ``--write_json`` folder (``*_keypoints.json``, one per
    frame, in file-name order with numbers compared as numbers) or one file.

    BODY_25 (25 joints) or COCO-18 (18) follows from the keypoint count; a
    person's score is the mean keypoint confidence (OpenPose gives none). A
    keypoint that was not found is ``0, 0, 0``.
    """
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(glob.escape(path), "*_keypoints.json")),
                       key=lambda f: _natural_key(os.path.basename(f)))
        if not files:
            raise FormatError(f"{path}: no OpenPose *_keypoints.json files in this folder")
    elif os.path.isfile(path):
        files = [path]
    else:
        raise FormatError(f"{path}: no such file or folder")
    people = tuple(_openpose_frame(f) for f in files)
    counts = {len(p.keypoints) for frame in people for p in frame}
    sets = {25: "body25", 18: "coco18"}
    bad = counts - set(sets)
    if bad:
        raise FormatError(f"{path}: {sorted(bad)[0]} keypoints per person; OpenPose files need "
                          f"25 (BODY_25) or 18 (COCO-18)")
    if len(counts) > 1:
        raise FormatError(f"{path}: the files mix BODY_25 and COCO-18 people")
    if not counts:
        raise FormatError(f"{path}: no person in any of the {len(files)} OpenPose file(s)")
    return RawDetections(path, "openpose", sets[counts.pop()],
                         tuple(os.path.basename(f) for f in files), people)


_LANDMARK_KEYS = ("landmarks", "pose_landmarks")


def _mediapipe_landmarks(value, path: str, where: str) -> np.ndarray:
    """33 landmarks (dicts with x, y[, z][, visibility][, presence] or lists
    ``[x, y, z, visibility]``) -> [33, 3] (x, y, visibility)."""
    if not isinstance(value, list) or len(value) != 33:
        n = len(value) if isinstance(value, list) else type(value).__name__
        raise FormatError(f"{path}: {where}: expected 33 MediaPipe pose landmarks, got {n}")
    out = np.empty((33, 3))
    for j, lm in enumerate(value):
        if isinstance(lm, dict) and "x" in lm and "y" in lm:
            vis = lm.get("visibility", lm.get("presence", 1.0))
            row = (lm["x"], lm["y"], 1.0 if vis is None else vis)
        elif isinstance(lm, list) and len(lm) >= 4:
            row = (lm[0], lm[1], lm[3])
        else:
            raise FormatError(f"{path}: {where}: landmark {j} is neither {{\"x\", \"y\", "
                              f"\"visibility\"}} nor [x, y, z, visibility]")
        try:
            out[j] = [float(v) for v in row]
        except (TypeError, ValueError):
            raise FormatError(f"{path}: {where}: landmark {j} has non-numeric values") from None
    return out


def _mediapipe_people(frame, path: str, where: str) -> Tuple[Person, ...]:
    if frame is None:
        return ()
    if isinstance(frame, dict):
        key = next((k for k in _LANDMARK_KEYS if k in frame), None)
        if key is None:
            raise FormatError(f"{path}: {where} has none of {', '.join(_LANDMARK_KEYS)}")
        frame = frame[key]
        if frame is None:
            return ()
    if not isinstance(frame, list):
        raise FormatError(f"{path}: {where}: expected a list of landmarks, got "
                          f"{type(frame).__name__}")
    if not frame:
        return ()
    # One person (33 landmarks) or several (a list of such lists: Tasks API).
    several = isinstance(frame[0], list) and len(frame[0]) == 33
    people = []
    for k, lms in enumerate(frame if several else [frame]):
        kp = _mediapipe_landmarks(lms, path, f"{where}, person {k}" if several else where)
        people.append(Person(kp, _person_score(kp, None)))
    return tuple(people)


def _looks_like_mediapipe(obj) -> bool:
    frames = obj.get("frames") if isinstance(obj, dict) else obj
    if not isinstance(frames, list):
        return False
    for frame in frames:
        if isinstance(frame, dict):
            return any(k in frame for k in _LANDMARK_KEYS)
        if isinstance(frame, list) and frame:
            first = frame[0][0] if isinstance(frame[0], list) and len(frame[0]) == 33 else frame[0]
            return len(frame) == 33 or (isinstance(first, dict) and "x" in first)
    return False


def read_mediapipe(path: str) -> RawDetections:
    """MediaPipe Pose landmarks saved as JSON: a list with one entry per frame
    (33 landmarks; ``{"landmarks": [...]}``; ``{"pose_landmarks": [[...], ...]}``
    for several people; ``[]`` or ``null`` for none), or an object
    ``{"image_width", "image_height", "frames": [...]}``. A person's score is
    the mean visibility.
    """
    obj = _load_json(path)
    image_size = None
    frames = obj
    if isinstance(obj, dict):
        if "frames" not in obj:
            raise FormatError(f"{path}: a MediaPipe JSON object needs a 'frames' list")
        frames = obj["frames"]
        if "image_width" in obj or "image_height" in obj:
            image_size = parse_image_size([obj.get("image_width"), obj.get("image_height")],
                                          f"{path}: image_width/image_height")
        elif "image_size" in obj:
            image_size = parse_image_size(obj["image_size"], f"{path}: image_size")
    if not isinstance(frames, list) or not frames:
        raise FormatError(f"{path}: expected a non-empty list of MediaPipe frames")
    people = tuple(_mediapipe_people(f, path, f"frame {t}") for t, f in enumerate(frames))
    return RawDetections(path, "mediapipe", "mediapipe33", tuple(range(len(frames))), people,
                         image_size=image_size, normalized=True)


READERS = {
    "coco": lambda path: read_results_json(path, "coco"),
    "halpe": lambda path: read_results_json(path, "halpe"),
    "mpii": lambda path: read_results_json(path, "mpii"),
    "openpose": read_openpose,
    "mediapipe": read_mediapipe,
}


def detect_format(path: str) -> str:
    """The format of a detector file or folder, where the content says it."""
    if os.path.isdir(path):
        if glob.glob(os.path.join(glob.escape(path), "*_keypoints.json")):
            return "openpose"
        raise FormatError(f"{path}: a folder, but with no OpenPose *_keypoints.json files")
    obj = _load_json(path)
    if isinstance(obj, dict) and isinstance(obj.get("people"), list):
        return "openpose"
    if _is_results_list(obj):
        count = len(obj[0]["keypoints"]) // 3 if isinstance(obj[0]["keypoints"], list) else 0
        if count in _RESULTS_SETS:
            return _RESULTS_FORMAT[_RESULTS_SETS[count]]
        raise FormatError(f"{path}: a keypoint results list with {count} keypoints per "
                          f"detection; supported: "
                          + ", ".join(f"{n} ({s})" for n, s in _RESULTS_SETS.items()))
    if _looks_like_mediapipe(obj):
        return "mediapipe"
    raise FormatError(f"{path}: cannot tell the detector format (not a COCO/Halpe/MPII "
                      f"results list, OpenPose JSON or MediaPipe landmarks); pass format= one "
                      f"of {', '.join(FORMATS)}")


def read_raw(path: str, format: Optional[str] = None) -> RawDetections:  # noqa: A002
    """Every person in every frame of ``path``; ``format`` None: detected."""
    path = os.fspath(path)
    if format is not None and format not in READERS:
        raise FormatError(f"{path}: unknown format {format!r}; expected one of "
                          f"{', '.join(FORMATS)}")
    if not os.path.exists(path):
        raise FormatError(f"{path}: no such file or folder")
    return READERS[format or detect_format(path)](path)


# --------------------------------------------------------------------------
# From people to one clean sequence


def parse_image_size(value, what: str = "image_size") -> Tuple[int, int]:
    """``(w, h)``, ``[w, h]``, ``"W,H"`` or ``"WxH"`` -> (w, h) positive ints."""
    if isinstance(value, str):
        parts = re.split(r"[x,X ]+", value.strip())
    else:
        parts = list(value) if isinstance(value, (list, tuple)) else [value]
    try:
        w, h = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise FormatError(f"{what}: expected width and height, e.g. 1920x1080; got "
                          f"{value!r}") from None
    if w > MAX_IMAGE_SIZE or h > MAX_IMAGE_SIZE:
        raise FormatError(f"{what}: width and height must be at most {MAX_IMAGE_SIZE} pixels, "
                          f"got {value!r}")
    if not (w > 0 and h > 0 and w == int(w) and h == int(h)):
        raise FormatError(f"{what}: width and height must be positive integers, got {value!r}")
    return int(w), int(h)


def select_person(raw: RawDetections,
                  person: Optional[int] = None) -> Tuple[np.ndarray, List[Optional[str]]]:
    """One person per frame -> ([T, J, 3] (NaN where nobody), reason per frame).

    ``person`` None: the highest score in each frame (with no tracking this
    can switch between people); else that track id.
    """
    if person is not None and not raw.has_track_ids:
        raise FormatError(f"{raw.path}: person={person} asks for a track id, but the file has "
                          f"none; leave person unset to take the highest-scoring person")
    num_joints = get_joint_set(raw.joint_set).num_joints
    out = np.full((len(raw.people), num_joints, 3), np.nan)
    reasons: List[Optional[str]] = []
    for t, frame in enumerate(raw.people):
        if person is None:
            chosen = max(frame, key=lambda p: p.score, default=None)
            reason = "no person detected"
        else:
            chosen = next((p for p in frame if p.track_id == person), None)
            reason = f"track {person} not in the frame"
        if chosen is not None:
            out[t] = chosen.keypoints
        reasons.append(None if chosen is not None else reason)
    if person is not None and all(r is not None for r in reasons):
        ids = sorted({p.track_id for f in raw.people for p in f if p.track_id is not None})
        raise FormatError(f"{raw.path}: no frame has track {person}; track ids in the file: "
                          f"{', '.join(map(str, ids))}")
    return out, reasons


def mask_low_confidence(keypoints: np.ndarray, min_confidence: float) -> np.ndarray:
    """[..., J, 3] (x, y, c) -> [..., J, 2] with NaN where c < min_confidence,
    c <= 0 (every format's "not found") or x, y are not finite."""
    kp = np.asarray(keypoints, np.float64)
    conf = kp[..., 2]
    missing = ~(conf >= min_confidence) | ~(conf > 0) | ~np.isfinite(kp[..., :2]).all(-1)
    out = kp[..., :2].copy()
    out[missing] = np.nan
    return out


def fill_gaps(keypoints: np.ndarray, max_gap: int) -> Tuple[np.ndarray, np.ndarray]:
    """Linear interpolation in time over runs of at most ``max_gap`` missing
    (NaN) frames per joint that have a detection on both sides.

    ``keypoints`` [T, J, D]; returns (filled copy, [T, J] bool: filled here).
    Gaps at the start or end, or longer than ``max_gap``, stay NaN.
    """
    kp = np.array(keypoints, np.float64)
    if kp.ndim != 3:
        raise ValueError(f"fill_gaps needs [frames, joints, dims], got shape {list(kp.shape)}")
    if max_gap < 0:
        raise ValueError(f"max_gap must be >= 0, got {max_gap}")
    filled = np.zeros(kp.shape[:2], bool)
    missing = ~np.isfinite(kp).all(-1)
    for j in range(kp.shape[1]):
        present = np.flatnonzero(~missing[:, j])
        if len(present) < 2:
            continue
        for a, b in zip(present[:-1], present[1:]):
            if 1 < b - a <= max_gap + 1:
                t = (np.arange(a + 1, b) - a) / (b - a)
                kp[a + 1:b, j] = (1 - t)[:, None] * kp[a, j] + t[:, None] * kp[b, j]
                filled[a + 1:b, j] = True
    return kp, filled


def _runs(frame_indices: np.ndarray) -> List[slice]:
    """Slices of consecutive frame numbers."""
    idx = np.asarray(frame_indices)
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(idx)]])
    return [slice(int(s), int(e)) for s, e in zip(starts, ends)]


def smooth(poses, window: int, frame_indices: Optional[Sequence[int]] = None) -> np.ndarray:
    """Centred moving average over ``window`` frames against detector jitter.

    ``poses`` [T, J, D] (2D keypoints or 3D poses). Near the ends of a run the
    window shrinks symmetrically, so a pose moving at constant velocity is
    left unchanged; with ``frame_indices`` the average does not cross a jump
    in frame numbers (frames left out). ``window`` 0 or 1: off; else odd.
    """
    p = np.asarray(poses, np.float64)
    if window in (0, 1):
        return p.copy()
    if window < 0 or window % 2 == 0:
        raise ValueError(f"smoothing window must be 0 (off) or an odd number of frames, "
                         f"got {window}")
    if p.ndim != 3:
        raise ValueError(f"smooth needs [frames, joints, dims], got shape {list(p.shape)}")
    idx = np.arange(len(p)) if frame_indices is None else np.asarray(frame_indices)
    if len(idx) != len(p):
        raise ValueError(f"{len(idx)} frame indices for {len(p)} frames")
    out = np.empty_like(p)
    half = window // 2
    for run in _runs(idx):
        seg = p[run]
        csum = np.concatenate([np.zeros((1,) + seg.shape[1:]), np.cumsum(seg, axis=0)])
        n = len(seg)
        for t in range(n):
            h = min(half, t, n - 1 - t)
            out[run.start + t] = (csum[t + h + 1] - csum[t - h]) / (2 * h + 1)
    return out


@dataclasses.dataclass(frozen=True)
class DroppedFrame:
    """A frame left out: its position in the file's sequence, id, and why."""

    index: int
    frame_id: Union[int, str]
    reason: str


@dataclasses.dataclass(frozen=True, eq=False)
class Detections:
    """Keypoints ready to lift: ``keypoints`` [T, 17, 2] pixels in H36M-17 order.

    ``frame_ids`` / ``frame_indices``: the kept frames' ids (image_id, file
    name or frame number) and positions in the file's sequence (for timing);
    ``interpolated`` [T, 17]: joints filled over a gap; ``model_kind``: the
    shipped model this input suits ("gt" or "sh").
    """

    path: str
    format: str
    joint_set: str
    keypoints: np.ndarray
    frame_ids: Tuple[Union[int, str], ...]
    frame_indices: np.ndarray
    num_frames_read: int
    dropped: Tuple[DroppedFrame, ...]
    interpolated: np.ndarray
    image_size: Optional[Tuple[int, int]]
    model_kind: str
    joint_names: Tuple[str, ...] = H36M_NAMES

    @property
    def num_frames(self) -> int:
        return int(len(self.keypoints))

    def summary(self) -> str:
        """One line for the CLI: frames read, kept, interpolated and left out."""
        js = get_joint_set(self.joint_set)
        text = (f"{self.path}: {self.format} ({js.title}), {self.num_frames_read} frames read, "
                f"{self.num_frames} kept")
        filled = int(self.interpolated.any(-1).sum())
        if filled:
            text += f", {filled} with interpolated joints"
        if self.dropped:
            counts: Dict[str, int] = {}
            for d in self.dropped:
                key = "joints missing" if d.reason.startswith("missing") else d.reason
                counts[key] = counts.get(key, 0) + 1
            text += (f", {len(self.dropped)} left out ("
                     + ", ".join(f"{k}: {n}" for k, n in counts.items()) + ")")
        return text


def read_detections(path, format: Optional[str] = None,  # noqa: A002
                    image_size=None, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                    person: Optional[int] = None, max_gap: int = DEFAULT_MAX_GAP,
                    smooth_window: int = 0) -> Detections:
    """Read a detector's file and return complete H36M-17 keypoints per frame.

    ``format``: one of ``FORMATS`` or None (detected from the file);
    ``image_size``: (w, h) or "WxH", needed for MediaPipe's normalised
    landmarks, overrides the file's; ``min_confidence``: joints scored below
    it are missing; ``person``: a track id, or None for the highest score per
    frame; ``max_gap``: the longest run of missing frames (per joint) filled
    by interpolation; ``smooth_window``: moving-average window in frames
    (0: off). Frames that still lack a joint are left out and listed in
    ``dropped``. Raises ``FormatError`` (one line, naming the file).
    """
    path = os.fspath(path)
    if not min_confidence >= 0:
        raise FormatError(f"{path}: min_confidence must be a number >= 0, got {min_confidence}")
    if max_gap < 0:
        raise FormatError(f"{path}: max_gap must be >= 0, got {max_gap}")
    if person is not None and (isinstance(person, bool) or not isinstance(person, int)):
        raise FormatError(f"{path}: person must be an integer track id, got {person!r}")
    size = parse_image_size(image_size, f"{path}: image_size") if image_size is not None else None
    raw = read_raw(path, format)
    size = size or raw.image_size
    kp, reasons = select_person(raw, person)
    if raw.normalized:
        if size is None:
            raise FormatError(f"{path}: {raw.format} landmarks are normalised to the image; "
                              f"give the image size (image_size=W,H)")
        kp[..., 0] *= size[0]
        kp[..., 1] *= size[1]
    h36m = to_h36m17(mask_low_confidence(kp, min_confidence), raw.joint_set)
    h36m, filled = fill_gaps(h36m, max_gap)
    complete = np.isfinite(h36m).all(axis=(1, 2))
    dropped = []
    for t in np.flatnonzero(~complete):
        reason = reasons[t]
        if reason is None or np.isfinite(h36m[t]).any():
            missing = [H36M_NAMES[j] for j in np.flatnonzero(~np.isfinite(h36m[t]).all(-1))]
            reason = "missing " + ", ".join(missing)
        dropped.append(DroppedFrame(int(t), raw.frame_ids[t], reason))
    keep = np.flatnonzero(complete)
    if not len(keep):
        first = dropped[0].reason if dropped else "no frames"
        raise FormatError(f"{path}: none of the {len(raw.people)} frames has all 17 H36M joints "
                          f"(first frame: {first}); try a lower min_confidence or a larger "
                          f"max_gap")
    out = h36m[keep]
    if smooth_window:
        out = smooth(out, smooth_window, keep)
    return Detections(path=path, format=raw.format, joint_set=raw.joint_set,
                      keypoints=out.astype(np.float32),
                      frame_ids=tuple(raw.frame_ids[t] for t in keep), frame_indices=keep,
                      num_frames_read=len(raw.people), dropped=tuple(dropped),
                      interpolated=filled[keep], image_size=size,
                      model_kind=get_joint_set(raw.joint_set).model_kind)


# --------------------------------------------------------------------------
# Scale for RepGAN's unit-less output


def _path_length(pose: np.ndarray, skel: skeleton_lib.Skeleton, a: int, b: int) -> np.ndarray:
    """Summed bone lengths from joint ``a`` up the tree to its ancestor ``b``."""
    total = np.zeros(pose.shape[:-2])
    j = a
    while j != b:
        p = skel.parents[j]
        if p < 0:
            raise ValueError(f"{skel.joint_names[b]} is not an ancestor of {skel.joint_names[a]}")
        total = total + np.linalg.norm(pose[..., j, :] - pose[..., p, :], axis=-1)
        j = p
    return total


def skeleton_height(pose_3d, skeleton: Union[str, skeleton_lib.Skeleton] = "h36m17") -> np.ndarray:
    """Ankle-to-head length along the skeleton, per pose ([..., J, 3] -> [...]).

    Bone lengths summed from the root up the spine to ``Head`` plus the mean
    of the two legs (hip -> knee -> ankle); the sideways pelvis bones are not
    counted. Being a sum of bone lengths it does not change with posture.
    For the Human3.6M subjects (walking) it measures 1580-1710 mm, close to
    the height of their Head joint above the floor when standing; the Head
    joint lies below the crown, so it is somewhat less than body height.
    """
    skel = skeleton_lib.get(skeleton) if isinstance(skeleton, str) else skeleton
    pose = np.asarray(pose_3d, np.float64)
    names = skel.joint_names
    foot = "Foot" if "LFoot" in names else "Ankle"
    need = ["Head", "LHip", "RHip", "L" + foot, "R" + foot]
    missing = [n for n in need if n not in names]
    if missing:
        raise ValueError(f"skeleton {skel.name!r} lacks {', '.join(missing)} for a height")
    root = skel.root
    spine = _path_length(pose, skel, skel.index("Head"), root)
    legs = [_path_length(pose, skel, skel.index(s + foot), skel.index(s + "Hip")) for s in "LR"]
    return spine + (legs[0] + legs[1]) / 2


def to_metric(pose_3d_normalized, height_mm: Optional[float] = None,
              bone_lengths_mm: Optional[Sequence[float]] = None,
              skeleton: Union[str, skeleton_lib.Skeleton] = "h36m17") -> np.ndarray:
    """Give RepGAN's scale-free output ([..., J, 3]) millimetres.

    RepGAN normalises each frame by its own 2D spread, so each pose is scaled
    on its own: with ``height_mm`` so that its ``skeleton_height`` (ankle to
    Head joint along the bones) equals it; with ``bone_lengths_mm`` (one per
    bone in ``Skeleton.bones`` order, e.g. medians of a metric sequence) by
    the least-squares fit of its bone lengths to them. Give exactly one.
    """
    skel = skeleton_lib.get(skeleton) if isinstance(skeleton, str) else skeleton
    pose = np.asarray(pose_3d_normalized, np.float64)
    if pose.ndim < 2 or pose.shape[-2:] != (skel.num_joints, 3):
        raise ValueError(f"to_metric needs poses of shape [..., {skel.num_joints}, 3] for "
                         f"skeleton {skel.name!r}, got {list(pose.shape)}")
    if (height_mm is None) == (bone_lengths_mm is None):
        raise ValueError("to_metric needs exactly one of height_mm and bone_lengths_mm")
    if height_mm is not None:
        if not height_mm > 0:
            raise ValueError(f"height_mm must be positive, got {height_mm}")
        scale = height_mm / skeleton_height(pose, skel)
    else:
        prior = np.asarray(bone_lengths_mm, np.float64)
        if prior.shape != (skel.num_bones,):
            raise ValueError(f"bone_lengths_mm needs {skel.num_bones} lengths (one per bone of "
                             f"{skel.name!r}), got shape {list(prior.shape)}")
        parents, children = zip(*skel.bones)
        lengths = np.linalg.norm(pose[..., list(children), :] - pose[..., list(parents), :],
                                 axis=-1)
        scale = (lengths * prior).sum(-1) / (lengths ** 2).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return pose * np.asarray(scale)[..., None, None]
