"""Joint sets used by the lifting models: names, parents, sides, bones.

Three skeletons are needed:

* ``h36m17`` -- the 17 Human3.6M joints every lifting paper uses (3D targets,
  and 2D input of the ``gt`` configs).
* ``h36m16`` -- the same joints without ``Neck/Nose``: the H36M names that the
  16 Stacked Hourglass (MPII) detections map onto. ``human36m/sh`` stores its
  2D detections in this order, so a model reads SH input with H36M semantics.
* ``humaneva15`` -- the 15-joint HumanEva-I layout of VideoPose3D.

Derived quantities (bones, hard joints, bone distances) are computed from the
parent list so that they cannot drift from it.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
from typing import Dict, Sequence, Tuple

import numpy as np

# --- Human3.6M -------------------------------------------------------------

H36M_JOINTS_17 = (
    "Hip", "RHip", "RKnee", "RFoot", "LHip", "LKnee", "LFoot", "Spine",
    "Thorax", "Neck/Nose", "Head", "LShoulder", "LElbow", "LWrist",
    "RShoulder", "RElbow", "RWrist",
)
H36M_PARENTS_17 = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
# Indices of the 17 joints in the 32-joint mocap layout of the h5 release.
H36M_32_TO_17 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)

# Stacked Hourglass detections come in MPII order.
MPII_JOINTS_16 = (
    "RAnkle", "RKnee", "RHip", "LHip", "LKnee", "LAnkle", "Pelvis", "Thorax",
    "UpperNeck", "HeadTop", "RWrist", "RElbow", "RShoulder", "LShoulder",
    "LElbow", "LWrist",
)
# The customary mapping of the MPII names onto H36M names (MPII thorax is
# taken as H36M Spine; H36M Neck/Nose has no detection).
MPII_TO_H36M_NAMES = (
    "RFoot", "RKnee", "RHip", "LHip", "LKnee", "LFoot", "Hip", "Spine",
    "Thorax", "Head", "RWrist", "RElbow", "RShoulder", "LShoulder", "LElbow",
    "LWrist",
)

# --- HumanEva-I --------------------------------------------------------------

HUMANEVA_JOINTS_15 = (
    "Pelvis", "Thorax", "LShoulder", "LElbow", "LWrist", "RShoulder",
    "RElbow", "RWrist", "LHip", "LKnee", "LAnkle", "RHip", "RKnee", "RAnkle",
    "Head",
)
HUMANEVA_PARENTS_15 = (-1, 0, 1, 2, 3, 1, 5, 6, 0, 8, 9, 0, 11, 12, 1)

# ASN's hard joints: elbows, wrists, knees and feet (ankles).
_HARD_JOINT_NAMES = frozenset(
    ["LElbow", "RElbow", "LWrist", "RWrist", "LKnee", "RKnee",
     "LFoot", "RFoot", "LAnkle", "RAnkle"])

# The 8 limb bones of ASN Table 3, keyed by (child joint) in H36M or HumanEva
# naming; value is the table's label.
_LIMB_BONES = (
    ("LElbow", "lu_arm"), ("LWrist", "ll_arm"), ("LKnee", "lu_leg"),
    ("LFoot", "ll_leg"), ("LAnkle", "ll_leg"),
    ("RElbow", "ru_arm"), ("RWrist", "rl_arm"), ("RKnee", "ru_leg"),
    ("RFoot", "rl_leg"), ("RAnkle", "rl_leg"),
)


@dataclasses.dataclass(frozen=True)
class Skeleton:
    """A kinematic tree: joint names and the parent of each joint (-1: root)."""

    name: str
    joint_names: Tuple[str, ...]
    parents: Tuple[int, ...]

    def __post_init__(self):
        if len(self.joint_names) != len(self.parents):
            raise ValueError(
                f"skeleton {self.name!r}: {len(self.joint_names)} names but "
                f"{len(self.parents)} parents")
        roots = [j for j, p in enumerate(self.parents) if p < 0]
        if len(roots) != 1:
            raise ValueError(f"skeleton {self.name!r} needs exactly one root, got {roots}")
        for j, p in enumerate(self.parents):
            if p >= len(self.parents) or p == j:
                raise ValueError(f"skeleton {self.name!r}: bad parent {p} of joint {j}")

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def root(self) -> int:
        return self.parents.index(-1)

    def index(self, joint_name: str) -> int:
        try:
            return self.joint_names.index(joint_name)
        except ValueError:
            raise KeyError(f"joint {joint_name!r} is not in skeleton {self.name!r}; "
                           f"joints: {', '.join(self.joint_names)}") from None

    @property
    def joints_left(self) -> Tuple[int, ...]:
        return tuple(j for j, n in enumerate(self.joint_names) if n.startswith("L") and n[1:2].isupper())

    @property
    def joints_right(self) -> Tuple[int, ...]:
        return tuple(j for j, n in enumerate(self.joint_names) if n.startswith("R") and n[1:2].isupper())

    @property
    def bones(self) -> Tuple[Tuple[int, int], ...]:
        """(parent, child) pairs, one per non-root joint, in child order."""
        return tuple((p, j) for j, p in enumerate(self.parents) if p >= 0)

    @property
    def num_bones(self) -> int:
        return self.num_joints - 1

    @property
    def hard_joints(self) -> Tuple[int, ...]:
        """ASN's hard joints (elbows, wrists, knees, feet) present here."""
        return tuple(j for j, n in enumerate(self.joint_names) if n in _HARD_JOINT_NAMES)

    @property
    def hard_joint_mask(self) -> np.ndarray:
        mask = np.zeros(self.num_joints, np.float32)
        mask[list(self.hard_joints)] = 1.0
        return mask

    @property
    def limb_bones(self) -> Dict[str, Tuple[int, int]]:
        """ASN Table 3's 8 limb bones: label -> (parent, child)."""
        out = {}
        for child_name, label in _LIMB_BONES:
            if child_name in self.joint_names:
                child = self.index(child_name)
                out[label] = (self.parents[child], child)
        return out

    def incidence_matrix(self) -> np.ndarray:
        """C in B = Y C (RepGAN eq. 3): (joints, bones), +1 child, -1 parent."""
        c = np.zeros((self.num_joints, self.num_bones), np.float32)
        for b, (p, j) in enumerate(self.bones):
            c[j, b] = 1.0
            c[p, b] = -1.0
        return c

    def bone_distance_matrix(self) -> np.ndarray:
        """Shortest path between bones where bones sharing a joint are neighbours."""
        return _bone_distances(self.bones)


@functools.lru_cache(maxsize=None)
def _bone_distances(bones: Tuple[Tuple[int, int], ...]) -> np.ndarray:
    n = len(bones)
    by_joint = collections.defaultdict(list)
    for b, (p, j) in enumerate(bones):
        by_joint[p].append(b)
        by_joint[j].append(b)
    dist = np.full((n, n), -1, np.int32)
    for start in range(n):
        dist[start, start] = 0
        queue = collections.deque([start])
        while queue:
            b = queue.popleft()
            for joint in bones[b]:
                for other in by_joint[joint]:
                    if dist[start, other] < 0:
                        dist[start, other] = dist[start, b] + 1
                        queue.append(other)
    dist.setflags(write=False)
    return dist


def _subset(name: str, base: Skeleton, keep: Sequence[str]) -> Skeleton:
    """A skeleton of some of ``base``'s joints; a dropped joint's children
    are attached to its parent."""
    idx = [base.index(n) for n in keep]
    pos = {old: new for new, old in enumerate(idx)}
    parents = []
    for old in idx:
        p = base.parents[old]
        while p >= 0 and p not in pos:
            p = base.parents[p]
        parents.append(pos[p] if p >= 0 else -1)
    return Skeleton(name, tuple(keep), tuple(parents))


H36M_17 = Skeleton("h36m17", H36M_JOINTS_17, H36M_PARENTS_17)
H36M_16 = _subset("h36m16", H36M_17, [n for n in H36M_JOINTS_17 if n != "Neck/Nose"])
HUMANEVA_15 = Skeleton("humaneva15", HUMANEVA_JOINTS_15, HUMANEVA_PARENTS_15)

SKELETONS: Dict[str, Skeleton] = {s.name: s for s in (H36M_17, H36M_16, HUMANEVA_15)}

# MPII (SH detection) order -> h36m16 order: h36m16[i] = mpii[MPII_TO_H36M16[i]].
MPII_TO_H36M16 = tuple(MPII_TO_H36M_NAMES.index(n) for n in H36M_16.joint_names)

# COCO-17 keypoints (as from most 2D detectors) -> H36M-17. H36M joints that
# COCO lacks are synthesised from neighbours (see ``coco_to_h36m17``).
COCO_JOINTS_17 = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
)


def get(name: str) -> Skeleton:
    try:
        return SKELETONS[name]
    except KeyError:
        raise KeyError(f"unknown skeleton {name!r}; known: {', '.join(SKELETONS)}") from None


def by_joint_names(joint_names: Sequence[str]) -> Skeleton:
    """The skeleton with exactly these joints in this order (as an export's
    metadata records them)."""
    names = tuple(joint_names)
    for s in SKELETONS.values():
        if s.joint_names == names:
            return s
    raise ValueError(f"no tfpose skeleton has the {len(names)} joints "
                     f"[{', '.join(names)}]; known: {', '.join(SKELETONS)}")


def mpii_to_h36m16(pose_2d: np.ndarray) -> np.ndarray:
    """Reorder (..., 16, 2) SH/MPII-order keypoints into ``h36m16`` order."""
    pose_2d = np.asarray(pose_2d)
    if pose_2d.shape[-2] != 16:
        raise ValueError(f"MPII/SH keypoints need 16 joints, got shape {pose_2d.shape}")
    return pose_2d[..., list(MPII_TO_H36M16), :]


def coco_to_h36m17(pose_2d: np.ndarray) -> np.ndarray:
    """Map (..., 17, 2) COCO keypoints to H36M-17 order.

    Hip = mid-hips, Thorax = mid-shoulders, Spine = midpoint of Hip and
    Thorax, Neck/Nose = COCO nose, Head = mid-ears (the top of the head is
    not in COCO; this is the usual approximation).
    """
    p = np.asarray(pose_2d, np.float32)
    if p.shape[-2] != 17:
        raise ValueError(f"COCO keypoints need 17 joints, got shape {p.shape}")
    c = {n: p[..., i, :] for i, n in enumerate(COCO_JOINTS_17)}
    hip = (c["left_hip"] + c["right_hip"]) / 2
    thorax = (c["left_shoulder"] + c["right_shoulder"]) / 2
    joints = {
        "Hip": hip, "RHip": c["right_hip"], "RKnee": c["right_knee"],
        "RFoot": c["right_ankle"], "LHip": c["left_hip"], "LKnee": c["left_knee"],
        "LFoot": c["left_ankle"], "Spine": (hip + thorax) / 2, "Thorax": thorax,
        "Neck/Nose": c["nose"], "Head": (c["left_ear"] + c["right_ear"]) / 2,
        "LShoulder": c["left_shoulder"], "LElbow": c["left_elbow"],
        "LWrist": c["left_wrist"], "RShoulder": c["right_shoulder"],
        "RElbow": c["right_elbow"], "RWrist": c["right_wrist"],
    }
    return np.stack([joints[n] for n in H36M_JOINTS_17], axis=-2)
