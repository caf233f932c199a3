"""BVH round trip through an independent reader (issue #16): ``write_bvh``'s
file is parsed by ``bvhio`` (PyPI; its own parser, rest-pose handling and
quaternion forward kinematics, sharing no code with ``tfpose.bvh``), and the
world joint positions bvhio computes must reproduce the poses written --
once their bone lengths are set to the file's -- within 1 mm.

The expected positions are built here from the documented conventions only:
BVH axes ``(x, -y, -z)`` of the camera frame times ``scale``, and every bone
keeping its direction in each frame with the length the file's OFFSETs give.
"""

import numpy as np
import pytest

from tfpose import bvh, skeleton

bvhio = pytest.importorskip(
    "bvhio", reason="bvhio (the independent BVH reader) is not installed; "
    "pip install -e '.[test]'")

H36M = skeleton.H36M_17


def _bvhio_world_positions(path, joint_names):
    """[frames, J, 3]: bvhio's forward kinematics for the named BVH joints."""
    root = bvhio.readAsHierarchy(str(path))
    joints = {j.Name: j for j, _, _ in root.layout()}
    missing = [n for n in joint_names if n not in joints]
    assert not missing, f"bvhio found no joints {missing} in {path}"
    frames = root.getKeyframeRange()[1] + 1
    out = np.empty((frames, len(joint_names), 3))
    for t in range(frames):
        root.loadPose(t)
        out[t] = [list(joints[n].PositionWorld) for n in joint_names]
    return out


def _bvhio_bone_lengths(path, skel):
    """Each skeleton bone's length as the file's OFFSETs give it (helper
    joints between a joint and its children add their own offsets)."""
    container = bvhio.readAsBvh(str(path), loadKeyFrames=False)
    rest = {}

    def walk(joint, at):
        rest[joint.Name] = at
        for child in joint.Children:
            walk(child, at + np.array(list(child.Offset), np.float64))

    walk(container.Root, np.array(list(container.Root.Offset), np.float64))
    return np.array([np.linalg.norm(rest[bvh.bvh_name(skel.joint_names[c])]
                                    - rest[bvh.bvh_name(skel.joint_names[p])])
                     for p, c in skel.bones])


def _with_bone_lengths(poses_bvh, skel, lengths):
    """Every bone keeps its direction per frame, with ``lengths``; root stays."""
    out = np.empty_like(poses_bvh)
    out[:, skel.root] = poses_bvh[:, skel.root]
    for b, (p, c) in sorted(enumerate(skel.bones), key=lambda e: _depth(skel, e[1][1])):
        d = poses_bvh[:, c] - poses_bvh[:, p]
        out[:, c] = out[:, p] + d / np.linalg.norm(d, axis=-1, keepdims=True) * lengths[b]
    return out


def _depth(skel, j):
    depth = 0
    while skel.parents[j] >= 0:
        j, depth = skel.parents[j], depth + 1
    return depth


def _wandering_poses(skel, frames=30, seed=0):
    """Camera-frame poses (y down, mm) with constant bone lengths: each bone
    swings around an upright stance on its own, the body turns and walks."""
    rng = np.random.default_rng(seed)
    lengths = rng.uniform(90, 450, skel.num_bones)
    t = np.linspace(0, 1, frames)[:, None]
    poses = np.zeros((frames, skel.num_joints, 3))
    for b, (p, c) in sorted(enumerate(skel.bones), key=lambda e: _depth(skel, e[1][1])):
        base = bvh.bvh_to_camera(bvh.REST_DIRECTIONS[skel.joint_names[c]])  # T-pose
        d = base + 0.6 * np.sin(2 * np.pi * (t * rng.uniform(0.5, 2.0, 3)
                                            + rng.uniform(0, 1, 3)))
        poses[:, c] = poses[:, p] + d / np.linalg.norm(d, axis=-1, keepdims=True) * lengths[b]
    a = np.radians(160.0) * t[:, 0]
    turn = np.zeros((frames, 3, 3))
    turn[:, 0, 0] = turn[:, 2, 2] = np.cos(a)
    turn[:, 0, 2], turn[:, 2, 0] = np.sin(a), -np.sin(a)
    turn[:, 1, 1] = 1.0
    walk = np.concatenate([600 * t, 20 * t, 4500 - 400 * t], axis=-1)
    return np.einsum("fij,fkj->fki", turn, poses) + walk[:, None, :]


def _to_bvh_axes(poses_camera, scale):
    """The documented axis change: (x, y, z)_bvh = (x, -y, -z)_camera, times scale."""
    return np.asarray(poses_camera, np.float64) * np.array([1.0, -1.0, -1.0]) * scale


@pytest.mark.parametrize("name,scale", [("h36m17", 1.0), ("h36m17", 0.001),
                                        ("humaneva15", 1.0)])
def test_independent_reader_reproduces_constant_bone_length_poses(tmp_path, name, scale):
    skel = skeleton.get(name)
    poses = _wandering_poses(skel, seed=3)
    path = bvh.write_bvh(tmp_path / "motion.bvh", poses, skeleton=name, fps=25, scale=scale)
    names = [bvh.bvh_name(n) for n in skel.joint_names]
    world = _bvhio_world_positions(path, names)
    assert world.shape == poses.shape
    expected = _to_bvh_axes(poses, scale)
    # 1 mm, in the file's units (scale 0.001: metres).
    assert np.abs(world - expected).max() < 1.0 * scale
    parents, children = zip(*skel.bones)
    lengths = np.linalg.norm(expected[0, list(children)] - expected[0, list(parents)], axis=-1)
    np.testing.assert_allclose(_bvhio_bone_lengths(path, skel), lengths, rtol=1e-5)


def _real_sequence_in_camera(shared_data, frames=120, stride=5):
    """Human3.6M mocap (S9 Directions, 17 joints) seen from camera 1, with
    15 mm of noise per joint so that bone lengths vary from frame to frame as
    lifted poses' do (the mocap skeleton's are constant)."""
    import h5py

    pose_file = shared_data / "h36m" / "S9" / "MyPoses" / "3D_positions" / "Directions 1.h5"
    if not pose_file.is_file():
        pytest.skip(f"{pose_file} not in the shared data")
    with h5py.File(pose_file, "r") as f:
        arr = np.asarray(f["3D_positions"])
    world = arr.T.reshape(arr.shape[1], 32, 3)[:frames * stride:stride]
    world = world[:, [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]]
    with h5py.File(shared_data / "h36m" / "cameras.h5", "r") as f:
        r = np.asarray(f["subject9/camera1/R"])
        t = np.asarray(f["subject9/camera1/T"])[:, 0]
    noise = np.random.default_rng(0).normal(0.0, 15.0, world.shape)
    return (world - t) @ r + noise  # R_stored.T @ (X - T), row-wise


def test_independent_reader_reproduces_real_motion_with_the_files_bone_lengths(
        tmp_path, shared_data):
    poses = _real_sequence_in_camera(shared_data)
    bones_in = np.linalg.norm(poses[:, [c for _, c in H36M.bones]]
                              - poses[:, [p for p, _ in H36M.bones]], axis=-1)
    assert np.ptp(bones_in, axis=0).min() > 10.0  # lengths vary: the fixing is exercised
    path = bvh.write_bvh(tmp_path / "s9.bvh", poses, fps=10)
    world = _bvhio_world_positions(path, [bvh.bvh_name(n) for n in H36M.joint_names])
    lengths = _bvhio_bone_lengths(path, H36M)
    np.testing.assert_allclose(lengths, np.median(bones_in, axis=0), atol=1e-4)
    expected = _with_bone_lengths(_to_bvh_axes(poses, 1.0), H36M, lengths)
    assert np.abs(world - expected).max() < 1.0  # mm
    # The person stands up in the file (BVH y up): head above hip above feet.
    y = world[..., 1]
    head, hip, lfoot = (H36M.joint_names.index(n) for n in ("Head", "Hip", "LFoot"))
    assert (y[:, head] > y[:, hip]).all() and (y[:, hip] > y[:, lfoot]).all()
