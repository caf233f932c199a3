"""Joint orders of 2D keypoints -> a model's input joints.

A model takes its 2D joints in one order (``joint_names_2d`` of its
metadata); keypoints arrive in a dataset's order or a detector's. A
*layout* names the order they arrive in:

* ``model`` -- already the model's input joints, in its order;
* ``h36m17`` / ``h36m16`` / ``humaneva15`` -- that ``tfpose.skeleton``
  order; the model's joints are picked by name;
* a detector layout of ``tfpose.formats.JOINT_SETS`` (``coco17``,
  ``halpe26``, ``mpii16``, ``body25``, ``coco18``, ``mediapipe33``; ``sh16``
  is ``mpii16``): mapped onto H36M-17 by that joint set's documented table
  (docs/FORMATS.md), then picked by name. NaN keypoints are missing; a joint
  whose recipes all miss is NaN.

Used by ``tfpose.serving`` (``Lifter.lift(layout=...)``) and
``tfpose.predict`` (``--layout``); NumPy only.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

from tfpose import formats
from tfpose import skeleton as skeleton_lib

SKELETON_LAYOUTS = ("h36m17", "h36m16", "humaneva15")
ALIASES = {"sh16": "mpii16"}
# dtypes a float cast would silently mangle (drop the imaginary part, parse
# text, count days): keypoints holding them are refused.
NON_NUMERIC_DTYPES = {"c": "complex", "U": "text", "S": "bytes", "M": "datetime",
                      "m": "timedelta", "V": "structured"}
LAYOUTS = ("model",) + SKELETON_LAYOUTS + tuple(formats.JOINT_SETS) + tuple(ALIASES)


class LayoutError(ValueError):
    """Keypoints that do not fit the layout or the model; the message names the source."""


def source_joints(layout: str) -> Tuple[int, Tuple[str, ...]]:
    """(joints per frame in ``layout``, joint names after conversion) of a
    layout other than ``model``."""
    layout = ALIASES.get(layout, layout)
    if layout in formats.JOINT_SETS:
        return formats.JOINT_SETS[layout].num_joints, tuple(formats.H36M_NAMES)
    s = skeleton_lib.get(layout)
    return s.num_joints, tuple(s.joint_names)


def check_layout(layout: str, where: str = "input") -> str:
    if layout not in LAYOUTS:
        raise LayoutError(f"{where}: unknown layout {layout!r}; expected one of "
                          f"{', '.join(LAYOUTS)}")
    return layout


def to_float32(values) -> np.ndarray:
    """``values`` as a float32 array; a ValueError (one line) for ragged
    rows, text, complex numbers, dates or other non-numbers."""
    try:
        arr = values if isinstance(values, np.ndarray) else np.asarray(values)
        kind = arr.dtype.kind
        if kind in NON_NUMERIC_DTYPES:
            raise ValueError(f"{NON_NUMERIC_DTYPES[kind]} values (dtype {arr.dtype}), "
                             f"not numbers")
        return arr.astype(np.float32, copy=False)
    except (TypeError, ValueError, OverflowError) as e:
        text = " ".join(str(e).split())
        if "inhomogeneous" in text or "sequence" in text:
            text = "rows of different lengths"
        raise ValueError(text) from None


def map_layout(keypoints, layout: Optional[str], joint_names_2d: Sequence[str],
               where: str = "input") -> np.ndarray:
    """Keypoints ``[F, J, 2]`` in ``layout`` (None: ``model``) -> the model's
    input ``[F, J2, 2]`` float32. ``where`` starts every error message (a
    file name, or ``keypoints_2d``)."""
    layout = check_layout(layout or "model", where)
    try:
        keypoints = to_float32(keypoints)
    except ValueError as e:
        raise LayoutError(f"{where}: keypoints are not a numeric array ({e})") from None
    j2 = len(joint_names_2d)
    if keypoints.ndim != 3 or keypoints.shape[-1] != 2:
        raise LayoutError(f"{where}: expected keypoints of shape [frames, joints, 2], got "
                          f"shape {list(keypoints.shape)}")
    n = keypoints.shape[1]
    if layout == "model":
        if n != j2:
            hint = [lay for lay in LAYOUTS[1:] if source_joints(lay)[0] == n
                    and set(joint_names_2d) <= set(source_joints(lay)[1])]
            raise LayoutError(
                f"{where}: {n} joints per frame, but the model takes {j2} "
                f"({', '.join(joint_names_2d)})"
                + (f"; if they are in another order, give the layout: {'|'.join(hint)}"
                   if hint else ""))
        return np.ascontiguousarray(keypoints)
    expected, names = source_joints(layout)
    if n != expected:
        raise LayoutError(f"{where}: layout {layout} needs {expected} joints per frame, got {n}")
    missing = [name for name in joint_names_2d if name not in names]
    if missing:
        raise LayoutError(f"{where}: layout {layout} lacks joint(s) {', '.join(missing)} that "
                          f"the model's input needs ({', '.join(joint_names_2d)})")
    name = ALIASES.get(layout, layout)
    converted = formats.to_h36m17(keypoints, name) if name in formats.JOINT_SETS else keypoints
    idx = [names.index(joint) for joint in joint_names_2d]
    return np.ascontiguousarray(converted[:, idx], np.float32)
