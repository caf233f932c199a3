"""Lift 2D keypoints from a file to 3D with a shipped model or an export.

::

    python -m tfpose.predict --model=asn-h36m-gt --input=alphapose-results.json \
        --image_size=1920x1080 --output=poses_3d.json [--animation=out.gif] [--bvh=out.bvh]
    python -m tfpose.predict --model=runs/asn_sh/export --input=keypoints.npz \
        --output=poses_3d.npz [--layout=sh16] [--plot=fig.png]

``--model``: a shipped pretrained model's name (``tfpose.pretrained``), a
pretrained model folder, or an export directory (``tfpose.export``).

Input (``--format``, default ``auto``):

* arrays (``array``): ``[frames, joints, 2]`` pixel keypoints as ``.npz``
  (the array ``keypoints``, or the only array), ``.npy``, ``.json`` (a
  nested list or ``{"keypoints": [...]}``; ``null`` is a missing keypoint)
  or ``.csv`` (one row per frame, ``x1, y1, x2, y2, ...``, an optional
  header; empty cells and ``nan`` are missing);
* detector files (``coco``, ``halpe``, ``mpii``, ``openpose``,
  ``mediapipe``; ``tfpose.formats``, docs/FORMATS.md): mapped onto H36M-17
  with confidence masking (``--min_confidence``), person choice
  (``--person``), gap filling (``--max_gap``) and smoothing (``--smooth``);
  the line that says which frames were kept is printed.

``auto`` reads ``.npz``/``.npy``/``.csv`` as arrays, a folder as OpenPose,
and a ``.json`` as the detector format its content shows, else as an array.

``--layout`` says which joints, in which order, an array holds
(``tfpose.layouts``): ``model`` (default: the model's input joints in its
order), ``h36m17``/``h36m16``/``humaneva15`` (picked by name), or a detector
layout (``coco17``, ``halpe26``, ``mpii16`` = ``sh16``, ``body25``,
``coco18``, ``mediapipe33``: mapped with the tables of docs/FORMATS.md).

``--image_size=WxH`` maps pixels of that image into the frame the model was
trained in (``tfpose.image_mapping``; docs/PRETRAINED.md); without it the
keypoints are taken as training-frame pixels (Human3.6M: 1000x1000).

Output (``.npz`` or ``.json``): ``keypoints_3d`` ``[frames, J3, 3]``
root-relative in the camera frame, ``joint_names_3d``, ``units`` ("mm", or
"normalized" for RepGAN unless ``--height_mm`` gives it a metric scale),
the 2D input in the model's joints and the image's pixels (``keypoints_2d``,
``joint_names_2d``), and for detector files ``frame_ids``. ``--plot`` writes
a PNG of a few frames, ``--animation`` a GIF/MP4 of the sequence, ``--bvh``
a BVH rig (millimetres: RepGAN needs ``--height_mm``).

Bad input (unreadable or empty file, wrong rank or joint count, NaN
keypoints unless ``--allow_nan``, unknown layout, format or extension) ends
with a one-line error that names the file and the problem, and exit status 1.
"""

from __future__ import annotations

import csv
import json
import os
import tokenize
import zipfile
import zlib
from typing import Dict, List, Optional, Sequence, Tuple

from tfpose import cli  # before TensorFlow: keeps its start-up log quiet

import numpy as np  # noqa: E402

from tfpose import formats  # noqa: E402
from tfpose import layouts  # noqa: E402
from tfpose import skeleton as skeleton_lib  # noqa: E402

INPUT_EXTENSIONS = (".npz", ".npy", ".json", ".csv")
EXAMPLE_INPUT = "example"  # --input=example: the shipped example motion
OUTPUT_EXTENSIONS = (".npz", ".json")
LAYOUTS = layouts.LAYOUTS
INPUT_FORMATS = ("auto", "array") + formats.FORMATS
BVH_EXTENSION = ".bvh"
ANIMATION_EXTENSIONS = (".gif", ".mp4")  # tfpose.animation's, checked before it is imported


class PredictError(ValueError):
    """Bad input, output or model for prediction; the message names the file."""


# --------------------------------------------------------------------------
# Reading keypoints


def _as_keypoints(value, path: str, what: str) -> np.ndarray:
    try:
        return layouts.to_float32(value)
    except ValueError as e:
        if str(e) == "rows of different lengths":
            raise PredictError(f"{path}: {what} is not a rectangular [frames, joints, 2] array "
                               f"(rows of different lengths)") from None
        raise PredictError(f"{path}: {what} holds non-numeric values ({e})") from None


# What numpy's and csv's readers raise on a corrupt or truncated file: a
# bad zip, a garbled .npy header (parsed as a Python literal), bad deflate data.
_CORRUPT_FILE_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, SyntaxError,
                        tokenize.TokenError, zlib.error, csv.Error)


def read_keypoints(path: str) -> np.ndarray:
    """``[frames, joints, 2]`` float32 from a .npz/.npy/.json/.csv file (not yet checked)."""
    return read_keypoints_and_hints(path)[0]


def read_keypoints_and_hints(path: str) -> Tuple[np.ndarray, Dict]:
    """:func:`read_keypoints`, and the ``layout`` / ``image_size`` a JSON object
    stores beside its keypoints (the shipped example carries both; flags given
    by the user win)."""
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
                return _as_keypoints(data[key], path, f"array {key!r}"), {}
        if ext == ".npy":
            return _as_keypoints(np.load(path, allow_pickle=False), path, "the array"), {}
        if ext == ".json":
            with open(path) as f:
                try:
                    obj = json.load(f)
                except json.JSONDecodeError as e:
                    raise PredictError(f"{path}: not valid JSON ({e})") from None
                except RecursionError:
                    raise PredictError(f"{path}: JSON nested too deeply (expected "
                                       f"[frames, joints, 2])") from None
            hints = {}
            if isinstance(obj, dict):
                hints = {key: obj[key] for key in ("layout", "image_size") if key in obj}
                if "keypoints" not in obj:
                    raise PredictError(f"{path}: a JSON object needs a 'keypoints' entry; found "
                                       f"{', '.join(map(repr, obj)) or 'none'}")
                obj = obj["keypoints"]
            if not isinstance(obj, list):
                raise PredictError(f"{path}: expected a list of frames (or "
                                   f"{{\"keypoints\": [...]}}), got {type(obj).__name__}")
            return _as_keypoints(obj, path, "'keypoints'"), hints
        return _read_csv(path), {}
    except PredictError:
        raise
    except _CORRUPT_FILE_ERRORS as e:  # corrupt npz/npy, unreadable file
        text = " ".join(str(e).split())
        raise PredictError(f"{path}: cannot read it as {ext} ({type(e).__name__}: "
                           f"{text})") from None


def resolve_input(path: str) -> str:
    """``example`` names the shipped example motion (tfpose.example_motion),
    so an installed package lifts it without knowing where it lives."""
    if path == EXAMPLE_INPUT and not os.path.exists(path):
        from tfpose import example_motion
        return example_motion.keypoints_path()
    return path


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
# Writing


def _nan_to_none(a: np.ndarray):
    return [[[None if not np.isfinite(v) else float(v) for v in joint] for joint in frame]
            for frame in np.asarray(a, np.float64)]


def write_output(path: str, keypoints_3d: np.ndarray, keypoints_2d: np.ndarray,
                 metadata: Dict, extra: Optional[Dict] = None) -> str:
    """Write the lifted poses; ``extra``: more entries (units, frame ids, image size)."""
    ext = os.path.splitext(path)[1].lower()
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    common = {"joint_names_3d": list(metadata["joint_names_3d"]),
              "joint_names_2d": list(metadata["joint_names_2d"]),
              "units": metadata["units"], "model_kind": metadata["model_kind"],
              "dataset": metadata["dataset"]}
    common.update({k: v for k, v in (extra or {}).items() if v is not None})
    if ext == ".npz":
        with open(path, "wb") as f:
            np.savez(f, keypoints_3d=keypoints_3d.astype(np.float32),
                     keypoints_2d=keypoints_2d.astype(np.float32),
                     **{k: np.asarray(json.dumps(v) if isinstance(v, dict) else v)
                        for k, v in common.items()})
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
# Reading any input


def _is_detector_file(path: str, fmt: str) -> bool:
    """Whether ``path`` is read with ``tfpose.formats`` (else as an array)."""
    if fmt == "array":
        return False
    if fmt != "auto":
        return True
    if os.path.isdir(path):
        return True  # an OpenPose folder
    if os.path.splitext(path)[1].lower() != ".json" or not os.path.isfile(path) \
            or os.path.getsize(path) == 0:
        return False  # the array reader says what is wrong
    try:
        formats.detect_format(path)
    except formats.FormatError:
        return False
    return True


def _check_output_paths(output: str, plot: Optional[str], animation_path: Optional[str],
                        bvh_path: Optional[str]) -> None:
    out_ext = os.path.splitext(output)[1].lower()
    if out_ext not in OUTPUT_EXTENSIONS:
        raise PredictError(f"{output}: unknown output extension {out_ext or '(none)'!r}; "
                           f"expected one of {', '.join(OUTPUT_EXTENSIONS)}")
    if plot is not None and os.path.splitext(plot)[1].lower() != ".png":
        raise PredictError(f"{plot}: --plot writes a PNG; give a .png path")
    if animation_path is not None and \
            os.path.splitext(animation_path)[1].lower() not in ANIMATION_EXTENSIONS:
        raise PredictError(f"{animation_path}: --animation writes "
                           f"{' or '.join(ANIMATION_EXTENSIONS)}")
    if bvh_path is not None and os.path.splitext(bvh_path)[1].lower() != BVH_EXTENSION:
        raise PredictError(f"{bvh_path}: --bvh writes a .bvh file")


# --------------------------------------------------------------------------
# The command


def run(model: str, input: str, output: str, layout: Optional[str] = None,  # noqa: A002
        plot: Optional[str] = None, plot_frames: int = 4, allow_nan: bool = False,
        backend: Optional[str] = None, batch_size: int = 4096, *,
        format: str = "auto",  # noqa: A002
        image_size=None, focal_length: Optional[float] = None,
        min_confidence: Optional[float] = None, person: Optional[int] = None,
        max_gap: Optional[int] = None, smooth: int = 0, height_mm: Optional[float] = None,
        animation: Optional[str] = None, bvh: Optional[str] = None,
        fps: float = 25.0) -> Dict:
    """Read ``input``, lift it with ``model`` (a shipped name, a pretrained
    folder or an export), write ``output`` (and ``plot``, ``animation``,
    ``bvh``).

    ``format``: ``auto``, ``array`` or a detector format (``tfpose.formats``);
    ``min_confidence``, ``person``, ``max_gap`` and ``smooth`` apply to
    detector files (None: ``tfpose.formats``' defaults). ``image_size``
    ((w, h) or "WxH") and ``focal_length`` map the pixels into the model's
    training frame. ``height_mm`` gives RepGAN's normalised output a metric
    scale (``formats.to_metric``); ``bvh`` needs millimetres. Everything
    about the input is checked before the model is loaded. Returns
    ``{"num_frames", "output", "plot", "animation", "bvh", "units",
    "keypoints_3d", "summary", "notes"}``.
    """
    _check_output_paths(output, plot, animation, bvh)
    input = resolve_input(input)  # noqa: A001
    if format not in INPUT_FORMATS:
        raise PredictError(f"{input}: unknown --format {format!r}; expected one of "
                           f"{', '.join(INPUT_FORMATS)}")
    if layout is not None:
        try:
            layouts.check_layout(layout, input)
        except layouts.LayoutError as e:
            raise PredictError(str(e).replace("unknown layout", "unknown --layout")) from None
    try:
        size = formats.parse_image_size(image_size, "--image_size") if image_size is not None \
            else None
    except formats.FormatError as e:
        raise PredictError(f"{input}: {e}") from None
    if height_mm is not None and not height_mm > 0:
        raise PredictError(f"--height_mm must be positive, got {height_mm}")
    if not fps > 0:
        raise PredictError(f"--fps must be positive, got {fps}")

    detections = None
    detector_options = {"--min_confidence": min_confidence, "--person": person,
                        "--max_gap": max_gap, "--smooth": smooth or None}
    if _is_detector_file(input, format):
        if layout not in (None, "h36m17"):
            raise PredictError(f"{input}: detector files are mapped onto h36m17 (docs/"
                               f"FORMATS.md); --layout={layout} applies to arrays only")
        layout = "h36m17"
        try:
            detections = formats.read_detections(
                input, None if format == "auto" else format, image_size=size,
                min_confidence=(formats.DEFAULT_MIN_CONFIDENCE if min_confidence is None
                                else min_confidence),
                person=person,
                max_gap=formats.DEFAULT_MAX_GAP if max_gap is None else max_gap,
                smooth_window=smooth)
        except (formats.FormatError, ValueError) as e:
            raise PredictError(str(e)) from None
        keypoints = detections.keypoints
        size = detections.image_size
    else:
        given = [flag for flag, value in detector_options.items() if value is not None]
        if given:
            verb = "apply" if len(given) > 1 else "applies"
            raise PredictError(f"{input}: {', '.join(given)} {verb}"
                               f" to detector files (--format={'|'.join(formats.FORMATS)}), "
                               f"not to arrays")
        keypoints, hints = read_keypoints_and_hints(input)
        if layout is None and hints.get("layout") is not None:
            layout = hints["layout"]
            try:
                layouts.check_layout(layout, input)
            except layouts.LayoutError as e:
                raise PredictError(f"{input}: its 'layout' entry: {e}") from None
        if size is None and hints.get("image_size") is not None:
            try:
                size = formats.parse_image_size(hints["image_size"], "its 'image_size' entry")
            except formats.FormatError as e:
                raise PredictError(f"{input}: {e}") from None
        if keypoints.ndim != 3 or keypoints.shape[-1] != 2:
            if keypoints.size == 0:
                raise PredictError(f"{input}: no keypoints (shape {list(keypoints.shape)})")
            raise PredictError(f"{input}: expected keypoints of shape [frames, joints, 2], got "
                               f"shape {list(keypoints.shape)}")
        if len(keypoints) == 0:
            raise PredictError(f"{input}: no frames (shape {list(keypoints.shape)})")

    # TensorFlow is imported only now, once the input file has been read.
    cli.quiet_tensorflow()
    from tfpose import serving

    try:
        lifter = serving.load(model, backend=backend)
    except ValueError as e:
        raise PredictError(f"--model={model}: {e}") from None
    meta = lifter.metadata
    if bvh and lifter.units != "mm" and height_mm is None:
        raise PredictError(f"{bvh}: a BVH needs millimetres, and {model} outputs "
                           f"{lifter.units} poses; give --height_mm (the person's ankle-to-head "
                           f"height, e.g. 1650)")
    if height_mm is not None and lifter.units == "mm":
        raise PredictError(f"--height_mm gives a metric scale to normalised output (RepGAN); "
                           f"{model} already outputs mm")
    try:
        pose_2d = layouts.map_layout(keypoints, layout, meta["joint_names_2d"], input)
    except layouts.LayoutError as e:
        raise PredictError(str(e)) from None
    try:
        serving.check_pose_2d(pose_2d, lifter.num_joints_2d,
                              "propagate" if allow_nan else "raise", name="input")
    except ValueError as e:
        hint = "; pass --allow_nan to get NaN poses for them" if "NaN" in str(e) else ""
        raise PredictError(f"{input}: {e}{hint}") from None
    try:
        pose_3d = lifter.lift(pose_2d, batch_size=batch_size, image_size=size,
                              focal_length=focal_length)
    except (ValueError, TypeError) as e:
        raise PredictError(f"{input}: {e}") from None

    notes = _notes(detections, meta, lifter.units, size)
    units = lifter.units
    extra: Dict = {"image_size": list(size) if size else None}
    if size:
        extra["input_frame"] = lifter.input_frame.to_dict()
    if detections is not None:
        extra["frame_ids"] = [str(f) if not isinstance(f, (int, np.integer)) else int(f)
                              for f in detections.frame_ids]
    if height_mm is not None:
        skel_3d = skeleton_lib.by_joint_names(meta["joint_names_3d"])
        pose_3d = formats.to_metric(pose_3d, height_mm=height_mm, skeleton=skel_3d) \
            .astype(np.float32)
        units = "mm"
        extra.update(units="mm", metric_scale=f"formats.to_metric(height_mm={height_mm:g}): "
                     f"each pose scaled to that ankle-to-head length")
    out_meta = {**meta, "units": units}
    write_output(output, pose_3d, pose_2d, out_meta, extra)
    plotted = save_plot(plot, pose_2d, pose_3d, out_meta, plot_frames) if plot else None
    animated = _save_animation(animation, pose_2d, pose_3d, out_meta, fps, size,
                               extra.get("frame_ids")) if animation else None
    rig = _save_bvh(bvh, pose_3d, out_meta, fps) if bvh else None
    return {"num_frames": int(len(pose_3d)), "output": output, "plot": plotted,
            "animation": animated, "bvh": rig, "units": units, "keypoints_3d": pose_3d,
            "summary": detections.summary() if detections is not None else None,
            "notes": notes}


def _notes(detections, meta: Dict, units: str, size) -> List[str]:
    """Advice printed with the result (nothing is changed by it)."""
    notes = []
    if size is None and units == "mm" and detections is not None:
        notes.append("no --image_size: the keypoints are taken as pixels of the model's "
                     "training images (Human3.6M: 1000x1000); give the video's size for "
                     "other images")
    if detections is not None and not str(meta.get("dataset", "")).endswith(
            "/" + detections.model_kind):
        notes.append(f"{detections.format} keypoints suit a model trained on "
                     f"{detections.model_kind} 2D input (this one: {meta.get('dataset')})")
    return notes


def _save_animation(path: str, pose_2d, pose_3d, meta: Dict, fps: float, size,
                    frame_ids) -> str:
    from tfpose import animation

    skel_2d = _skeleton_named(meta["joint_names_2d"], meta.get("skeleton_2d"))
    skel_3d = _skeleton_named(meta["joint_names_3d"], meta.get("skeleton_3d"))
    try:
        return animation.save_animation(path, pose_2d, pose_3d, skel_2d, skel_3d, fps=fps,
                                        image_size=tuple(size) if size else None,
                                        units=meta["units"], frame_labels=frame_ids)
    except (ValueError, RuntimeError) as e:
        raise PredictError(f"{path}: {e}") from None


def _save_bvh(path: str, pose_3d, meta: Dict, fps: float) -> str:
    from tfpose import bvh

    skel_3d = _skeleton_named(meta["joint_names_3d"], meta.get("skeleton_3d"))
    try:
        return bvh.write_bvh(path, pose_3d, skeleton=skel_3d, fps=fps)
    except ValueError as e:
        raise PredictError(f"{path}: {e}") from None


def define_flags():
    from absl import flags

    flags.DEFINE_string("model", None, "A shipped pretrained model's name (python -m "
                        "tfpose.pretrained list), a pretrained folder, or an export directory "
                        "(python -m tfpose.export).")
    flags.DEFINE_string("input", None, "Keypoints: an array file (.npz, .npy, .json, .csv: "
                        "[frames, joints, 2]; a JSON object may carry 'layout' and 'image_size') or a "
                        "detector's file/folder (see --format); 'example': the shipped example "
                        "motion (tfpose/example_data).")
    flags.DEFINE_string("output", None, "Where to write the 3D poses: .npz or .json.")
    flags.DEFINE_enum("format", "auto", list(INPUT_FORMATS), "Input format: auto (by "
                      "extension and content), array, or a detector's (docs/FORMATS.md).")
    flags.DEFINE_string("layout", None, "Joint order of an array input: " + ", ".join(LAYOUTS)
                        + " (default: model).")
    flags.DEFINE_string("image_size", None, "WxH of the images the keypoints come from, e.g. "
                        "1920x1080: maps them into the model's training frame "
                        "(docs/PRETRAINED.md).")
    flags.DEFINE_float("focal_length", None, "The camera's focal length in pixels, if known "
                       "(with --image_size; default: the training cameras' field of view).")
    flags.DEFINE_float("min_confidence", None, "Detector files: joints scored below it are "
                       f"missing (default {formats.DEFAULT_MIN_CONFIDENCE}).")
    flags.DEFINE_integer("person", None, "Detector files: the track id to follow (default: "
                         "the highest-scoring person of each frame).")
    flags.DEFINE_integer("max_gap", None, "Detector files: longest run of missing frames "
                         f"filled by interpolation (default {formats.DEFAULT_MAX_GAP}).")
    flags.DEFINE_integer("smooth", 0, "Detector files: moving-average window in frames "
                         "(odd; 0: off).")
    flags.DEFINE_float("height_mm", None, "RepGAN: give the normalised output millimetres by "
                       "the person's ankle-to-head length along the skeleton.")
    flags.DEFINE_string("plot", None, "Also write a PNG of 2D input | 3D pose for a few frames.")
    flags.DEFINE_integer("plot_frames", 4, "Frames shown by --plot (evenly spaced).")
    flags.DEFINE_string("animation", None, "Also write an animation of the sequence: .gif or "
                        ".mp4 (needs imageio-ffmpeg).")
    flags.DEFINE_string("bvh", None, "Also write a BVH rig of the 3D poses (millimetres).")
    flags.DEFINE_float("fps", 25.0, "Frame rate of the sequence (animation, BVH).")
    flags.DEFINE_bool("allow_nan", False, "Frames with NaN keypoints give NaN poses instead "
                      "of an error.")
    flags.DEFINE_string("backend", None, "Runtime: auto (default: TFLite for calls of "
                        "<= 64 poses, else the SavedModel or Keras), or one of "
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
                     backend=FLAGS.backend, format=FLAGS.format, image_size=FLAGS.image_size,
                     focal_length=FLAGS.focal_length, min_confidence=FLAGS.min_confidence,
                     person=FLAGS.person, max_gap=FLAGS.max_gap, smooth=FLAGS.smooth,
                     height_mm=FLAGS.height_mm, animation=FLAGS.animation, bvh=FLAGS.bvh,
                     fps=FLAGS.fps)
    except (ValueError, OSError, RuntimeError) as e:  # PredictError, ExportError, files
        cli.fail("tfpose.predict", e)
    if result["summary"]:
        print(result["summary"])
    for note in result["notes"]:
        print(f"note: {note}")
    written = [f"{what} {result[what]}" for what in ("plot", "animation", "bvh") if result[what]]
    print(f"lifted {result['num_frames']} frames ({result['units']}) -> {result['output']}"
          + (f"; {', '.join(written)}" if written else ""))


def run_cli(argv=None):
    """``tfpose-predict`` / ``python -m tfpose.predict``."""
    cli.run(main, define_flags, argv)


if __name__ == "__main__":
    run_cli()
