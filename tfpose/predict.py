"""Lift 2D keypoints from a file to 3D with an exported model.

::

    python -m tfpose.predict --model=runs/asn_sh/export --input=keypoints.npz \\
        --output=poses_3d.json [--layout=sh16] [--plot=fig.png]

Input: ``[frames, joints, 2]`` pixel keypoints as

* ``.npz`` -- the array ``keypoints``, or the only array in the file;
  ``.npy`` -- the array;
* ``.json`` -- a nested list, or an object ``{"keypoints": [...]}``
  (``null`` is a missing keypoint: NaN);
* ``.csv`` -- one row per frame, ``J * 2`` columns ``x1, y1, x2, y2, ...``;
  an optional header row; empty cells and ``nan`` are missing keypoints.

``--layout`` says which joints, in which order, the file holds:

* ``model`` (default) -- exactly the model's input joints in its order
  (``metadata.json``'s ``joint_names_2d``);
* ``h36m17`` / ``h36m16`` / ``humaneva15`` -- that skeleton's order
  (``tfpose.skeleton``); the model's input joints are picked by name;
* ``sh16`` (alias ``mpii16``) -- Stacked Hourglass / MPII order, mapped with
  ``skeleton.mpii_to_h36m16``;
* ``coco17`` -- COCO keypoints, mapped with ``skeleton.coco_to_h36m17``
  (hip, thorax, spine and head synthesised from neighbours).

Output (``.npz`` or ``.json``): ``keypoints_3d`` ``[frames, J3, 3]``
root-relative in the camera frame, ``joint_names_3d``, ``units`` ("mm", or
"normalized" for RepGAN), plus the model input actually used
(``keypoints_2d``, ``joint_names_2d``). ``--plot`` writes a PNG of the 2D
input beside the 3D pose for a few frames.

Bad input (unreadable or empty file, wrong rank or joint count, NaN
keypoints unless ``--allow_nan``, unknown layout or extension) ends with a
one-line error that names the file and the problem, and exit status 1.
"""

from __future__ import annotations

import csv
import json
import os
from typing import Dict, List, Optional, Sequence, Tuple

from tfpose import cli  # before TensorFlow: keeps its start-up log quiet

import numpy as np  # noqa: E402

from tfpose import skeleton as skeleton_lib  # noqa: E402

INPUT_EXTENSIONS = (".npz", ".npy", ".json", ".csv")
OUTPUT_EXTENSIONS = (".npz", ".json")
LAYOUTS = ("model", "h36m17", "h36m16", "humaneva15", "sh16", "mpii16", "coco17")


class PredictError(ValueError):
    """Bad input, output or model for prediction; the message names the file."""


# --------------------------------------------------------------------------
# Reading keypoints


def _as_keypoints(value, path: str, what: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as e:
        text = str(e)
        if "inhomogeneous" in text or "sequence" in text:
            raise PredictError(f"{path}: {what} is not a rectangular [frames, joints, 2] array "
                               f"(rows of different lengths)") from None
        raise PredictError(f"{path}: {what} holds non-numeric values ({text})") from None
    return arr


def read_keypoints(path: str) -> np.ndarray:
    """``[frames, joints, 2]`` float32 from a .npz/.npy/.json/.csv file (not yet checked)."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in INPUT_EXTENSIONS:
        raise PredictError(f"{path}: unknown input extension {ext or '(none)'!r}; expected one "
                           f"of {', '.join(INPUT_EXTENSIONS)}")
    if not os.path.isfile(path):
        raise PredictError(f"{path}: no such file")
    if os.path.getsize(path) == 0:
        raise PredictError(f"{path}: the file is empty")
    try:
        if ext == ".npz":
            with np.load(path, allow_pickle=False) as data:
                keys = list(data.keys())
                if "keypoints" in keys:
                    key = "keypoints"
                elif len(keys) == 1:
                    key = keys[0]
                else:
                    raise PredictError(
                        f"{path}: expected an array 'keypoints' or a single array; found "
                        f"{', '.join(keys) if keys else 'no arrays'}")
                return _as_keypoints(data[key], path, f"array {key!r}")
        if ext == ".npy":
            return _as_keypoints(np.load(path, allow_pickle=False), path, "the array")
        if ext == ".json":
            with open(path) as f:
                try:
                    obj = json.load(f)
                except json.JSONDecodeError as e:
                    raise PredictError(f"{path}: not valid JSON ({e})") from None
            if isinstance(obj, dict):
                if "keypoints" not in obj:
                    raise PredictError(f"{path}: a JSON object needs a 'keypoints' entry; found "
                                       f"{', '.join(map(repr, obj)) or 'none'}")
                obj = obj["keypoints"]
            if not isinstance(obj, list):
                raise PredictError(f"{path}: expected a list of frames (or "
                                   f"{{\"keypoints\": [...]}}), got {type(obj).__name__}")
            return _as_keypoints(obj, path, "'keypoints'")
        return _read_csv(path)
    except PredictError:
        raise
    except (OSError, ValueError, EOFError) as e:  # corrupt npz/npy, unreadable file
        raise PredictError(f"{path}: cannot read it as {ext} ({e})") from None


def _read_csv(path: str) -> np.ndarray:
    with open(path, newline="") as f:
        rows = [(i + 1, r) for i, r in enumerate(csv.reader(f))
                if any(c.strip() for c in r)]
    if not rows:
        raise PredictError(f"{path}: the file has no rows")

    def number(cell: str, line: int) -> float:
        cell = cell.strip()
        if cell == "":
            return float("nan")
        try:
            return float(cell)
        except ValueError:
            raise PredictError(f"{path}: line {line}: {cell!r} is not a number") from None

    first_line, first = rows[0]
    try:
        [float(c) for c in first if c.strip()]
    except ValueError:
        rows = rows[1:]  # a header row
        if not rows:
            raise PredictError(f"{path}: the file has a header but no frames")
    width = len(rows[0][1])
    if width % 2:
        raise PredictError(f"{path}: line {rows[0][0]} has {width} columns; expected an even "
                           f"number (x1, y1, x2, y2, ...: two per joint)")
    values = []
    for line, row in rows:
        if len(row) != width:
            raise PredictError(f"{path}: line {line} has {len(row)} columns, line {rows[0][0]} "
                               f"has {width}")
        values.append([number(c, line) for c in row])
    return np.asarray(values, np.float32).reshape(len(values), width // 2, 2)


# --------------------------------------------------------------------------
# Layouts


def _layout_source(layout: str) -> Tuple[Optional[int], Optional[Sequence[str]]]:
    """(joints in the file, H36M/HumanEva names after conversion) of a layout."""
    if layout in ("sh16", "mpii16"):
        return 16, skeleton_lib.H36M_16.joint_names
    if layout == "coco17":
        return 17, skeleton_lib.H36M_17.joint_names
    s = skeleton_lib.get(layout)
    return s.num_joints, s.joint_names


def map_layout(keypoints: np.ndarray, layout: str, joint_names_2d: Sequence[str],
               path: str = "input") -> np.ndarray:
    """File keypoints ``[F, J, 2]`` in ``layout`` -> the model's input ``[F, J2, 2]``."""
    if layout not in LAYOUTS:
        raise PredictError(f"{path}: unknown --layout {layout!r}; expected one of "
                           f"{', '.join(LAYOUTS)}")
    j2 = len(joint_names_2d)
    if keypoints.ndim != 3 or keypoints.shape[-1] != 2:
        raise PredictError(f"{path}: expected keypoints of shape [frames, joints, 2], got "
                           f"shape {list(keypoints.shape)}")
    if len(keypoints) == 0:
        raise PredictError(f"{path}: no frames (shape {list(keypoints.shape)})")
    n = keypoints.shape[1]
    if layout == "model":
        if n != j2:
            hint = [lay for lay in LAYOUTS[1:] if _layout_source(lay)[0] == n
                    and set(joint_names_2d) <= set(_layout_source(lay)[1])]
            raise PredictError(
                f"{path}: {n} joints per frame, but the model takes {j2} "
                f"({', '.join(joint_names_2d)})"
                + (f"; if the file is in another order, pass --layout={'|'.join(hint)}"
                   if hint else ""))
        return keypoints
    expected, names = _layout_source(layout)
    if n != expected:
        raise PredictError(f"{path}: --layout={layout} needs {expected} joints per frame, the "
                           f"file has {n}")
    if layout in ("sh16", "mpii16"):
        converted = skeleton_lib.mpii_to_h36m16(keypoints)
    elif layout == "coco17":
        converted = skeleton_lib.coco_to_h36m17(keypoints)
    else:
        converted = keypoints
    missing = [name for name in joint_names_2d if name not in names]
    if missing:
        raise PredictError(f"{path}: --layout={layout} lacks joint(s) {', '.join(missing)} that "
                           f"the model's input needs ({', '.join(joint_names_2d)})")
    idx = [list(names).index(name) for name in joint_names_2d]
    return np.ascontiguousarray(converted[:, idx], np.float32)


# --------------------------------------------------------------------------
# Writing


def _nan_to_none(a: np.ndarray):
    return [[[None if not np.isfinite(v) else float(v) for v in joint] for joint in frame]
            for frame in np.asarray(a, np.float64)]


def write_output(path: str, keypoints_3d: np.ndarray, keypoints_2d: np.ndarray,
                 metadata: Dict) -> str:
    ext = os.path.splitext(path)[1].lower()
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    common = {"joint_names_3d": list(metadata["joint_names_3d"]),
              "joint_names_2d": list(metadata["joint_names_2d"]),
              "units": metadata["units"], "model_kind": metadata["model_kind"],
              "dataset": metadata["dataset"]}
    if ext == ".npz":
        with open(path, "wb") as f:
            np.savez(f, keypoints_3d=keypoints_3d.astype(np.float32),
                     keypoints_2d=keypoints_2d.astype(np.float32),
                     **{k: np.asarray(v) for k, v in common.items()})
    elif ext == ".json":
        payload = {"keypoints_3d": _nan_to_none(keypoints_3d), **common,
                   "num_frames": int(len(keypoints_3d)),
                   "frame": "root-relative, camera frame (x right, y down, z forward)",
                   "keypoints_2d": _nan_to_none(keypoints_2d)}
        with open(path, "w") as f:
            json.dump(payload, f)
    else:
        raise PredictError(f"{path}: unknown output extension {ext or '(none)'!r}; expected "
                           f"one of {', '.join(OUTPUT_EXTENSIONS)}")
    return path


def _skeleton_named(names: Sequence[str], hint: Optional[str]) -> skeleton_lib.Skeleton:
    if hint in skeleton_lib.SKELETONS and list(skeleton_lib.get(hint).joint_names) == list(names):
        return skeleton_lib.get(hint)
    for s in skeleton_lib.SKELETONS.values():
        if list(s.joint_names) == list(names):
            return s
    raise PredictError(f"no tfpose skeleton has the joints {', '.join(names)}")


def save_plot(path: str, keypoints_2d: np.ndarray, keypoints_3d: np.ndarray, metadata: Dict,
              max_frames: int = 4, dpi: float = 80) -> str:
    """PNG: one row per shown frame, 2D input | lifted 3D pose."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from tfpose import visualize

    skel_2d = _skeleton_named(metadata["joint_names_2d"], metadata.get("skeleton_2d"))
    skel_3d = _skeleton_named(metadata["joint_names_3d"], metadata.get("skeleton_3d"))
    ok = np.flatnonzero(np.isfinite(keypoints_3d).all(axis=(1, 2))
                        & np.isfinite(keypoints_2d).all(axis=(1, 2)))
    if not len(ok):
        raise PredictError(f"{path}: nothing to plot, every frame has NaN keypoints")
    shown = ok[np.unique(np.linspace(0, len(ok) - 1, min(max_frames, len(ok))).round()
                         .astype(int))]
    fig = Figure(figsize=(6.0, 3.0 * len(shown)))
    for r, i in enumerate(shown):
        ax2 = fig.add_subplot(len(shown), 2, 2 * r + 1)
        visualize.plot_pose_2d(ax2, keypoints_2d[i], skel_2d)
        ax2.set_title(f"frame {i}: 2D input (px)", fontsize=8)
        ax2.tick_params(labelsize=6)
        ax3 = fig.add_subplot(len(shown), 2, 2 * r + 2, projection="3d")
        visualize.plot_pose_3d(ax3, keypoints_3d[i], skel_3d)
        ax3.set_title(f"3D ({metadata['units']})", fontsize=8)
    fig.subplots_adjust(left=0.08, right=0.95, bottom=0.04, top=0.95, wspace=0.3, hspace=0.35)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=dpi, format="png")
    return path


# --------------------------------------------------------------------------
# The command


def run(model: str, input: str, output: str, layout: str = "model",  # noqa: A002
        plot: Optional[str] = None, plot_frames: int = 4, allow_nan: bool = False,
        backend: str = "saved_model", batch_size: int = 4096) -> Dict:
    """Read ``input``, lift it with the export in ``model``, write ``output``.

    Input and output names are checked before the model is loaded. Returns
    ``{"num_frames", "output", "plot", "units", "keypoints_3d"}``.
    """
    out_ext = os.path.splitext(output)[1].lower()
    if out_ext not in OUTPUT_EXTENSIONS:
        raise PredictError(f"{output}: unknown output extension {out_ext or '(none)'!r}; "
                           f"expected one of {', '.join(OUTPUT_EXTENSIONS)}")
    if plot is not None and os.path.splitext(plot)[1].lower() != ".png":
        raise PredictError(f"{plot}: --plot writes a PNG; give a .png path")
    if layout not in LAYOUTS:
        raise PredictError(f"{input}: unknown --layout {layout!r}; expected one of "
                           f"{', '.join(LAYOUTS)}")
    keypoints = read_keypoints(input)
    if keypoints.ndim != 3 or keypoints.shape[-1] != 2:
        if keypoints.size == 0:
            raise PredictError(f"{input}: no keypoints (shape {list(keypoints.shape)})")
        raise PredictError(f"{input}: expected keypoints of shape [frames, joints, 2], got "
                           f"shape {list(keypoints.shape)}")

    # TensorFlow is imported only now, once the input file has been read.
    from tfpose import serving

    try:
        lifter = serving.load(model, backend=backend)
    except ValueError as e:
        raise PredictError(f"--model={model}: {e}") from None
    meta = lifter.metadata
    pose_2d = map_layout(keypoints, layout, meta["joint_names_2d"], input)
    try:
        serving.check_pose_2d(pose_2d, lifter.num_joints_2d,
                              "propagate" if allow_nan else "raise", name="input")
    except ValueError as e:
        hint = "; pass --allow_nan to get NaN poses for them" if "NaN" in str(e) else ""
        raise PredictError(f"{input}: {e}{hint}") from None
    pose_3d = lifter.lift(pose_2d, batch_size=batch_size)
    write_output(output, pose_3d, pose_2d, meta)
    plotted = save_plot(plot, pose_2d, pose_3d, meta, plot_frames) if plot else None
    return {"num_frames": int(len(pose_3d)), "output": output, "plot": plotted,
            "units": meta["units"], "keypoints_3d": pose_3d}


def define_flags():
    from absl import flags

    flags.DEFINE_string("model", None, "Export directory (python -m tfpose.export).")
    flags.DEFINE_string("input", None, "Keypoints: .npz, .npy, .json or .csv, [frames, joints, 2].")
    flags.DEFINE_string("output", None, "Where to write the 3D poses: .npz or .json.")
    flags.DEFINE_string("layout", "model", "Joint order of the input: " + ", ".join(LAYOUTS) + ".")
    flags.DEFINE_string("plot", None, "Also write a PNG of 2D input | 3D pose for a few frames.")
    flags.DEFINE_integer("plot_frames", 4, "Frames shown by --plot (evenly spaced).")
    flags.DEFINE_bool("allow_nan", False, "Frames with NaN keypoints give NaN poses instead "
                      "of an error.")
    flags.DEFINE_string("backend", "saved_model", "Runtime of the export: one of "
                        "tfpose.serving.BACKENDS (saved_model, saved_model_xla, tflite, ...).")


def main(argv: List[str]):
    from absl import flags

    FLAGS = flags.FLAGS
    if len(argv) > 1:
        cli.fail("tfpose.predict", f"unexpected arguments {' '.join(argv[1:])}")
    missing = [f"--{n}" for n in ("model", "input", "output") if not FLAGS[n].value]
    if missing:
        cli.fail("tfpose.predict", f"{', '.join(missing)} required")
    try:
        result = run(FLAGS.model, FLAGS.input, FLAGS.output, layout=FLAGS.layout,
                     plot=FLAGS.plot, plot_frames=FLAGS.plot_frames, allow_nan=FLAGS.allow_nan,
                     backend=FLAGS.backend)
    except (ValueError, OSError) as e:  # PredictError, serving.ExportError, unwritable output
        cli.fail("tfpose.predict", e)
    print(f"lifted {result['num_frames']} frames ({result['units']}) -> {result['output']}"
          + (f"; plot {result['plot']}" if result["plot"] else ""))


def run_cli(argv=None):
    """``tfpose-predict`` / ``python -m tfpose.predict``."""
    cli.run(main, define_flags, argv)


if __name__ == "__main__":
    run_cli()
