"""HumanEva-I camera extrinsics, embedded because the npz release lacks them.

The VideoPose3D preparation script keeps these as constants in its code, so
users who only have the two npz files would otherwise have no extrinsics.
Values are copied verbatim from that script (``cameras.json`` of the shared
data). Convention: ``X_camera = R(q)^T (X_world - t)`` with ``R(q)`` the
rotation matrix of the unit quaternion ``q = (w, x, y, z)`` and ``X``, ``t``
in millimetres (checked: a pinhole fit of the 2D ground truth then leaves
0.5-2 px median residuals; ``R(q)`` instead of its transpose leaves 17-110 px).
"""

from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

from tfpose import camera

IMAGE_SIZE = (640, 480)  # width, height
FPS = 60.0

# subject -> ((camera_id, quaternion (w, x, y, z), translation mm), ...)
CAMERAS: Dict[str, Tuple[Tuple[str, Tuple[float, ...], Tuple[float, ...]], ...]] = {
    "S1": (
        ("C1", (0.424207, -0.4983646, -0.5802981, 0.4847012), (4062.227, 663.2477, 1528.397)),
        ("C2", (0.6503354, -0.7481602, -0.0919284, 0.0941766), (844.8131, -3805.2092, 1504.9929)),
        ("C3", (0.0664734, -0.0690535, 0.7416416, -0.6639132), (-797.67377, 3916.3174, 1433.6602)),
    ),
    "S2": (
        ("C1", (0.4214752, -0.4961493, -0.5838273, 0.4851187), (4112.9121, 626.4929, 1545.2988)),
        ("C2", (0.6501393, -0.7476588, -0.0954617, 0.0959808), (923.574, -3877.9243, 1504.5518)),
        ("C3", (0.0699353, -0.0712403, 0.7421637, -0.662742), (-781.4915, 3838.8853, 1444.9929)),
    ),
    "S3": (
        ("C1", (0.424207, -0.4983646, -0.5802981, 0.4847012), (4062.2271, 663.2477, 1528.397)),
        ("C2", (0.6503354, -0.7481602, -0.0919284, 0.0941766), (844.8131, -3805.2092, 1504.9929)),
        ("C3", (0.0664734, -0.0690535, 0.7416416, -0.6639132), (-797.6738, 3916.3174, 1433.6602)),
    ),
}


def extrinsics(subject: str) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """``{camera_id: (R, T)}`` in the ``tfpose.camera`` convention
    ``X_cam = R @ (X_world - T)``, i.e. ``R = R(q)^T``."""
    if subject not in CAMERAS:
        raise KeyError(f"no HumanEva extrinsics for subject {subject!r}; "
                       f"known: {', '.join(CAMERAS)}")
    return {cam_id: (camera.quaternion_to_matrix(q).T, np.asarray(t, np.float64))
            for cam_id, q, t in CAMERAS[subject]}
