"""BVH motion files of 3D pose sequences, for Blender and other animation tools.

``write_bvh`` turns per-frame joint positions into a rig: a hierarchy built
from the skeleton's parents with bone lengths fixed to the sequence's
medians, and per frame one rotation per joint that points every bone where
the frame has it. ``read_bvh`` / ``forward_kinematics`` read any BVH back
(used to check the round trip, and for users' own files).

Conventions:

* Axes: the poses come in the camera frame (x right, y down, z forward, in
  mm); the BVH frame is y up: ``(x, y, z)_bvh = (x, -y, -z)_camera`` (a half
  turn about x, so still right-handed). A person facing the camera faces +z
  in the BVH, with their left on +x. Values are millimetres times ``scale``
  (Blender's importer: scale 0.001 for metres).
* Rest pose (the OFFSETs): a T-pose, facing +z -- legs straight down, spine
  and head straight up, hips and arms out sideways -- each bone as long as
  its median over the sequence.
* Channels: the root has ``Xposition Yposition Zposition Zrotation
  Xrotation Yrotation``, every other joint ``Zrotation Xrotation
  Yrotation``; a joint's local rotation is ``Rz @ Rx @ Ry`` (degrees), and a
  joint's rotation moves its children: ``p_child = p_joint + G_joint @
  offset_child`` with ``G_joint = G_parent @ R_joint``. Angles are unwrapped
  over time (no 360-degree jumps).
* A joint with several children (H36M's Hip and Thorax) holds each child
  through a helper joint at its own position (zero OFFSET, as the CMU BVH
  files' LHipJoint/LowerBack/Neck do), so that each child bone turns on its
  own: the angles between the pelvis bones and the spine change from frame
  to frame. The joint itself takes the orientation of its left-right child
  axis and its central child (pelvis, chest). A joint with one child
  rotates by the smallest turn that takes the bone from where its parent
  carries it to where the frame has it (a bone direction leaves the twist
  about it free; this keeps the parent's). With bone lengths constant over
  the sequence, the file reproduces every position.
* Names: ``/`` becomes ``_`` (``Neck/Nose`` -> ``Neck_Nose``); a leaf joint
  ends in an End Site a quarter of its bone's length further along it.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from tfpose import skeleton as skeleton_lib

_LEFT, _RIGHT, _UP, _DOWN = (1.0, 0.0, 0.0), (-1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, -1.0, 0.0)
# T-pose direction of the bone ending at each joint, in BVH axes.
REST_DIRECTIONS: Dict[str, Tuple[float, float, float]] = {
    "LHip": _LEFT, "LShoulder": _LEFT, "LElbow": _LEFT, "LWrist": _LEFT,
    "RHip": _RIGHT, "RShoulder": _RIGHT, "RElbow": _RIGHT, "RWrist": _RIGHT,
    "LKnee": _DOWN, "RKnee": _DOWN, "LFoot": _DOWN, "RFoot": _DOWN, "LAnkle": _DOWN,
    "RAnkle": _DOWN, "Spine": _UP, "Thorax": _UP, "Neck/Nose": _UP, "Head": _UP,
}
# Helper joints between a joint with several children and each child.
HELPER_NAMES: Dict[Tuple[str, str], str] = {
    ("Hip", "RHip"): "RPelvis", ("Hip", "LHip"): "LPelvis", ("Hip", "Spine"): "LowerBack",
    ("Pelvis", "RHip"): "RPelvis", ("Pelvis", "LHip"): "LPelvis",
    ("Pelvis", "Thorax"): "LowerBack", ("Thorax", "LShoulder"): "LClavicle",
    ("Thorax", "RShoulder"): "RClavicle", ("Thorax", "Neck/Nose"): "Neck",
    ("Thorax", "Head"): "Neck",
}
END_SITE_FRACTION = 0.25
ROOT_CHANNELS = ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")
JOINT_CHANNELS = ("Zrotation", "Xrotation", "Yrotation")


def camera_to_bvh(points) -> np.ndarray:
    """Camera frame (y down, z forward) -> BVH frame (y up); its own inverse."""
    p = np.asarray(points, np.float64)
    return p * np.array([1.0, -1.0, -1.0])


bvh_to_camera = camera_to_bvh


def bvh_name(joint_name: str) -> str:
    """A joint name as a BVH token (no whitespace or ``/``)."""
    return "_".join(joint_name.replace("/", "_").split())


def median_bone_lengths(poses_3d, skeleton: Union[str, skeleton_lib.Skeleton] = "h36m17"
                        ) -> np.ndarray:
    """Median length over frames of each bone, in ``Skeleton.bones`` order."""
    skel = _skeleton(skeleton)
    poses = np.asarray(poses_3d, np.float64)
    parents, children = zip(*skel.bones)
    return np.median(np.linalg.norm(poses[:, list(children)] - poses[:, list(parents)], axis=-1),
                     axis=0)


def _skeleton(skeleton) -> skeleton_lib.Skeleton:
    return skeleton_lib.get(skeleton) if isinstance(skeleton, str) else skeleton


# --------------------------------------------------------------------------
# Rotations


def _unit(v: np.ndarray, eps: float = 1e-9) -> Tuple[np.ndarray, np.ndarray]:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    ok = n[..., 0] > eps
    return np.where(ok[..., None], v / np.where(n > eps, n, 1.0), 0.0), ok


def _skew(v: np.ndarray) -> np.ndarray:
    z = np.zeros(v.shape[:-1])
    return np.stack([np.stack([z, -v[..., 2], v[..., 1]], -1),
                     np.stack([v[..., 2], z, -v[..., 0]], -1),
                     np.stack([-v[..., 1], v[..., 0], z], -1)], -2)


def swing(a, b) -> np.ndarray:
    """The smallest rotation taking unit vectors ``a`` to ``b`` ([..., 3] -> [..., 3, 3])."""
    a, b = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64))
    v = np.cross(a, b)
    c = np.sum(a * b, axis=-1)
    k = _skew(v)
    eye = np.broadcast_to(np.eye(3), a.shape[:-1] + (3, 3))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = eye + k + (k @ k) / (1.0 + c)[..., None, None]
    opposite = c < -1.0 + 1e-9
    if np.any(opposite):  # half turn about any axis perpendicular to a
        ao = a[opposite]
        axis = np.cross(ao, np.where(np.abs(ao[:, :1]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]]))
        axis, _ = _unit(axis)
        r[opposite] = 2 * axis[:, :, None] * axis[:, None, :] - np.eye(3)
    return r


def axis_rotation(axis: str, degrees) -> np.ndarray:
    """[..., 3, 3] rotations by ``degrees`` about the x, y or z axis (either case)."""
    t = np.radians(np.asarray(degrees, np.float64))
    c, s = np.cos(t), np.sin(t)
    o, z = np.ones_like(t), np.zeros_like(t)
    rows = {"x": ((o, z, z), (z, c, -s), (z, s, c)),
            "y": ((c, z, s), (z, o, z), (-s, z, c)),
            "z": ((c, -s, z), (s, c, z), (z, z, o))}[axis.lower()]
    return np.stack([np.stack(r, -1) for r in rows], -2)


def euler_zxy(r: np.ndarray) -> np.ndarray:
    """Rotation matrices [..., 3, 3] -> angles (z, x, y) in degrees with
    ``r = Rz(z) @ Rx(x) @ Ry(y)``; x in [-90, 90]."""
    r = np.asarray(r, np.float64)
    x = np.arcsin(np.clip(r[..., 2, 1], -1.0, 1.0))
    cx = np.cos(x)
    locked = cx < 1e-7
    z = np.where(locked, np.arctan2(r[..., 1, 0], r[..., 0, 0]),
                 np.arctan2(-r[..., 0, 1], r[..., 1, 1]))
    y = np.where(locked, 0.0, np.arctan2(-r[..., 2, 0], r[..., 2, 2]))
    return np.degrees(np.stack([z, x, y], axis=-1))


def from_euler(angles_deg, order: Sequence[str]) -> np.ndarray:
    """``R = R_order[0] @ R_order[1] @ ...`` for BVH channel axes ("Z", "X", "Y")."""
    angles = np.asarray(angles_deg, np.float64)
    r = np.broadcast_to(np.eye(3), angles.shape[:-1] + (3, 3)).copy()
    for k, axis in enumerate(order):
        r = r @ axis_rotation(axis, angles[..., k])
    return r


# --------------------------------------------------------------------------
# The hierarchy


@dataclasses.dataclass
class _Node:
    name: str
    parent: int  # index into the node list, -1: root
    offset: np.ndarray
    joint: Optional[int]  # skeleton joint index; None for a helper
    end_site: Optional[np.ndarray] = None
    children: List[int] = dataclasses.field(default_factory=list)


def _rest_direction(skel: skeleton_lib.Skeleton, j: int) -> np.ndarray:
    name = skel.joint_names[j]
    if name not in REST_DIRECTIONS:
        raise ValueError(f"skeleton {skel.name!r}: no rest direction for joint {name!r}; "
                         f"write_bvh knows {', '.join(REST_DIRECTIONS)}")
    return np.asarray(REST_DIRECTIONS[name])


def _build_nodes(skel: skeleton_lib.Skeleton, lengths: np.ndarray) -> List[_Node]:
    """Depth-first BVH nodes (the order the file lists them)."""
    bone_of = {child: b for b, (_, child) in enumerate(skel.bones)}
    kids = {j: [c for c in range(skel.num_joints) if skel.parents[c] == j]
            for j in range(skel.num_joints)}
    nodes: List[_Node] = []
    used = set()

    def name_of(text: str) -> str:
        name = bvh_name(text)
        if name in used:
            raise ValueError(f"skeleton {skel.name!r}: two BVH joints named {name!r}")
        used.add(name)
        return name

    def add(name: str, parent: int, offset, joint: Optional[int]) -> int:
        nodes.append(_Node(name_of(name), parent, np.asarray(offset, np.float64), joint))
        if parent >= 0:
            nodes[parent].children.append(len(nodes) - 1)
        return len(nodes) - 1

    def visit(j: int, parent_node: int) -> None:
        offset = (np.zeros(3) if skel.parents[j] < 0
                  else _rest_direction(skel, j) * lengths[bone_of[j]])
        n = add(skel.joint_names[j], parent_node, offset, j)
        if not kids[j]:
            nodes[n].end_site = _rest_direction(skel, j) * END_SITE_FRACTION * lengths[bone_of[j]]
        elif len(kids[j]) == 1:
            visit(kids[j][0], n)
        else:
            for c in kids[j]:
                key = (skel.joint_names[j], skel.joint_names[c])
                helper = add(HELPER_NAMES.get(key, f"{key[0]}_{key[1]}"), n, np.zeros(3), None)
                visit(c, helper)

    visit(skel.root, -1)
    return nodes


def _frame_axes(x: np.ndarray, y: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Gram-Schmidt frame [..., 3, 3] (columns x, y, x cross y) and where it is defined."""
    xu, okx = _unit(x)
    y_perp = y - np.sum(y * xu, -1, keepdims=True) * xu
    yu, _ = _unit(y_perp)
    oky = np.linalg.norm(y_perp, axis=-1) > 1e-6 * np.linalg.norm(y, axis=-1)
    return np.stack([xu, yu, np.cross(xu, yu)], axis=-1), okx & oky


def _body_frame_inputs(skel, nodes, node: int, positions: np.ndarray, offsets_of):
    """(x axis: left minus right child, y axis: central child or own bone) for a
    joint with several children, from ``positions`` [..., J, 3] or rest offsets."""
    j = nodes[node].joint
    children = [nodes[nodes[h].children[0]].joint for h in nodes[node].children]
    names = [skel.joint_names[c] for c in children]
    left = [c for c, n in zip(children, names) if n[:1] == "L" and n[1:2].isupper()]
    right = [c for c, n in zip(children, names) if n[:1] == "R" and n[1:2].isupper()]
    central = [c for c, n in zip(children, names) if c not in left and c not in right]
    if not left or not right:
        return None
    x = offsets_of(positions, left[0], j) - offsets_of(positions, right[0], j)
    if central:
        y = offsets_of(positions, central[0], j)
    elif skel.parents[j] >= 0:
        y = -offsets_of(positions, skel.parents[j], j)
    else:
        return None
    return x, y


def _global_rotations(skel, nodes: List[_Node], poses: np.ndarray) -> np.ndarray:
    """World rotation of every node per frame, [T, N, 3, 3] (BVH axes)."""
    t = len(poses)
    rest = np.zeros((skel.num_joints, 3))  # rest positions of the skeleton joints

    def rest_positions(node: int, at: np.ndarray) -> None:
        if nodes[node].joint is not None:
            rest[nodes[node].joint] = at
        for c in nodes[node].children:
            rest_positions(c, at + nodes[c].offset)

    rest_positions(0, np.zeros(3))
    rel = lambda pos, c, j: pos[..., c, :] - pos[..., j, :]  # noqa: E731
    g = np.zeros((t, len(nodes), 3, 3))
    for n, node in enumerate(nodes):
        parent_g = g[:, node.parent] if node.parent >= 0 else np.broadcast_to(np.eye(3), (t, 3, 3))
        j = node.joint
        if len(node.children) > 1:
            axes = _body_frame_inputs(skel, nodes, n, poses, rel)
            rest_axes = _body_frame_inputs(skel, nodes, n, rest, rel)
            g[:, n] = parent_g
            if axes is not None and rest_axes is not None:
                frame, ok = _frame_axes(*axes)
                rest_frame, rest_ok = _frame_axes(*rest_axes)
                if rest_ok:
                    g[ok, n] = frame[ok] @ rest_frame.T
        elif len(node.children) == 1:
            child = nodes[node.children[0]]
            # A helper sits at its parent joint's position.
            at = j if j is not None else nodes[node.parent].joint
            d, ok = _unit(poses[:, child.joint] - poses[:, at])
            o, _ = _unit(child.offset)
            carried = parent_g @ o
            g[:, n] = parent_g
            g[ok, n] = swing(carried[ok], d[ok]) @ parent_g[ok]
        else:
            g[:, n] = parent_g
    return g


# --------------------------------------------------------------------------
# Writing


def _numbers(values) -> str:
    """Space-separated, 6 decimals, without "-0.000000"."""
    return " ".join(f"{v:.6f}" for v in np.round(np.asarray(values, np.float64), 6) + 0.0)


def write_bvh(path, poses_3d, skeleton: Union[str, skeleton_lib.Skeleton] = "h36m17",
              fps: float = 50.0, scale: float = 1.0) -> str:
    """Write ``poses_3d`` [T, J, 3] (camera frame, y down, mm) as a BVH file.

    Bone lengths are the sequence's medians; each frame's joint rotations
    point every bone along the frame's. The root's position channels carry
    the root joint's position (zero for root-relative poses). Returns path.
    """
    path = os.fspath(path)
    skel = _skeleton(skeleton)
    poses = np.asarray(poses_3d, np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (skel.num_joints, 3) or not len(poses):
        raise ValueError(f"write_bvh needs poses of shape [frames, {skel.num_joints}, 3] for "
                         f"skeleton {skel.name!r}, got {list(poses.shape)}")
    bad = np.flatnonzero(~np.isfinite(poses).all(axis=(1, 2)))
    if len(bad):
        raise ValueError(f"write_bvh: {len(bad)} frame(s) have NaN/inf joints (first: frame "
                         f"{bad[0]}); fill or drop them first")
    if not fps > 0 or not scale > 0:
        raise ValueError(f"write_bvh needs fps > 0 and scale > 0, got fps={fps}, scale={scale}")
    bvh = camera_to_bvh(poses) * scale
    nodes = _build_nodes(skel, median_bone_lengths(bvh, skel))
    g = _global_rotations(skel, nodes, bvh)
    columns = [bvh[:, skel.root]]
    for n, node in enumerate(nodes):
        local = g[:, n] if node.parent < 0 else np.swapaxes(g[:, node.parent], -1, -2) @ g[:, n]
        angles = np.radians(euler_zxy(local))
        columns.append(np.degrees(np.unwrap(angles, axis=0)))
    motion = np.concatenate(columns, axis=1)

    lines = ["HIERARCHY"]

    def emit(n: int, depth: int) -> None:
        node, pad = nodes[n], "  " * depth
        lines.append(f"{pad}{'ROOT' if node.parent < 0 else 'JOINT'} {node.name}")
        lines.append(pad + "{")
        lines.append(f"{pad}  OFFSET " + _numbers(node.offset))
        channels = ROOT_CHANNELS if node.parent < 0 else JOINT_CHANNELS
        lines.append(f"{pad}  CHANNELS {len(channels)} {' '.join(channels)}")
        for c in node.children:
            emit(c, depth + 1)
        if node.end_site is not None:
            lines.extend([f"{pad}  End Site", pad + "  {",
                          f"{pad}    OFFSET " + _numbers(node.end_site),
                          pad + "  }"])
        lines.append(pad + "}")

    emit(0, 0)
    lines += ["MOTION", f"Frames: {len(motion)}", f"Frame Time: {1.0 / fps:.8f}"]
    lines += [_numbers(row) for row in motion]
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


# --------------------------------------------------------------------------
# Reading


@dataclasses.dataclass(frozen=True)
class BvhMotion:
    """A parsed BVH file: joints in file order, their OFFSETs and CHANNELS,
    End Site offsets by joint, and ``motion`` [frames, channels]."""

    joint_names: Tuple[str, ...]
    parents: Tuple[int, ...]
    offsets: np.ndarray
    channels: Tuple[Tuple[str, ...], ...]
    end_sites: Dict[int, np.ndarray]
    motion: np.ndarray
    frame_time: float

    @property
    def num_frames(self) -> int:
        return int(len(self.motion))


def read_bvh(path) -> BvhMotion:
    """Parse a BVH file (any channel order). Raises ValueError naming the file."""
    path = os.fspath(path)
    with open(path) as f:
        tokens = f.read().split()
    pos = 0

    def take(expected: Optional[str] = None) -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise ValueError(f"{path}: BVH ends early" + (f", expected {expected!r}"
                                                          if expected else ""))
        tok = tokens[pos]
        pos += 1
        if expected is not None and tok != expected:
            raise ValueError(f"{path}: BVH token {pos}: expected {expected!r}, got {tok!r}")
        return tok

    def number() -> float:
        tok = take()
        try:
            return float(tok)
        except ValueError:
            raise ValueError(f"{path}: BVH token {pos}: {tok!r} is not a number") from None

    names: List[str] = []
    parents: List[int] = []
    offsets: List[List[float]] = []
    channels: List[Tuple[str, ...]] = []
    end_sites: Dict[int, np.ndarray] = {}

    def joint(parent: int) -> None:
        index = len(names)
        names.append(take())
        parents.append(parent)
        take("{")
        take("OFFSET")
        offsets.append([number() for _ in range(3)])
        take("CHANNELS")
        count = int(number())
        channels.append(tuple(take() for _ in range(count)))
        while True:
            tok = take()
            if tok == "}":
                return
            if tok == "JOINT":
                joint(index)
            elif tok == "End":
                take("Site")
                take("{")
                take("OFFSET")
                end_sites[index] = np.array([number() for _ in range(3)])
                take("}")
            else:
                raise ValueError(f"{path}: BVH token {pos}: unexpected {tok!r} in joint "
                                 f"{names[index]!r}")

    take("HIERARCHY")
    take("ROOT")
    joint(-1)
    take("MOTION")
    take("Frames:")
    frames = int(number())
    take("Frame")
    take("Time:")
    frame_time = number()
    width = sum(len(c) for c in channels)
    values = tokens[pos:]
    if len(values) != frames * width:
        raise ValueError(f"{path}: BVH MOTION has {len(values)} values; {frames} frames x "
                         f"{width} channels need {frames * width}")
    try:
        motion = np.asarray(values, np.float64).reshape(frames, width)
    except ValueError:
        raise ValueError(f"{path}: BVH MOTION holds non-numbers") from None
    return BvhMotion(tuple(names), tuple(parents), np.asarray(offsets, np.float64),
                     tuple(channels), end_sites, motion, frame_time)


def forward_kinematics(bvh: BvhMotion) -> np.ndarray:
    """World positions [frames, joints, 3] of every BVH joint (file order)."""
    t = bvh.num_frames
    pos = np.zeros((t, len(bvh.joint_names), 3))
    glob_rot = np.zeros((t, len(bvh.joint_names), 3, 3))
    col = 0
    for j, (parent, chans) in enumerate(zip(bvh.parents, bvh.channels)):
        values = bvh.motion[:, col:col + len(chans)]
        col += len(chans)
        translation = np.zeros((t, 3))
        rot_axes, rot_values = [], []
        for k, ch in enumerate(chans):
            axis, kind = ch[0].upper(), ch[1:].lower()
            if kind == "position":
                translation[:, "XYZ".index(axis)] = values[:, k]
            elif kind == "rotation":
                rot_axes.append(axis)
                rot_values.append(values[:, k])
            else:
                raise ValueError(f"unknown BVH channel {ch!r} of joint {bvh.joint_names[j]!r}")
        local = (from_euler(np.stack(rot_values, -1), rot_axes) if rot_axes
                 else np.broadcast_to(np.eye(3), (t, 3, 3)))
        offset = bvh.offsets[j] + translation
        if parent < 0:
            pos[:, j] = offset
            glob_rot[:, j] = local
        else:
            pos[:, j] = pos[:, parent] + (glob_rot[:, parent] @ offset[..., None])[..., 0]
            glob_rot[:, j] = glob_rot[:, parent] @ local
    return pos


def read_poses(path, skeleton: Union[str, skeleton_lib.Skeleton] = "h36m17",
               scale: float = 1.0) -> np.ndarray:
    """A BVH written by ``write_bvh`` -> [frames, J, 3] camera-frame poses (mm)."""
    skel = _skeleton(skeleton)
    bvh = read_bvh(path)
    index = {n: i for i, n in enumerate(bvh.joint_names)}
    missing = [n for n in skel.joint_names if bvh_name(n) not in index]
    if missing:
        raise ValueError(f"{os.fspath(path)}: BVH lacks joint(s) {', '.join(missing)} of "
                         f"skeleton {skel.name!r}")
    world = forward_kinematics(bvh)[:, [index[bvh_name(n)] for n in skel.joint_names]]
    return bvh_to_camera(world) / scale
