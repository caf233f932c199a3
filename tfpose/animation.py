"""Animations of a lifted sequence: the 2D input beside the 3D skeleton.

Each frame is drawn with ``tfpose.visualize``'s skeleton style (left side
green, right red; 3D upright with depth going away) on one matplotlib
figure whose lines are moved from frame to frame, so a long sequence renders
at a steady pace. GIFs are written with Pillow (which matplotlib already
needs); MP4 needs the optional ``imageio-ffmpeg`` package. The 2D panel
keeps the image's pixel frame (the image size when known, else the extent of
all frames) and the 3D panel one cube for the whole sequence, centred on the
root, so that motion and size read true.
"""

from __future__ import annotations

import os
from typing import Iterator, Optional, Sequence, Tuple, Union

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tfpose import skeleton as skeleton_lib
from tfpose import visualize

ANIMATION_EXTENSIONS = (".gif", ".mp4")
SkeletonLike = Union[str, skeleton_lib.Skeleton]


def _skeleton(s: SkeletonLike) -> skeleton_lib.Skeleton:
    return skeleton_lib.get(s) if isinstance(s, str) else s


def _check(poses_2d, poses_3d, skel_2d, skel_3d) -> Tuple[np.ndarray, np.ndarray]:
    p2 = np.asarray(poses_2d, np.float64)
    p3 = np.asarray(poses_3d, np.float64)
    if p2.ndim != 3 or p2.shape[1:] != (skel_2d.num_joints, 2):
        raise ValueError(f"2D poses need shape [frames, {skel_2d.num_joints}, 2] for skeleton "
                         f"{skel_2d.name!r}, got {list(p2.shape)}")
    if p3.ndim != 3 or p3.shape[1:] != (skel_3d.num_joints, 3):
        raise ValueError(f"3D poses need shape [frames, {skel_3d.num_joints}, 3] for skeleton "
                         f"{skel_3d.name!r}, got {list(p3.shape)}")
    if not len(p2) or len(p2) != len(p3):
        raise ValueError(f"need the same non-zero number of 2D and 3D frames, got {len(p2)} "
                         f"and {len(p3)}")
    return p2, p3


def _limits_2d(p2: np.ndarray, image_size: Optional[Tuple[int, int]]):
    if image_size is not None:
        return (0.0, float(image_size[0])), (float(image_size[1]), 0.0)
    lo, hi = np.nanmin(p2, axis=(0, 1)), np.nanmax(p2, axis=(0, 1))
    if not np.all(np.isfinite([lo, hi])):
        lo, hi = np.zeros(2), np.ones(2)
    margin = 0.1 * max(float(np.max(hi - lo)), 1.0)
    return (lo[0] - margin, hi[0] + margin), (hi[1] + margin, lo[1] - margin)


def render_frames(poses_2d, poses_3d, skeleton_2d: SkeletonLike = "h36m17",
                  skeleton_3d: SkeletonLike = "h36m17",
                  image_size: Optional[Tuple[int, int]] = None, units: str = "mm",
                  frame_labels: Optional[Sequence] = None, stride: int = 1,
                  size_px: Tuple[int, int] = (640, 320), dpi: int = 80) -> Iterator[np.ndarray]:
    """RGB images [H, W, 3] uint8, one per shown frame (every ``stride``-th)."""
    skel_2d, skel_3d = _skeleton(skeleton_2d), _skeleton(skeleton_3d)
    p2, p3 = _check(poses_2d, poses_3d, skel_2d, skel_3d)
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    labels = list(range(len(p2))) if frame_labels is None else list(frame_labels)
    if len(labels) != len(p2):
        raise ValueError(f"{len(labels)} frame labels for {len(p2)} frames")

    fig = Figure(figsize=(size_px[0] / dpi, size_px[1] / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    ax2 = fig.add_subplot(1, 2, 1)
    ax3 = fig.add_subplot(1, 2, 2, projection="3d")
    first = int(np.argmax(np.isfinite(p3).all(axis=(1, 2))))  # a drawable frame, if any
    lines_2d = visualize.plot_pose_2d(ax2, np.nan_to_num(p2[first]), skel_2d)
    joints_2d = ax2.collections[-1]
    rel = p3 - p3[:, skel_3d.root:skel_3d.root + 1]
    radius = float(np.nanmax(np.abs(rel))) * 1.1 if np.isfinite(rel).any() else 1.0
    radius = radius if radius > 0 else 1.0
    lines_3d = visualize.plot_pose_3d(ax3, np.nan_to_num(p3[first]), skel_3d, radius=radius)
    xlim, ylim = _limits_2d(p2, image_size)
    ax2.set_aspect("equal", adjustable="box")
    ax2.set_xlim(*xlim)
    ax2.set_ylim(*ylim)
    ax2.tick_params(labelsize=6)
    ax3.set_title(f"3D ({units})", fontsize=8)
    fig.subplots_adjust(left=0.08, right=0.97, bottom=0.1, top=0.9, wspace=0.2)

    for t in range(0, len(p2), stride):
        for line, (p, c) in zip(lines_2d, skel_2d.bones):
            line.set_data(p2[t, [p, c], 0], p2[t, [p, c], 1])
        joints_2d.set_offsets(p2[t])
        shown = np.stack([p3[t, :, 0], p3[t, :, 2], -p3[t, :, 1]], axis=-1)  # as visualize
        for line, (p, c) in zip(lines_3d, skel_3d.bones):
            line.set_data_3d(shown[[p, c], 0], shown[[p, c], 1], shown[[p, c], 2])
        centre = shown[skel_3d.root]
        if np.isfinite(centre).all():
            ax3.set_xlim3d(centre[0] - radius, centre[0] + radius)
            ax3.set_ylim3d(centre[1] - radius, centre[1] + radius)
            ax3.set_zlim3d(centre[2] - radius, centre[2] + radius)
        ax2.set_title(f"frame {labels[t]}: 2D input (px)", fontsize=8)
        canvas.draw()
        yield np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _prepare(path) -> str:
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    return path


def save_gif(path, poses_2d, poses_3d, skeleton_2d: SkeletonLike = "h36m17",
             skeleton_3d: SkeletonLike = "h36m17", fps: float = 25.0, stride: int = 1,
             **render) -> str:
    """Animated GIF, looping, of the 2D input beside the 3D pose.

    ``fps`` is the sequence's frame rate; with ``stride`` n every n-th frame
    is shown for n frame times, so playback keeps real time. ``render``:
    ``image_size``, ``units``, ``frame_labels``, ``size_px``, ``dpi`` (see
    ``render_frames``). Returns ``path``.
    """
    from PIL import Image

    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    path = _prepare(path)
    images = [Image.fromarray(f) for f in render_frames(
        poses_2d, poses_3d, skeleton_2d, skeleton_3d, stride=stride, **render)]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], loop=0,
                   duration=max(1, int(round(1000.0 * stride / fps))))
    return path


def save_mp4(path, poses_2d, poses_3d, skeleton_2d: SkeletonLike = "h36m17",
             skeleton_3d: SkeletonLike = "h36m17", fps: float = 25.0, stride: int = 1,
             **render) -> str:
    """MP4 (H.264) of the same frames as ``save_gif``; needs ``imageio-ffmpeg``."""
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    size_px = tuple(render.pop("size_px", (640, 320)))
    if size_px[0] % 16 or size_px[1] % 16:
        raise ValueError(f"MP4 frames need sizes divisible by 16, got size_px={size_px}")
    try:
        import imageio_ffmpeg
    except ImportError:
        raise RuntimeError(f"{os.fspath(path)}: writing MP4 needs the imageio-ffmpeg package "
                           f"(pip install imageio-ffmpeg); or write a .gif") from None
    path = _prepare(path)
    writer = imageio_ffmpeg.write_frames(path, size_px, fps=fps / stride, macro_block_size=16)
    writer.send(None)
    try:
        for frame in render_frames(poses_2d, poses_3d, skeleton_2d, skeleton_3d, stride=stride,
                                   size_px=size_px, **render):
            writer.send(np.ascontiguousarray(frame))
    finally:
        writer.close()
    return path


def save_animation(path, poses_2d, poses_3d, skeleton_2d: SkeletonLike = "h36m17",
                   skeleton_3d: SkeletonLike = "h36m17", fps: float = 25.0, stride: int = 1,
                   **render) -> str:
    """``save_gif`` or ``save_mp4`` by the extension of ``path``."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in ANIMATION_EXTENSIONS:
        raise ValueError(f"{os.fspath(path)}: unknown animation extension {ext or '(none)'!r}; "
                         f"expected one of {', '.join(ANIMATION_EXTENSIONS)}")
    save = save_gif if ext == ".gif" else save_mp4
    return save(path, poses_2d, poses_3d, skeleton_2d, skeleton_3d, fps=fps, stride=stride,
                **render)
