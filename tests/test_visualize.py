"""Figures: PNGs of the promised size, side colours, upright 3D view, no leaks."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.image as mimage  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from tfpose import skeleton, visualize  # noqa: E402

H36M = skeleton.H36M_17


def _standing_pose() -> np.ndarray:
    """An upright person in the camera frame (y down), 4.5 m away, in mm."""
    joints = {
        "Hip": (0, 0, 0), "RHip": (-130, 0, 0), "RKnee": (-130, 450, 20),
        "RFoot": (-130, 880, 0), "LHip": (130, 0, 0), "LKnee": (130, 450, 20),
        "LFoot": (130, 880, 0), "Spine": (0, -230, 0), "Thorax": (0, -480, 0),
        "Neck/Nose": (0, -580, -60), "Head": (0, -680, 0), "LShoulder": (170, -460, 0),
        "LElbow": (200, -200, 0), "LWrist": (210, 50, -40), "RShoulder": (-170, -460, 0),
        "RElbow": (-200, -200, 0), "RWrist": (-210, 50, -40),
    }
    pose = np.array([joints[n] for n in H36M.joint_names], np.float64)
    return pose + np.array([0.0, 0.0, 4500.0])


def _project(pose_3d: np.ndarray) -> np.ndarray:
    return 1150.0 * pose_3d[:, :2] / pose_3d[:, 2:] + np.array([500.0, 500.0])


def _png_shape(path) -> tuple:
    return mimage.imread(path).shape


def _side(name: str) -> str:
    if name[0] == "L" and name[1].isupper():
        return "green"
    if name[0] == "R" and name[1].isupper():
        return "red"
    return "black"


def test_plot_pose_3d_colours_sides_and_stands_upright():
    fig = Figure()
    ax = fig.add_subplot(1, 1, 1, projection="3d")
    pose = _standing_pose()
    lines = visualize.plot_pose_3d(ax, pose, H36M)
    assert len(lines) == len(ax.lines) == H36M.num_bones
    colours = set()
    for line in ax.lines:
        assert type(line).__name__ == "Line3D"
        child = line.get_gid()
        assert mcolors.to_rgb(line.get_color()) == mcolors.to_rgb(_side(child))
        colours.add(_side(child))
    assert colours == {"green", "red", "black"}
    # Up on screen is -y: the head is drawn above the feet, depth goes along y.
    drawn = {line.get_gid(): line.get_data_3d() for line in ax.lines}
    head_up = drawn["Head"][2][1]
    foot_up = drawn["LFoot"][2][1]
    assert head_up == pytest.approx(680.0) and foot_up == pytest.approx(-880.0)
    assert drawn["Head"][1][1] == pytest.approx(4500.0)   # depth axis
    lo, hi = ax.get_zlim3d()
    assert lo < foot_up < head_up < hi


def test_plot_pose_2d_uses_image_coordinates():
    fig = Figure()
    ax = fig.add_subplot(1, 1, 1)
    skel = skeleton.H36M_16
    pose_2d = _project(_standing_pose())[[H36M.index(n) for n in skel.joint_names]]
    lines = visualize.plot_pose_2d(ax, pose_2d, skel)
    assert len(lines) == skel.num_bones
    assert ax.yaxis_inverted()
    for line in lines:
        assert mcolors.to_rgb(line.get_color()) == mcolors.to_rgb(_side(line.get_gid()))
    with pytest.raises(ValueError):
        visualize.plot_pose_2d(ax, pose_2d[:5], skel)


def test_save_triplets_writes_a_grid_png(tmp_path):
    gt = np.stack([_standing_pose(), _standing_pose() + [0.0, 0.0, 500.0]])
    pred = gt + np.random.default_rng(0).normal(0, 30.0, gt.shape)
    skel_2d = skeleton.H36M_16     # SH input lacks Neck/Nose
    keep = [H36M.index(n) for n in skel_2d.joint_names]
    poses_2d = np.stack([_project(g)[keep] for g in gt])
    before = plt.get_fignums()
    path = visualize.save_triplets(tmp_path / "sub" / "triplets.png", poses_2d, gt, pred,
                                   skel_2d, H36M, titles=["Walking", "Sitting"], dpi=40)
    assert path == str(tmp_path / "sub" / "triplets.png")
    assert (tmp_path / "sub" / "triplets.png").stat().st_size > 1000
    assert _png_shape(path)[:2] == (2 * 3 * 40, 3 * 3 * 40)
    assert plt.get_fignums() == before
    with pytest.raises(ValueError):
        visualize.save_triplets(tmp_path / "bad.png", poses_2d, gt[:1], pred, skel_2d, H36M)


def test_save_per_joint_bars(tmp_path):
    rng = np.random.default_rng(1)
    errors = {"basic": rng.uniform(20, 90, 17), "ours": rng.uniform(20, 80, 17)}
    path = visualize.save_per_joint_bars(tmp_path / "bars.png", errors, H36M, "per joint",
                                         figsize=(10.0, 4.0), dpi=50)
    assert _png_shape(path)[:2] == (200, 500)
    with pytest.raises(ValueError):
        visualize.save_per_joint_bars(tmp_path / "bad.png", {"x": np.ones(15)}, H36M, "")


def test_save_curves(tmp_path):
    steps = np.arange(100)
    series = {"train": (steps, 100.0 / (1 + steps)), "val": (steps[::10], 120.0 / (1 + steps[::10]))}
    path = visualize.save_curves(tmp_path / "curves.png", series, "step", "MPJPE (mm)", "loss",
                                 logy=True, figsize=(6.0, 4.0), dpi=50)
    assert _png_shape(path)[:2] == (200, 300)
    img = mimage.imread(path)
    assert img[..., :3].std() > 0.01   # something was drawn
