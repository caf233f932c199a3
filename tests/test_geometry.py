"""Skeleton and camera geometry, checked against the real Human3.6M and HumanEva data."""

import json
import pathlib

import numpy as np
import pytest

from tfpose import camera, skeleton

DATA = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"
H36M = DATA / "h36m"
HUMANEVA = DATA / "humaneva"
needs_data = pytest.mark.skipif(not H36M.is_dir(), reason="../shared/data is missing")


def test_h36m_bones_and_hard_joints():
    s = skeleton.H36M_17
    assert s.num_joints == 17 and s.num_bones == 16 and s.root == 0
    names = {s.joint_names[j] for j in s.hard_joints}
    assert names == {"LElbow", "RElbow", "LWrist", "RWrist", "LKnee", "RKnee", "LFoot", "RFoot"}
    assert set(s.limb_bones) == {"lu_arm", "ll_arm", "lu_leg", "ll_leg",
                                 "ru_arm", "rl_arm", "ru_leg", "rl_leg"}
    assert s.limb_bones["ll_arm"] == (s.index("LElbow"), s.index("LWrist"))


def test_skeleton_by_joint_names():
    for s in skeleton.SKELETONS.values():
        assert skeleton.by_joint_names(list(s.joint_names)) is s
    # Order matters: the same joints in another order are a different layout.
    swapped = list(skeleton.H36M_17.joint_names)
    swapped[1], swapped[4] = swapped[4], swapped[1]
    with pytest.raises(ValueError, match=r"17 joints \[Hip, LHip, .*RHip"):
        skeleton.by_joint_names(swapped)
    with pytest.raises(ValueError, match="h36m17, h36m16, humaneva15"):
        skeleton.by_joint_names(["Hip", "Nose"])


def test_bone_distances_match_repgan_fig4():
    s = skeleton.H36M_17
    d = s.bone_distance_matrix()
    assert (d == d.T).all() and (np.diag(d) == 0).all()
    rhip_bone = s.bones.index((0, s.index("RHip")))
    counts = np.bincount(d[rhip_bone])
    # Fig. 4: three bones at distance 1, two at distance 5 (the wrists).
    assert counts[1] == 3 and counts[5] == 2 and d[rhip_bone].max() == 5


def test_incidence_matrix_gives_bone_vectors():
    s = skeleton.HUMANEVA_15
    pose = np.random.default_rng(0).normal(size=(15, 3))
    bones = pose.T @ s.incidence_matrix()  # (3, B) = Y C
    for b, (p, j) in enumerate(s.bones):
        np.testing.assert_allclose(bones[:, b], pose[j] - pose[p], atol=1e-6)


def test_h36m16_drops_only_the_nose_and_reparents_the_head():
    s16 = skeleton.H36M_16
    assert "Neck/Nose" not in s16.joint_names and s16.num_joints == 16
    assert s16.parents[s16.index("Head")] == s16.index("Thorax")
    mpii = np.arange(32, dtype=np.float32).reshape(16, 2)
    mapped = skeleton.mpii_to_h36m16(mpii)
    # MPII joint 6 is the pelvis, H36M "Hip" is h36m16 joint 0.
    np.testing.assert_array_equal(mapped[0], mpii[6])
    np.testing.assert_array_equal(mapped[s16.index("RFoot")], mpii[0])
    with pytest.raises(ValueError, match="16 joints"):
        skeleton.mpii_to_h36m16(np.zeros((17, 2)))


def test_coco_mapping_synthesises_missing_joints():
    coco = np.random.default_rng(1).uniform(0, 500, size=(4, 17, 2)).astype(np.float32)
    h36m = skeleton.coco_to_h36m17(coco)
    assert h36m.shape == (4, 17, 2)
    s = skeleton.H36M_17
    np.testing.assert_allclose(h36m[:, s.index("Hip")], (coco[:, 11] + coco[:, 12]) / 2)
    np.testing.assert_allclose(h36m[:, s.index("RWrist")], coco[:, 10])


def test_projection_numpy_and_tf_agree():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, 17, 3)) * 300 + [0, 0, 5000]
    f, c = np.array([1145.0, 1144.0]), np.array([512.0, 515.0])
    k, p = np.array([-0.2, 0.24, -0.0025]), np.array([-0.0015, -0.0009])
    np_uv = camera.project_to_pixels(x, f, c, k, p)
    tf_uv = camera.project_to_pixels_tf(x.astype(np.float32), f, c, k, p).numpy()
    np.testing.assert_allclose(tf_uv, np_uv, atol=1e-2)
    # Without distortion it is the pinhole model.
    np.testing.assert_allclose(camera.project_to_pixels(x, f, c), x[..., :2] / x[..., 2:] * f + c)


def test_world_camera_round_trip():
    R = camera.quaternion_to_matrix([0.42, -0.5, -0.58, 0.48])
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    x = np.random.default_rng(3).normal(size=(7, 3)) * 1000
    T = np.array([100.0, -2000.0, 1500.0])
    np.testing.assert_allclose(camera.camera_to_world(camera.world_to_camera(x, R, T), R, T), x)


def _h36m_sequence(subject, action):
    import h5py

    with h5py.File(H36M / subject / "MyPoses" / "3D_positions" / f"{action}.h5", "r") as f:
        arr = f["3D_positions"][:]
    return arr.T.reshape(arr.shape[1], 32, 3)[:, list(skeleton.H36M_32_TO_17)]


@needs_data
@pytest.mark.parametrize("subject,action", [("S9", "Walking"), ("S1", "Eating 2"), ("S11", "Phoning 3")])
def test_h36m_projection_lands_on_stacked_hourglass(subject, action):
    import h5py

    cams = camera.load_h36m_cameras(str(H36M / "cameras.h5"))
    world = _h36m_sequence(subject, action)
    limb_names = ["RKnee", "RFoot", "LKnee", "LFoot", "LElbow", "LWrist", "RElbow", "RWrist",
                  "LShoulder", "RShoulder", "RHip", "LHip"]
    s16 = skeleton.H36M_16
    for cam_id in camera.H36M_CAMERA_IDS:
        cam = cams[(subject, cam_id)]
        x_cam = cam.world_to_camera(world)
        # Subjects stand 3-7 m in front of the camera (median root depth).
        assert 3000 < np.median(x_cam[:, 0, 2]) < 7000
        assert (x_cam[..., 2] > 1500).all()
        uv = cam.project(x_cam)
        det_file = H36M / subject / "StackedHourglass" / f"{action.replace(' ', '_')}.{cam_id}.h5"
        with h5py.File(det_file, "r") as f:
            det = skeleton.mpii_to_h36m16(f["poses"][:])
        assert len(det) == len(uv)
        err = [np.median(np.linalg.norm(uv[:, skeleton.H36M_17.index(n)] - det[:, s16.index(n)], axis=-1))
               for n in limb_names]
        assert np.median(err) < 20.0, (cam_id, err)


@needs_data
def test_humaneva_extrinsics_give_a_pinhole_fit():
    cams = json.loads((HUMANEVA / "cameras.json").read_text())["cameras"]
    pos3d = np.load(HUMANEVA / "data_3d_humaneva15.npz", allow_pickle=True)["positions_3d"].item()
    pos2d = np.load(HUMANEVA / "data_2d_humaneva15_gt.npz", allow_pickle=True)["positions_2d"].item()
    for subject in ("S1", "S2", "S3"):
        key = f"Train/{subject}"
        seq = next(s for s in pos3d[key] if s.startswith("Walking"))
        world_mm = pos3d[key][seq] * 1000.0
        for c, cam in enumerate(cams[subject]):
            R = camera.quaternion_to_matrix(cam["orientation"]).T
            x_cam = camera.world_to_camera(world_mm, R, cam["translation"])
            assert 2000 < np.median(x_cam[:, 0, 2]) < 7000
            f, ctr, residual = camera.fit_pinhole(x_cam, pos2d[key][seq][c])
            assert residual < 5.0, (subject, cam["id"], residual)
            assert 300 < f[0] < 1500 and abs(f[0] - f[1]) / f[0] < 0.05
