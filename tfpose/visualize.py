"""Figures for papers and reports: skeletons, per-joint bars, training curves.

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas (no
display, no pyplot state, so nothing leaks) and written as PNG. Skeleton
colours follow ASN Fig. 7: the person's left side green, right side red.

Coordinates: 2D keypoints are image pixels (y down); 3D poses are in the
camera frame (x right, y down, z forward). The 3D view plots
``(x, z, -y)`` so that the person stands upright with depth going away.
"""

from __future__ import annotations

import os
from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d import Axes3D  # noqa: F401  (registers the "3d" projection)

from tfpose.skeleton import Skeleton

LEFT_COLOR = "green"
RIGHT_COLOR = "red"
CENTER_COLOR = "black"
VIEW_3D = {"elev": 15.0, "azim": -75.0}


def _bone_color(skeleton: Skeleton, child: int) -> str:
    """A bone takes the side of its child joint (Hip->LHip is a left bone)."""
    if child in skeleton.joints_left:
        return LEFT_COLOR
    if child in skeleton.joints_right:
        return RIGHT_COLOR
    return CENTER_COLOR


def _check_pose(pose, skeleton: Skeleton, dims: int) -> np.ndarray:
    pose = np.asarray(pose, dtype=np.float64)
    if pose.shape != (skeleton.num_joints, dims):
        raise ValueError(f"expected a ({skeleton.num_joints}, {dims}) pose for skeleton "
                         f"{skeleton.name!r}, got shape {pose.shape}")
    return pose


def _fit_radius(poses, skeleton: Skeleton) -> float:
    """Half-size of a root-centred cube holding all ``poses`` (with a margin)."""
    r = max(float(np.max(np.abs(np.asarray(p) - np.asarray(p)[skeleton.root]))) for p in poses)
    return 1.1 * r if r > 0 else 1.0


def plot_pose_2d(ax, pose_2d, skeleton: Skeleton, linewidth: float = 2.0) -> list:
    """Draw a 2D skeleton in image coordinates (y axis inverted); returns the
    bone lines, each with ``gid`` set to its child joint's name."""
    pose = _check_pose(pose_2d, skeleton, 2)
    lines = []
    for p, c in skeleton.bones:
        (line,) = ax.plot(pose[[p, c], 0], pose[[p, c], 1], color=_bone_color(skeleton, c),
                          linewidth=linewidth)
        line.set_gid(skeleton.joint_names[c])
        lines.append(line)
    ax.scatter(pose[:, 0], pose[:, 1], s=6, color=CENTER_COLOR, zorder=3)
    ax.set_aspect("equal", adjustable="datalim")
    if not ax.yaxis_inverted():
        ax.invert_yaxis()
    return lines


def plot_pose_3d(ax, pose_3d, skeleton: Skeleton, linewidth: float = 2.0,
                 radius: Optional[float] = None, view: Mapping[str, float] = VIEW_3D) -> list:
    """Draw a camera-frame 3D skeleton upright on a ``projection="3d"`` axes.

    The view is a cube of half-size ``radius`` (default: fitted to the pose)
    centred on the root, so that limb proportions are not distorted.
    Returns the ``Line3D`` bones, each with ``gid`` = its child joint's name.
    """
    pose = _check_pose(pose_3d, skeleton, 3)
    shown = np.stack([pose[:, 0], pose[:, 2], -pose[:, 1]], axis=-1)  # x, depth, up
    lines = []
    for p, c in skeleton.bones:
        (line,) = ax.plot(shown[[p, c], 0], shown[[p, c], 1], shown[[p, c], 2],
                          color=_bone_color(skeleton, c), linewidth=linewidth)
        line.set_gid(skeleton.joint_names[c])
        lines.append(line)
    centre = shown[skeleton.root]
    if radius is None:
        radius = _fit_radius([pose], skeleton)
    ax.set_xlim3d(centre[0] - radius, centre[0] + radius)
    ax.set_ylim3d(centre[1] - radius, centre[1] + radius)
    ax.set_zlim3d(centre[2] - radius, centre[2] + radius)
    ax.set_box_aspect((1, 1, 1))
    ax.set_xlabel("x", fontsize=7, labelpad=-8)
    ax.set_ylabel("z (depth)", fontsize=7, labelpad=-8)
    ax.set_zlabel("-y (up)", fontsize=7, labelpad=-8)
    ax.locator_params(nbins=4)
    ax.tick_params(labelsize=5, pad=-2)
    ax.view_init(**view)
    return lines


def _save(fig: Figure, path, dpi: float) -> str:
    path = os.fspath(path)
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=dpi, format="png")
    fig.clear()
    return path


def save_triplets(path, poses_2d, gt_3d, pred_3d, skeleton_2d: Skeleton, skeleton_3d: Skeleton,
                  titles: Optional[Sequence[str]] = None, shared_view: bool = True,
                  cell_inches: float = 3.0, dpi: float = 100) -> str:
    """ASN Fig. 7: one row per example -- 2D input | ground truth 3D | prediction.

    The 2D skeleton may differ from the 3D one (e.g. h36m16 SH input, h36m17
    output). With ``shared_view`` ground truth and prediction are drawn at the
    same scale so that their sizes compare; turn it off (or scale the
    prediction first, ``metrics.scale_align``) for outputs in other units
    such as RepGAN's. The PNG is ``3 * cell_inches`` by ``rows * cell_inches``
    inches at ``dpi``.
    """
    poses_2d, gt_3d, pred_3d = (np.asarray(x) for x in (poses_2d, gt_3d, pred_3d))
    rows = len(poses_2d)
    if not rows or len(gt_3d) != rows or len(pred_3d) != rows:
        raise ValueError(f"need the same non-zero number of 2D inputs, ground truths and "
                         f"predictions, got {len(poses_2d)}, {len(gt_3d)}, {len(pred_3d)}")
    if titles is not None and len(titles) != rows:
        raise ValueError(f"{len(titles)} titles for {rows} rows")
    fig = Figure(figsize=(3 * cell_inches, rows * cell_inches))
    for r in range(rows):
        ax2 = fig.add_subplot(rows, 3, 3 * r + 1)
        plot_pose_2d(ax2, poses_2d[r], skeleton_2d)
        ax2.tick_params(labelsize=6)
        ax2.set_title("2D input" if titles is None else f"{titles[r]}: 2D input", fontsize=8)
        radius = _fit_radius((gt_3d[r], pred_3d[r]), skeleton_3d) if shared_view else None
        for col, (pose, name) in enumerate(((gt_3d[r], "ground truth"), (pred_3d[r], "prediction"))):
            ax3 = fig.add_subplot(rows, 3, 3 * r + 2 + col, projection="3d")
            plot_pose_3d(ax3, pose, skeleton_3d, radius=radius)
            ax3.set_title(name, fontsize=8)
    fig.subplots_adjust(left=0.05, right=0.97, bottom=0.03, top=0.95, wspace=0.25, hspace=0.3)
    return _save(fig, path, dpi)


def save_per_joint_bars(path, errors_by_model: Dict[str, Sequence[float]], skeleton: Skeleton,
                        title: str = "", ylabel: str = "error (mm)",
                        figsize: Tuple[float, float] = (12.0, 4.5), dpi: float = 100) -> str:
    """ASN Fig. 5: grouped per-joint error bars, hard joints | other joints."""
    if not errors_by_model:
        raise ValueError("errors_by_model is empty")
    errors = {}
    for model, e in errors_by_model.items():
        e = np.asarray(e, dtype=np.float64).reshape(-1)
        if e.shape != (skeleton.num_joints,):
            raise ValueError(f"model {model!r}: expected {skeleton.num_joints} per-joint "
                             f"errors for skeleton {skeleton.name!r}, got {e.shape[0]}")
        errors[model] = e
    hard = list(skeleton.hard_joints)
    panels = (("hard joints", hard),
              ("other joints", [j for j in range(skeleton.num_joints) if j not in hard]))
    fig = Figure(figsize=figsize)
    axes = fig.subplots(1, 2, gridspec_kw={"width_ratios": [max(len(j), 1) for _, j in panels]})
    n = len(errors)
    width = 0.8 / n
    for ax, (name, joints) in zip(axes, panels):
        x = np.arange(len(joints))
        for k, (model, e) in enumerate(errors.items()):
            ax.bar(x + (k - (n - 1) / 2) * width, e[joints], width, label=model)
        ax.set_xticks(x)
        ax.set_xticklabels([skeleton.joint_names[j] for j in joints], rotation=45, ha="right",
                           fontsize=8)
        ax.set_title(name)
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path, dpi)


def save_curves(path, series: Dict[str, Tuple[Sequence[float], Sequence[float]]],
                xlabel: str = "step", ylabel: str = "", title: str = "", logy: bool = False,
                figsize: Tuple[float, float] = (6.0, 4.0), dpi: float = 100) -> str:
    """Training curves: one line per named ``(x, y)`` series."""
    fig = Figure(figsize=figsize)
    ax = fig.add_subplot(1, 1, 1)
    for name, (x, y) in series.items():
        ax.plot(np.asarray(x), np.asarray(y), label=name)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if series:
        ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path, dpi)
