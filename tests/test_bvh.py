"""BVH: round trip through a parser and forward kinematics, the rotation
convention on hand-computed cases, axes, file structure and errors."""

import numpy as np
import pytest

from tfpose import bvh, skeleton

H36M = skeleton.H36M_17


def _random_motion(skel, frames=40, seed=0, lengths=None):
    """Camera-frame poses (y down) with constant bone lengths: every bone
    wanders around its T-pose direction on its own (so the angles between the
    pelvis bones and the spine change), the body turns 200 degrees about the
    vertical and walks."""
    rng = np.random.default_rng(seed)
    if lengths is None:
        lengths = rng.uniform(90, 450, skel.num_bones)
    t = np.linspace(0, 1, frames)[:, None]
    poses = np.zeros((frames, skel.num_joints, 3))
    for b, (p, c) in enumerate(skel.bones):
        rest = bvh.bvh_to_camera(bvh.REST_DIRECTIONS[skel.joint_names[c]])
        wobble = np.sin(2 * np.pi * (t * rng.uniform(0.5, 2.0, 3) + rng.uniform(0, 1, 3)))
        d = rest + 0.6 * wobble
        d /= np.linalg.norm(d, axis=-1, keepdims=True)
        length = lengths[b] if np.ndim(lengths[b]) == 0 else lengths[b][:, None]
        poses[:, c] = poses[:, p] + d * length
    angle = np.radians(200.0) * t[:, 0]
    turn = np.zeros((frames, 3, 3))
    turn[:, 0, 0] = turn[:, 2, 2] = np.cos(angle)
    turn[:, 0, 2], turn[:, 2, 0] = np.sin(angle), -np.sin(angle)
    turn[:, 1, 1] = 1.0
    walk = np.concatenate([800 * t, np.zeros_like(t), 4000 + 500 * t], axis=-1)
    return np.einsum("fij,fkj->fki", turn, poses) + walk[:, None, :]


@pytest.mark.parametrize("name", ["h36m17", "h36m16", "humaneva15"])
def test_round_trip_reproduces_positions_with_constant_bone_lengths(tmp_path, name):
    skel = skeleton.get(name)
    poses = _random_motion(skel, seed=1)
    path = bvh.write_bvh(tmp_path / "motion.bvh", poses, skeleton=name, fps=30)
    back = bvh.read_poses(path, skeleton=name)
    assert back.shape == poses.shape
    assert np.abs(back - poses).max() < 1.0  # mm
    assert np.abs(back - poses).max() < 0.01  # in fact limited only by the 6 decimals


def test_varying_bone_lengths_keep_directions_and_take_the_medians(tmp_path):
    rng = np.random.default_rng(2)
    lengths = [rng.uniform(90, 450) * rng.uniform(0.9, 1.1, 25) for _ in range(H36M.num_bones)]
    poses = _random_motion(H36M, frames=25, seed=2, lengths=lengths)
    back = bvh.read_poses(bvh.write_bvh(tmp_path / "m.bvh", poses), "h36m17")
    parents, children = zip(*H36M.bones)
    bones_in = poses[:, list(children)] - poses[:, list(parents)]
    bones_out = back[:, list(children)] - back[:, list(parents)]
    cos = np.sum(bones_in * bones_out, -1) / (np.linalg.norm(bones_in, axis=-1)
                                             * np.linalg.norm(bones_out, axis=-1))
    assert cos.min() > 1 - 1e-9
    np.testing.assert_allclose(np.linalg.norm(bones_out, axis=-1),
                               np.broadcast_to(np.median(np.linalg.norm(bones_in, axis=-1), 0),
                                               bones_out.shape[:2]), atol=1e-4)
    np.testing.assert_allclose(back[:, 0], poses[:, 0], atol=1e-5)  # root carried as is


def _t_pose_camera():
    """A T-pose facing the camera: left on +x, up is -y, facing -z."""
    j = {"Hip": (0, 0, 0), "LHip": (110, 0, 0), "LKnee": (110, 420, 0), "LFoot": (110, 860, 0),
         "RHip": (-110, 0, 0), "RKnee": (-110, 420, 0), "RFoot": (-110, 860, 0),
         "Spine": (0, -240, 0), "Thorax": (0, -500, 0), "Neck/Nose": (0, -610, 0),
         "Head": (0, -720, 0), "LShoulder": (150, -500, 0), "LElbow": (420, -500, 0),
         "LWrist": (670, -500, 0), "RShoulder": (-150, -500, 0), "RElbow": (-420, -500, 0),
         "RWrist": (-670, -500, 0)}
    return np.array([j[n] for n in H36M.joint_names], np.float64)


def test_file_structure_and_a_t_pose_facing_the_camera_is_the_rest_pose(tmp_path):
    pose = _t_pose_camera() + np.array([10.0, 20.0, 3000.0])
    path = bvh.write_bvh(tmp_path / "t.bvh", np.stack([pose, pose, pose]), fps=25)
    text = open(path).read()
    assert text.startswith("HIERARCHY\nROOT Hip\n") and "Frames: 3\nFrame Time: 0.04" in text
    motion = bvh.read_bvh(path)
    names = motion.joint_names
    assert set(names) == {bvh.bvh_name(n) for n in H36M.joint_names} | {
        "RPelvis", "LPelvis", "LowerBack", "Neck", "LClavicle", "RClavicle"}
    assert "Neck_Nose" in names and motion.frame_time == pytest.approx(0.04)
    assert motion.channels[0] == bvh.ROOT_CHANNELS
    assert all(c == bvh.JOINT_CHANNELS for c in motion.channels[1:])
    assert motion.motion.shape == (3, 6 + 3 * (len(names) - 1))
    # Helpers sit at their parent joint; every rotation of this pose is zero.
    for helper in ("RPelvis", "LPelvis", "LowerBack", "Neck", "LClavicle", "RClavicle"):
        np.testing.assert_array_equal(motion.offsets[names.index(helper)], 0.0)
    np.testing.assert_allclose(motion.motion[:, 3:], 0.0, atol=1e-6)
    np.testing.assert_allclose(motion.motion[0, :3], [10.0, -20.0, -3000.0])  # y up, z back
    # Offsets are the T-pose in BVH axes: y up, the person's left on +x.
    off = dict(zip(names, motion.offsets))
    np.testing.assert_allclose(off["LKnee"], [0, -420, 0], atol=1e-6)
    np.testing.assert_allclose(off["Spine"], [0, 240, 0], atol=1e-6)
    np.testing.assert_allclose(off["LShoulder"], [150, 0, 0], atol=1e-6)
    np.testing.assert_allclose(off["RElbow"], [-270, 0, 0], atol=1e-6)
    head = names.index("Head")
    np.testing.assert_allclose(motion.end_sites[head], [0, 110 * bvh.END_SITE_FRACTION, 0])


def test_a_turned_t_pose_turns_only_the_root(tmp_path):
    """Children inherit their parent's twist: turning the whole body about the
    vertical is one root rotation, every local rotation stays zero."""
    angles = np.array([0.0, 30.0, 90.0, 150.0])
    poses = []
    for a in np.radians(angles):
        # About the camera's y (vertical) axis.
        turn = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
        poses.append(_t_pose_camera() @ turn.T)
    motion = bvh.read_bvh(bvh.write_bvh(tmp_path / "turn.bvh", np.array(poses)))
    np.testing.assert_allclose(motion.motion[:, 6:], 0.0, atol=1e-6)
    np.testing.assert_allclose(motion.motion[:, 3:5], 0.0, atol=1e-6)  # root Z, X
    # Camera y is down and BVH y up, so a turn about camera y is minus one about BVH y.
    np.testing.assert_allclose(motion.motion[:, 5], -angles, atol=1e-6)


def test_an_upright_person_stands_up_in_bvh_axes(tmp_path):
    poses = _random_motion(H36M, frames=5, seed=3)
    motion = bvh.read_bvh(bvh.write_bvh(tmp_path / "u.bvh", poses))
    world = bvh.forward_kinematics(motion)
    y = {n: world[:, motion.joint_names.index(n), 1] for n in ("Head", "Hip", "LFoot")}
    assert (y["Head"] > y["Hip"]).all() and (y["Hip"] > y["LFoot"]).all()


def test_forward_kinematics_convention_on_hand_computed_cases(tmp_path):
    # Channel order Z, X, Y means R = Rz @ Rx @ Ry; children see parent @ local.
    text = """HIERARCHY
ROOT A
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT B
  {
    OFFSET 0 0 1
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 0 1
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.1
5 6 7 90 90 0 0 0 0
0 0 0 0 90 0 90 0 0
"""
    path = tmp_path / "hand.bvh"
    path.write_text(text)
    world = bvh.forward_kinematics(bvh.read_bvh(path))
    # Frame 0: Rx(90) takes (0, 0, 1) to (0, -1, 0), then Rz(90) to (1, 0, 0).
    np.testing.assert_allclose(world[0, 1], [6, 6, 7], atol=1e-9)
    # Frame 1: the root's Rx(90) alone; B's own turn moves only its End Site.
    np.testing.assert_allclose(world[1, 1], [0, -1, 0], atol=1e-9)

    chain = """HIERARCHY
ROOT R
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT J1
  {
    OFFSET 1 0 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT J2
    {
      OFFSET 1 0 0
      CHANNELS 3 Zrotation Xrotation Yrotation
      End Site
      {
        OFFSET 1 0 0
      }
    }
  }
}
MOTION
Frames: 1
Frame Time: 0.02
0 0 0 0 0 90 90 0 0 0 0 0
"""
    path.write_text(chain)
    world = bvh.forward_kinematics(bvh.read_bvh(path))
    # Root Ry(90) takes +x to -z: J1 at (0, 0, -1); J1's Rz(90) turns its
    # child's +x offset to +y before the root's turn: J2 at (0, 1, -1).
    np.testing.assert_allclose(world[0], [[0, 0, 0], [0, 0, -1], [0, 1, -1]], atol=1e-9)


def test_euler_zxy_inverts_from_euler_including_gimbal_lock():
    rng = np.random.default_rng(4)
    q = rng.normal(size=(200, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q.T
    rows = ((1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)),
            (2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)),
            (2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)))
    r = np.stack([np.stack(row, -1) for row in rows], -2)  # quaternion -> matrix
    locked = bvh.from_euler(np.array([[30.0, 90.0, 40.0], [-70.0, -90.0, 10.0]]), "ZXY")
    r = np.concatenate([r, locked])
    np.testing.assert_allclose(bvh.from_euler(bvh.euler_zxy(r), "ZXY"), r, atol=1e-9)


def test_swing_is_the_smallest_rotation_even_for_opposite_vectors():
    a = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    b = np.array([[0, 1.0, 0], [0, -1.0, 0], [0, 0, 1.0]])
    r = bvh.swing(a, b)
    np.testing.assert_allclose(np.einsum("nij,nj->ni", r, a), b, atol=1e-12)
    np.testing.assert_allclose(r @ np.swapaxes(r, 1, 2), np.broadcast_to(np.eye(3), r.shape),
                               atol=1e-12)
    np.testing.assert_allclose(r[0] @ [0, 0, 1.0], [0, 0, 1.0], atol=1e-12)  # no twist
    np.testing.assert_allclose(r[2], np.eye(3), atol=1e-12)


def test_bad_input_is_a_clear_error(tmp_path):
    poses = _random_motion(H36M, frames=3)
    with pytest.raises(ValueError, match=r"shape \[frames, 17, 3\].*got \[3, 17, 2\]"):
        bvh.write_bvh(tmp_path / "x.bvh", poses[..., :2])
    poses[1, 4] = np.nan
    with pytest.raises(ValueError, match="1 frame\\(s\\) have NaN/inf joints \\(first: frame 1"):
        bvh.write_bvh(tmp_path / "x.bvh", poses)
    weird = skeleton.Skeleton("weird", ("Root", "Tail"), (-1, 0))
    with pytest.raises(ValueError, match="no rest direction for joint 'Tail'"):
        bvh.write_bvh(tmp_path / "x.bvh", np.zeros((2, 2, 3)), skeleton=weird)
    (tmp_path / "short.bvh").write_text("HIERARCHY\nROOT A\n{\nOFFSET 0 0 0\n")
    with pytest.raises(ValueError, match="short.bvh: BVH ends early"):
        bvh.read_bvh(tmp_path / "short.bvh")
