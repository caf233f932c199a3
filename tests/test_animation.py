"""Animations: GIF frame count and timing, what the frames show, MP4 only
with imageio-ffmpeg, clear errors."""

import sys

import numpy as np
import pytest
from PIL import Image

from tfpose import animation, skeleton

H36M = skeleton.H36M_17


def _sequence(frames=4):
    """A person turning and raising the left wrist, camera frame (mm), and
    its projection (px) in a 1000 x 1000 image."""
    j = {"Hip": (0, 0, 0), "RHip": (-130, 0, 0), "RKnee": (-130, 450, 20),
         "RFoot": (-130, 880, 0), "LHip": (130, 0, 0), "LKnee": (130, 450, 20),
         "LFoot": (130, 880, 0), "Spine": (0, -230, 0), "Thorax": (0, -480, 0),
         "Neck/Nose": (0, -580, -60), "Head": (0, -680, 0), "LShoulder": (170, -460, 0),
         "LElbow": (200, -200, 0), "LWrist": (210, 50, -40), "RShoulder": (-170, -460, 0),
         "RElbow": (-200, -200, 0), "RWrist": (-210, 50, -40)}
    base = np.array([j[n] for n in H36M.joint_names], np.float64)
    poses = []
    for t in range(frames):
        a = np.radians(20.0 * t)
        turn = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
        pose = base @ turn.T
        pose[H36M.index("LWrist")] += [0, -120.0 * t, 0]
        poses.append(pose)
    poses_3d = np.array(poses)
    cam = poses_3d + [0, 0, 4500.0]
    poses_2d = 1150.0 * cam[..., :2] / cam[..., 2:] + 500.0
    return poses_2d, poses_3d


def _coloured(rgb, colour):
    r, g, b = (rgb[..., k].astype(int) for k in range(3))
    if colour == "green":
        return (g > 90) & (r < 60) & (b < 60)
    return (r > 180) & (g < 60) & (b < 60)


def test_gif_has_one_frame_per_pose_at_the_frame_rate(tmp_path):
    poses_2d, poses_3d = _sequence(5)
    path = animation.save_gif(tmp_path / "sub" / "a.gif", poses_2d, poses_3d, fps=10,
                              image_size=(1000, 1000), size_px=(320, 160), dpi=40)
    with Image.open(path) as im:
        assert im.format == "GIF" and im.n_frames == 5 and im.size == (320, 160)
        assert im.info["duration"] == 100 and im.info["loop"] == 0
    # stride 2: frames 0, 2, 4, each shown for two frame times.
    path = animation.save_animation(tmp_path / "b.gif", poses_2d, poses_3d, fps=10, stride=2,
                                    size_px=(320, 160), dpi=40)
    with Image.open(path) as im:
        assert im.n_frames == 3 and im.info["duration"] == 200


def test_frames_show_both_sides_in_both_panels_and_follow_the_motion():
    poses_2d, poses_3d = _sequence(3)
    frames = list(animation.render_frames(poses_2d, poses_3d, image_size=(1000, 1000)))
    assert len(frames) == 3 and frames[0].shape == (320, 640, 3) and frames[0].dtype == np.uint8
    half = frames[0].shape[1] // 2
    for panel in (frames[0][:, :half], frames[0][:, half:]):
        assert _coloured(panel, "green").sum() > 20 and _coloured(panel, "red").sum() > 20
    assert not np.array_equal(frames[0], frames[2])
    # The 2D panel keeps the image frame: a person moved to the bottom right
    # of the image is drawn further right and lower.
    moved = list(animation.render_frames(poses_2d[:1] + 300.0, poses_3d[:1],
                                         image_size=(1000, 1000)))[0]
    ys, xs = np.nonzero(_coloured(frames[0][:, :half], "red"))
    ys2, xs2 = np.nonzero(_coloured(moved[:, :half], "red"))
    assert xs2.mean() > xs.mean() + 20 and ys2.mean() > ys.mean() + 20


def test_sh_input_beside_a_17_joint_pose():
    poses_2d, poses_3d = _sequence(2)
    keep = [H36M.index(n) for n in skeleton.H36M_16.joint_names]
    frames = list(animation.render_frames(poses_2d[:, keep], poses_3d, skeleton_2d="h36m16",
                                          units="normalized", size_px=(320, 160), dpi=40))
    assert len(frames) == 2


def test_mp4_without_imageio_ffmpeg_is_a_clear_error(tmp_path, monkeypatch):
    poses_2d, poses_3d = _sequence(2)
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # import fails
    with pytest.raises(RuntimeError, match="MP4 needs the imageio-ffmpeg package"):
        animation.save_animation(tmp_path / "a.mp4", poses_2d, poses_3d)
    assert not (tmp_path / "a.mp4").exists()


def test_mp4_with_imageio_ffmpeg(tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    poses_2d, poses_3d = _sequence(6)
    path = animation.save_animation(tmp_path / "a.mp4", poses_2d, poses_3d, fps=12,
                                    size_px=(320, 160), dpi=40)
    frames, seconds = imageio_ffmpeg.count_frames_and_secs(path)
    assert frames == 6 and seconds == pytest.approx(0.5, abs=0.1)


def test_bad_arguments(tmp_path):
    poses_2d, poses_3d = _sequence(3)
    with pytest.raises(ValueError, match="unknown animation extension '.avi'"):
        animation.save_animation(tmp_path / "a.avi", poses_2d, poses_3d)
    with pytest.raises(ValueError, match="same non-zero number of 2D and 3D frames, got 3 and 2"):
        animation.save_gif(tmp_path / "a.gif", poses_2d, poses_3d[:2])
    with pytest.raises(ValueError, match=r"3D poses need shape \[frames, 16, 3\]"):
        animation.save_gif(tmp_path / "a.gif", poses_2d, poses_3d, skeleton_3d="h36m16")
    with pytest.raises(ValueError, match="divisible by 16"):
        animation.save_mp4(tmp_path / "a.mp4", poses_2d, poses_3d, size_px=(300, 160))
