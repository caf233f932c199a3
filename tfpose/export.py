"""Export a trained model for TF Serving and TFLite; load an export back.

``export_model_dir(model_dir, out_dir)`` writes::

    out_dir/
      saved_model/        signature "serving_default":
                            keypoints_2d  float32 [batch, J2, 2]  pixels
                            -> keypoints_3d float32 [batch, J3, 3] root-relative,
                               camera frame, in `units` (mm, or "normalized"
                               for RepGAN: mean joint-to-root distance 1)
      model.tflite        the same computation, float32, TFLite builtin ops only
      model_fp16.tflite   the same with float16 weights (float32 compute)
      model_int8.tflite   dynamic-range quantised: int8 weights, activations
                          quantised per batch at run time (int8 matmuls;
                          ~3.7x the float32 throughput at batch 1024 on a
                          2-core AVX512-VNNI CPU, ~1/4 of the size)
      metadata.json       model kind, dataset, joint names, units, shapes,
                          train_config, versions, git commit, parity checks

All normalisation lives inside the graph, the batch size is dynamic, and the
graph is total on float32 input:

* a pose with any NaN or +-inf keypoint gives an all-NaN output pose; the
  other poses of the batch are computed as if it were not there (the bad
  pose is zeroed before the network and its output replaced by NaN
  afterwards, so nothing can leak across the batch);
* an empty batch ``[0, J2, 2]`` gives an empty ``[0, J3, 3]``;
* a wrong rank, joint count or coordinate count is rejected by the
  signature's input spec (TF Serving answers with an error; the server keeps
  running).

The export is written into a temporary sibling directory, checked (the
SavedModel and both TFLite files are run on probe poses and compared with the
Keras model), and only then renamed to ``out_dir``: a failed export never
leaves a directory that looks complete.

``load_predictor(path)`` returns an object with ``.metadata`` and
``.predict(pose_2d [N, J2, 2]) -> [N, J3, 3]`` (``backend="tflite"`` or
``"tflite_fp16"``/``"tflite_int8"`` runs a TFLite file instead of the SavedModel).

Command line::

    python -m tfpose.export --model_dir=runs/asn_sh --out=runs/asn_sh/export
    python -m tfpose.export --bench --bench_dir=/tmp/tfpose_bench   # docs/SERVING.md table
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import statistics
import sys
import time
import uuid
import warnings
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

SIGNATURE_KEY = "serving_default"
# The same computation compiled with XLA (same variables, no extra weights):
# ~3x lower batch-1 latency on CPU, but TF Serving runs it only with
# --xla_cpu_compilation_enabled, so it is not the default signature.
XLA_SIGNATURE_KEY = "serving_xla"
INPUT_NAME = "keypoints_2d"
OUTPUT_NAME = "keypoints_3d"
SAVED_MODEL_DIR = "saved_model"
TFLITE_FILE = "model.tflite"
TFLITE_FP16_FILE = "model_fp16.tflite"
TFLITE_INT8_FILE = "model_int8.tflite"
METADATA_FILE = "metadata.json"
FORMAT_VERSION = 1
BACKENDS = ("saved_model", "saved_model_xla", "tflite", "tflite_fp16", "tflite_int8")
TFLITE_FILES = {"tflite": TFLITE_FILE, "tflite_fp16": TFLITE_FP16_FILE,
                "tflite_int8": TFLITE_INT8_FILE}
NAN_POLICY = ("a pose with any NaN or +-inf keypoint gives an all-NaN output pose; "
              "the other poses of the batch are unaffected")
# Exported graphs must agree with the Keras model to this fraction of the
# output scale (float32 SavedModel and TFLite; float16 is only reported).
PARITY_TOLERANCE = 1e-4
TFLITE_PARITY_TOLERANCE = 1e-3
_FLOAT32_MAX = float(np.finfo(np.float32).max)


class ExportError(ValueError):
    """The export cannot be made or read (bad directory, failed check, bad input)."""


# --------------------------------------------------------------------------
# The serving computation


def serving_function(task) -> Callable[[tf.Tensor], Dict[str, tf.Tensor]]:
    """``keypoints_2d [B, J2, 2] -> {"keypoints_3d": [B, J3, 3]}`` for a task.

    Pure TFLite builtins (the full-width baseline converts to FULLY_CONNECTED,
    ADD, MUL, SUB, RESHAPE and, for the guard, ABS, LESS_EQUAL, SELECT_V2,
    FILL, SHAPE, ZEROS_LIKE, SUM). Non-finite detection is ``|x| <= FLT_MAX``
    (false for NaN and +-inf) rather than ``is_finite``, which TFLite lacks.
    """
    normalizer = task.normalizer

    def serve(keypoints_2d):
        x = tf.convert_to_tensor(keypoints_2d, tf.float32)
        finite = tf.abs(x) <= _FLOAT32_MAX
        clean = tf.where(finite, x, tf.zeros_like(x))
        # 0 for a pose whose keypoints are all finite, NaN otherwise.
        poison = tf.reduce_sum(tf.where(finite, tf.zeros_like(x), tf.fill(tf.shape(x), np.nan)),
                               axis=[1, 2], keepdims=True)
        y = normalizer.denormalize_3d(task.predict_normalized(normalizer.normalize_2d(clean)))
        return {OUTPUT_NAME: tf.identity(y + poison, name=OUTPUT_NAME)}

    return serve


class ServingModule(tf.Module):
    """What the SavedModel holds: the variables the serving function reads
    (for RepGAN only the generator's; critic and reprojector stay behind) and
    the ``tf.function`` with the fixed input signature."""

    def __init__(self, task):
        super().__init__(name="tfpose_serving")
        j2 = task.skeleton_2d.num_joints
        spec = tf.TensorSpec([None, j2, 2], tf.float32, name=INPUT_NAME)
        serve = serving_function(task)
        self.serve = tf.function(serve, input_signature=[spec], autograph=False)
        self.serve_xla = tf.function(serve, input_signature=[spec], autograph=False,
                                     jit_compile=True)
        concrete = self.serve.get_concrete_function()
        # Track the underlying tf.Variables (not the Keras wrappers): the TFLite
        # converter only freezes variables it finds in the object graph this
        # way; tracking the Keras model leaves uninitialised resource variables
        # in the .tflite file.
        self.model_variables = list(concrete.variables)
        self.input_spec_2d = spec


# --------------------------------------------------------------------------
# Export


def _tfpose_version() -> str:
    try:
        from importlib import metadata as importlib_metadata

        return importlib_metadata.version("tfpose")
    except Exception:  # not installed: read setup.py's version
        return "0.1.0"


def git_commit(start: Optional[str] = None) -> Optional[str]:
    """HEAD's commit of the repository holding this package, read from ``.git``
    (no git process is started); None outside a checkout."""
    d = os.path.abspath(start or os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        while True:
            git = os.path.join(d, ".git")
            if os.path.exists(git):
                break
            parent = os.path.dirname(d)
            if parent == d:
                return None
            d = parent
        if os.path.isfile(git):  # worktree / submodule: "gitdir: <path>"
            with open(git) as f:
                line = f.read().strip()
            if not line.startswith("gitdir:"):
                return None
            git = os.path.normpath(os.path.join(d, line.split(":", 1)[1].strip()))
        with open(os.path.join(git, "HEAD")) as f:
            head = f.read().strip()
        if not head.startswith("ref:"):
            return head or None
        ref = head.split(":", 1)[1].strip()
        common = git
        common_file = os.path.join(git, "commondir")
        if os.path.isfile(common_file):
            with open(common_file) as f:
                common = os.path.normpath(os.path.join(git, f.read().strip()))
        for base in (git, common):
            path = os.path.join(base, ref)
            if os.path.isfile(path):
                with open(path) as f:
                    return f.read().strip() or None
        packed = os.path.join(common, "packed-refs")
        if os.path.isfile(packed):
            with open(packed) as f:
                for line in f:
                    parts = line.strip().split(" ")
                    if len(parts) == 2 and parts[1] == ref:
                        return parts[0]
    except OSError:
        return None
    return None


def probe_poses(task, n: int = 64, seed: int = 0) -> np.ndarray:
    """Plausible input poses (pixels) for checks: around the training
    statistics for z-scored models, a random 2D pose otherwise."""
    rng = np.random.default_rng(seed)
    j2 = task.skeleton_2d.num_joints
    mean = getattr(task.normalizer, "mean_2d", None)
    if mean is not None:
        std = np.maximum(task.normalizer.std_2d, 1.0)
        return (mean + std * rng.normal(size=(n, j2, 2))).astype(np.float32)
    centre = rng.uniform(300, 700, size=(n, 1, 2))
    return (centre + rng.normal(0, 120, size=(n, j2, 2))).astype(np.float32)


def _convert_tflite(saved_model_dir: str, precision: str = "float32") -> bytes:
    """``precision``: "float32", "float16" (weights) or "int8" (dynamic range)."""
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir,
                                                         signature_keys=[SIGNATURE_KEY])
    # Builtins only: no Flex delegate needed, runs on phones.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if precision in ("float16", "int8"):
        # Without a representative dataset, DEFAULT means dynamic-range int8.
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == "float16":
        converter.target_spec.supported_types = [tf.float16]
    try:
        return converter.convert()
    except Exception as e:  # ConverterError and friends
        raise ExportError(f"TFLite conversion of {saved_model_dir} failed "
                          f"({precision}): {e}") from e


def _max_rel_diff(a: np.ndarray, b: np.ndarray, scale: float) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - b)) / scale) if a.size else 0.0


def export_model_dir(model_dir: str, out_dir: str, float16: bool = True,
                     int8: bool = True) -> str:
    """Export the latest checkpoint of ``model_dir`` to ``out_dir``; returns ``out_dir``.

    ``float16``/``int8`` add the float16-weight and dynamic-range int8 TFLite
    files (their differences to the Keras model are recorded, not enforced).

    An existing ``out_dir`` is replaced only once the new export is complete
    and has passed its parity checks.
    """
    from tfpose import training

    task = training.restore_task(model_dir)
    config = task.config
    out_dir = os.path.abspath(out_dir)
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(out_dir)}.tmp-{uuid.uuid4().hex[:8]}")
    os.makedirs(tmp)
    try:
        module = ServingModule(task)
        sm_dir = os.path.join(tmp, SAVED_MODEL_DIR)
        tf.saved_model.save(module, sm_dir,
                            signatures={SIGNATURE_KEY: module.serve.get_concrete_function(),
                                        XLA_SIGNATURE_KEY:
                                            module.serve_xla.get_concrete_function()})
        files = {"saved_model": SAVED_MODEL_DIR, "tflite": TFLITE_FILE}
        for key, precision, wanted in (("tflite", "float32", True),
                                       ("tflite_fp16", "float16", float16),
                                       ("tflite_int8", "int8", int8)):
            if wanted:
                with open(os.path.join(tmp, TFLITE_FILES[key]), "wb") as f:
                    f.write(_convert_tflite(sm_dir, precision))
                files[key] = TFLITE_FILES[key]

        # Parity on probe poses, against the training code's own predict.
        probe = probe_poses(task)
        reference = np.asarray(training.predict(task, probe), np.float64)
        scale = max(float(np.max(np.abs(reference))), 1e-6)
        checks = {"probe_poses": len(probe), "output_scale": scale}
        loaded = tf.saved_model.load(sm_dir)
        for key, check in ((SIGNATURE_KEY, "saved_model"), (XLA_SIGNATURE_KEY, "saved_model_xla")):
            got = loaded.signatures[key](**{INPUT_NAME: tf.constant(probe)})[OUTPUT_NAME].numpy()
            checks[f"{check}_max_rel_diff"] = _max_rel_diff(got, reference, scale)
        for key in TFLITE_FILES:
            if key in files:
                interp = TFLitePredictor(os.path.join(tmp, files[key]),
                                         num_joints_2d=task.skeleton_2d.num_joints)
                checks[f"{key}_max_rel_diff"] = _max_rel_diff(interp.run(probe), reference,
                                                              scale)
        limits = {"saved_model_max_rel_diff": PARITY_TOLERANCE,
                  "saved_model_xla_max_rel_diff": PARITY_TOLERANCE,
                  "tflite_max_rel_diff": TFLITE_PARITY_TOLERANCE,
                  "tflite_fp16_max_rel_diff": 0.1, "tflite_int8_max_rel_diff": 0.25}
        for key, limit in limits.items():
            if key in checks and not checks[key] <= limit:  # NaN fails too
                raise ExportError(f"exported {key.replace('_max_rel_diff', '')} disagrees with "
                                  f"the Keras model: max difference {checks[key]:.3g} of the "
                                  f"output scale (limit {limit:g})")

        skel_2d, skel_3d = task.skeleton_2d, task.skeleton_3d
        latest = tf.train.latest_checkpoint(os.path.join(model_dir, "ckpt"))
        metadata = {
            "format_version": FORMAT_VERSION,
            "model_kind": config.model,
            "dataset": config.dataset,
            "skeleton_2d": skel_2d.name,
            "skeleton_3d": skel_3d.name,
            "joint_names_2d": list(skel_2d.joint_names),
            "joint_names_3d": list(skel_3d.joint_names),
            "root_joint": skel_3d.joint_names[skel_3d.root],
            "units": task.normalizer.units,
            "signature_key": SIGNATURE_KEY,
            "xla_signature_key": XLA_SIGNATURE_KEY,
            "input": {"name": INPUT_NAME, "dtype": "float32", "shape": [None, skel_2d.num_joints, 2],
                      "description": "2D keypoints in the dataset's pixel coordinates"},
            "output": {"name": OUTPUT_NAME, "dtype": "float32",
                       "shape": [None, skel_3d.num_joints, 3],
                       "description": "root-relative 3D pose in the camera frame (x right, "
                                      "y down, z forward), in `units`"},
            "input_shape": [None, skel_2d.num_joints, 2],
            "output_shape": [None, skel_3d.num_joints, 3],
            "nan_policy": NAN_POLICY,
            "files": files,
            "normalizer": task.normalizer.to_dict(),
            "train_config": config.to_dict(),
            "checkpoint": os.path.basename(latest) if latest else None,
            "source_model_dir": os.path.abspath(model_dir),
            "checks": checks,
            "tfpose_version": _tfpose_version(),
            "tensorflow_version": tf.__version__,
            "keras_version": _keras_version(),
            "git_commit": git_commit(),
            "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds"),
        }
        with open(os.path.join(tmp, METADATA_FILE), "w") as f:
            json.dump(metadata, f, indent=1)

        # Swap in: the complete export appears under its final name at once.
        old = None
        if os.path.lexists(out_dir):
            old = os.path.join(parent, f".{os.path.basename(out_dir)}.old-{uuid.uuid4().hex[:8]}")
            os.rename(out_dir, old)
        os.rename(tmp, out_dir)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _keras_version() -> str:
    import keras

    return keras.__version__


# --------------------------------------------------------------------------
# Loading an export


def _resolve_export_dir(path: str) -> str:
    path = os.path.abspath(os.fspath(path))
    if os.path.isfile(os.path.join(path, METADATA_FILE)):
        return path
    if os.path.basename(path) == SAVED_MODEL_DIR and os.path.isfile(
            os.path.join(os.path.dirname(path), METADATA_FILE)):
        return os.path.dirname(path)
    if not os.path.exists(path):
        raise ExportError(f"{path} does not exist (expected a tfpose export directory)")
    raise ExportError(f"{path} is not a tfpose export directory: no {METADATA_FILE} "
                      f"(make one with python -m tfpose.export --model_dir=... --out=...)")


def read_metadata(path: str) -> Dict:
    export_dir = _resolve_export_dir(path)
    with open(os.path.join(export_dir, METADATA_FILE)) as f:
        try:
            meta = json.load(f)
        except json.JSONDecodeError as e:
            raise ExportError(f"{os.path.join(export_dir, METADATA_FILE)} is not valid JSON: {e}")
    missing = [k for k in ("model_kind", "dataset", "joint_names_2d", "joint_names_3d", "units")
               if k not in meta]
    if missing:
        raise ExportError(f"{os.path.join(export_dir, METADATA_FILE)} lacks {', '.join(missing)}")
    return meta


def check_pose_2d(pose_2d, num_joints: int, nan_policy: str = "propagate",
                  name: str = "pose_2d") -> np.ndarray:
    """``pose_2d`` as float32 [N, num_joints, 2], or a ValueError saying what is wrong.

    ``nan_policy``: ``"propagate"`` (non-finite poses give NaN outputs, like
    the serving signature) or ``"raise"``.
    """
    if nan_policy not in ("propagate", "raise"):
        raise ValueError(f"nan_policy must be 'propagate' or 'raise', got {nan_policy!r}")
    try:
        arr = np.asarray(pose_2d, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} is not a numeric array: {e}") from None
    if arr.ndim != 3 or arr.shape[1:] != (num_joints, 2):
        raise ValueError(f"{name} must have shape [frames, {num_joints}, 2] (the model's "
                         f"{num_joints} input joints, x and y in pixels), got shape "
                         f"{list(arr.shape)}")
    if nan_policy == "raise":
        bad = ~np.isfinite(arr).all(axis=(1, 2))
        if bad.any():
            idx = np.flatnonzero(bad)
            shown = ", ".join(map(str, idx[:10])) + (" ..." if len(idx) > 10 else "")
            raise ValueError(f"{name} has NaN or infinite keypoints in {len(idx)} of "
                             f"{len(arr)} frames (frames {shown})")
    return arr


class Predictor:
    """An export's SavedModel: ``.metadata`` and ``.predict(pose_2d)``.

    ``signature``: ``"serving_default"`` or ``"serving_xla"`` (XLA-compiled)."""

    backend = "saved_model"

    def __init__(self, path: str, signature: str = SIGNATURE_KEY):
        self.export_dir = _resolve_export_dir(path)
        self.metadata = read_metadata(self.export_dir)
        sm = os.path.join(self.export_dir, self.metadata.get("files", {}).get(
            "saved_model", SAVED_MODEL_DIR))
        try:
            self._loaded = tf.saved_model.load(sm)
        except (OSError, ValueError, tf.errors.OpError) as e:
            raise ExportError(f"cannot load the SavedModel in {sm}: {e}") from e
        if signature not in self._loaded.signatures:
            raise ExportError(f"{sm} has no {signature!r} signature (has: "
                              f"{', '.join(self._loaded.signatures)})")
        self._fn = self._loaded.signatures[signature]

    @property
    def num_joints_2d(self) -> int:
        return len(self.metadata["joint_names_2d"])

    @property
    def num_joints_3d(self) -> int:
        return len(self.metadata["joint_names_3d"])

    @property
    def units(self) -> str:
        return self.metadata["units"]

    def run(self, pose_2d: np.ndarray) -> np.ndarray:
        """One unchecked call of the graph (float32 [N, J2, 2])."""
        return self._fn(**{INPUT_NAME: tf.constant(pose_2d)})[OUTPUT_NAME].numpy()

    def predict(self, pose_2d, batch_size: int = 4096, nan_policy: str = "propagate") -> np.ndarray:
        """[N, J2, 2] pixels -> [N, J3, 3] root-relative camera-frame 3D in ``units``."""
        arr = check_pose_2d(pose_2d, self.num_joints_2d, nan_policy)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if len(arr) <= batch_size:
            return self.run(arr)
        return np.concatenate([self.run(arr[i:i + batch_size])
                               for i in range(0, len(arr), batch_size)])

    __call__ = predict


class TFLitePredictor:
    """A ``.tflite`` file of an export, run with ``tf.lite.Interpreter``
    (the input is resized to each batch)."""

    def __init__(self, tflite_path: str, num_joints_2d: Optional[int] = None,
                 num_threads: Optional[int] = None, metadata: Optional[Dict] = None):
        self.path = tflite_path
        self.metadata = metadata or {}
        with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation notice
            warnings.simplefilter("ignore")
            self._interp = tf.lite.Interpreter(model_path=tflite_path, num_threads=num_threads)
        inp = self._interp.get_input_details()
        out = self._interp.get_output_details()
        if len(inp) != 1 or len(out) != 1:
            raise ExportError(f"{tflite_path}: expected one input and one output, got "
                              f"{len(inp)} and {len(out)}")
        self._in, self._out = inp[0]["index"], out[0]["index"]
        self.num_joints_2d = num_joints_2d or int(inp[0]["shape_signature"][1])
        self._batch = None

    def run(self, pose_2d: np.ndarray) -> np.ndarray:
        pose_2d = np.ascontiguousarray(pose_2d, np.float32)
        n = len(pose_2d)
        if n == 0:  # TFLite cannot allocate empty tensors; the answer is known
            j3 = int(self._interp.get_output_details()[0]["shape_signature"][1])
            return np.zeros((0, j3, 3), np.float32)
        if n != self._batch:
            self._interp.resize_tensor_input(self._in, list(pose_2d.shape))
            self._interp.allocate_tensors()
            self._batch = n
        self._interp.set_tensor(self._in, pose_2d)
        self._interp.invoke()
        return self._interp.get_tensor(self._out).copy()

    def predict(self, pose_2d, batch_size: int = 1024, nan_policy: str = "propagate") -> np.ndarray:
        arr = check_pose_2d(pose_2d, self.num_joints_2d, nan_policy)
        if len(arr) <= batch_size:
            return self.run(arr)
        return np.concatenate([self.run(arr[i:i + batch_size])
                               for i in range(0, len(arr), batch_size)])

    __call__ = predict


def load_predictor(path: str, backend: str = "saved_model", num_threads: Optional[int] = None):
    """Load an export directory (or its ``saved_model/``) for prediction.

    ``backend``: ``"saved_model"`` (default), ``"saved_model_xla"`` (its XLA
    signature), ``"tflite"``, ``"tflite_fp16"`` or ``"tflite_int8"``.
    The result has ``.metadata`` (the export's metadata.json) and
    ``.predict(pose_2d [N, J2, 2], nan_policy="propagate"|"raise") -> [N, J3, 3]``;
    ``.predict`` raises ValueError for a wrong rank or joint count, and for
    non-finite keypoints when ``nan_policy="raise"``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if backend == "saved_model":
        return Predictor(path)
    if backend == "saved_model_xla":
        return Predictor(path, XLA_SIGNATURE_KEY)
    export_dir = _resolve_export_dir(path)
    meta = read_metadata(export_dir)
    name = meta.get("files", {}).get(backend, TFLITE_FILES[backend])
    tfl = os.path.join(export_dir, name)
    if not os.path.isfile(tfl):
        raise ExportError(f"{export_dir} has no {name} (exported without it: see "
                          f"--float16/--int8)")
    return TFLitePredictor(tfl, num_joints_2d=len(meta["joint_names_2d"]),
                           num_threads=num_threads, metadata=meta)


# --------------------------------------------------------------------------
# Benchmark (docs/SERVING.md)


def synthetic_frames(num_frames: int = 512, dataset: str = "human36m/sh", seed: int = 0):
    """Random camera-frame poses (about 5 m deep, +-0.3 m per joint) and their
    pinhole projections: enough to build a model directory without data
    (benchmarks, tests). Returns ``tfpose.data.Frames``."""
    from tfpose import data as data_lib
    from tfpose import skeleton as skeleton_lib

    skel_2d, skel_3d, _, _ = data_lib.check_dataset(dataset)
    s2, s3 = skeleton_lib.get(skel_2d), skeleton_lib.get(skel_3d)
    rng = np.random.default_rng(seed)
    n = num_frames
    root = np.stack([rng.uniform(-500, 500, n), rng.uniform(-300, 300, n),
                     rng.uniform(4000, 6000, n)], -1)
    pose_3d = (root[:, None] + rng.normal(0, 300, (n, s3.num_joints, 3))).astype(np.float32)
    proj = 1150.0 * pose_3d[..., :2] / pose_3d[..., 2:] + np.array([500.0, 500.0])
    idx = [s3.index(j) for j in s2.joint_names]
    pose_2d = proj[:, idx].astype(np.float32)
    strings = lambda v: np.full(n, v, dtype=object)  # noqa: E731
    return data_lib.Frames(pose_2d=pose_2d, pose_3d=pose_3d, subject=strings("S1"),
                           action=strings("Walking"), camera_id=strings("0"),
                           sequence=np.zeros(n, np.int32), skeleton_2d=skel_2d,
                           skeleton_3d=skel_3d)


def make_synthetic_model_dir(model_dir: str, model: str = "baseline",
                             dataset: str = "human36m/sh", width: int = 1024,
                             num_frames: int = 256, batch_size: int = 64, seed: int = 0) -> str:
    """Train ``model`` for one epoch on :func:`synthetic_frames` (weights are
    as good as untrained: for timing and plumbing only)."""
    from tfpose import training

    config = training.TrainConfig(model=model, dataset=dataset, epochs=1, batch_size=batch_size,
                                  width=width, val_stride=0, seed=seed)
    training.fit(config, model_dir, train_frames=synthetic_frames(num_frames, dataset, seed),
                 val_frames=None)
    return model_dir


def _time_calls(fn: Callable[[], object], warmup: int, min_runs: int, min_seconds: float,
                max_runs: int = 100_000) -> List[float]:
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_runs or (time.perf_counter() - start < min_seconds
                                    and len(times) < max_runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def benchmark(export_dir: str, model_dir: Optional[str] = None,
              batch_sizes: Sequence[int] = (1, 1024), warmup: int = 20, min_runs: int = 50,
              min_seconds: float = 3.0, num_threads: Optional[int] = None) -> List[Dict]:
    """Median latency of one call per runtime and batch size.

    Runtimes: the Keras model under ``tf.function`` (normalisation included,
    needs ``model_dir``; default: the export's source model directory), the
    SavedModel signature, the TFLite interpreter (float32, float16, int8). Each
    call includes feeding the input and fetching the output as NumPy.
    Rows: ``{"runtime", "batch", "median_ms", "p10_ms", "p90_ms", "runs",
    "poses_per_s"}``.
    """
    from tfpose import training

    meta = read_metadata(export_dir)
    j2 = len(meta["joint_names_2d"])
    runtimes = {}
    model_dir = model_dir or meta.get("source_model_dir")
    if model_dir and os.path.isdir(model_dir):
        task = training.restore_task(model_dir)
        fn = tf.function(serving_function(task), input_signature=[
            tf.TensorSpec([None, j2, 2], tf.float32)], autograph=False)
        runtimes["keras (tf.function)"] = lambda x: fn(tf.constant(x))[OUTPUT_NAME].numpy()
    predictor = Predictor(export_dir)
    runtimes["SavedModel signature"] = predictor.run
    if XLA_SIGNATURE_KEY in predictor._loaded.signatures:
        runtimes["SavedModel signature (XLA)"] = Predictor(export_dir, XLA_SIGNATURE_KEY).run
    for backend, label in (("tflite", "TFLite float32"), ("tflite_fp16", "TFLite float16"),
                           ("tflite_int8", "TFLite int8 (dynamic range)")):
        if backend in meta.get("files", {}):
            runtimes[label] = load_predictor(export_dir, backend, num_threads).run
    rows = []
    rng = np.random.default_rng(0)
    for batch in batch_sizes:
        x = (500 + 100 * rng.normal(size=(batch, j2, 2))).astype(np.float32)
        for label, run in runtimes.items():
            times = _time_calls(lambda: run(x), warmup, min_runs, min_seconds)
            med = statistics.median(times)
            q = np.percentile(times, [10, 90])
            rows.append({"runtime": label, "batch": batch, "median_ms": 1e3 * med,
                         "p10_ms": 1e3 * q[0], "p90_ms": 1e3 * q[1], "runs": len(times),
                         "poses_per_s": batch / med})
    return rows


def file_sizes(export_dir: str) -> Dict[str, int]:
    """Bytes of the TFLite files and saved_model/ (recursive)."""
    out = {}
    for name in TFLITE_FILES.values():
        path = os.path.join(export_dir, name)
        if os.path.isfile(path):
            out[name] = os.path.getsize(path)
    total = 0
    for root, _, names in os.walk(os.path.join(export_dir, SAVED_MODEL_DIR)):
        total += sum(os.path.getsize(os.path.join(root, n)) for n in names)
    out[SAVED_MODEL_DIR + "/"] = total
    return out


def format_benchmark(rows: List[Dict], sizes: Dict[str, int]) -> str:
    lines = ["| runtime | batch | median latency (ms) | p10-p90 (ms) | poses/s | runs |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['runtime']} | {r['batch']} | {r['median_ms']:.3f} | "
                     f"{r['p10_ms']:.3f}-{r['p90_ms']:.3f} | {r['poses_per_s']:,.0f} | {r['runs']} |")
    lines += ["", "| file | size |", "|---|---:|"]
    for name, size in sizes.items():
        lines.append(f"| {name} | {size / 2**20:.2f} MiB ({size:,} bytes) |")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Command line


def _define_flags():
    from absl import flags

    flags.DEFINE_string("model_dir", None, "Trained model directory (config.json, ckpt/).")
    flags.DEFINE_string("out", None, "Export directory to write (replaced when complete).")
    flags.DEFINE_bool("float16", True, "Also write model_fp16.tflite (float16 weights).")
    flags.DEFINE_bool("int8", True, "Also write model_int8.tflite (dynamic-range int8).")
    flags.DEFINE_bool("bench", False, "Benchmark an export (--out; made first from --model_dir, "
                      "or from a synthetic full-width model in --bench_dir).")
    flags.DEFINE_string("bench_dir", None, "With --bench and no --model_dir/--out: where the "
                        "synthetic model (bench_dir/model) and its export (bench_dir/export) go.")
    flags.DEFINE_string("bench_model", "baseline", "Model kind of the synthetic bench model.")
    flags.DEFINE_string("bench_dataset", "human36m/sh", "Dataset (skeletons) of the bench model.")
    flags.DEFINE_integer("bench_width", 1024, "Width of the synthetic bench model.")
    flags.DEFINE_float("bench_seconds", 3.0, "Minimum timed seconds per runtime and batch size.")
    flags.DEFINE_integer("num_threads", None, "TFLite interpreter threads (default: TFLite's).")


def main(argv):
    from absl import flags, logging

    from tfpose import training

    del argv
    FLAGS = flags.FLAGS
    try:
        if FLAGS.bench:
            model_dir, out = FLAGS.model_dir, FLAGS.out
            if not model_dir and not out:
                if not FLAGS.bench_dir:
                    raise ExportError("--bench needs --out (an export), --model_dir, or --bench_dir")
                model_dir = os.path.join(FLAGS.bench_dir, "model")
                out = os.path.join(FLAGS.bench_dir, "export")
                if not os.path.isdir(os.path.join(model_dir, "ckpt")):
                    make_synthetic_model_dir(model_dir, FLAGS.bench_model, FLAGS.bench_dataset,
                                             FLAGS.bench_width)
            if model_dir and (not out or not os.path.isfile(os.path.join(out, METADATA_FILE))):
                out = export_model_dir(model_dir, out or os.path.join(model_dir, "export"),
                                       FLAGS.float16, FLAGS.int8)
            rows = benchmark(out, model_dir, min_seconds=FLAGS.bench_seconds,
                             num_threads=FLAGS.num_threads)
            print(format_benchmark(rows, file_sizes(out)))
            return
        if not FLAGS.model_dir or not FLAGS.out:
            raise ExportError("--model_dir and --out are required")
        out = export_model_dir(FLAGS.model_dir, FLAGS.out, float16=FLAGS.float16,
                               int8=FLAGS.int8)
        meta = read_metadata(out)
        logging.info("exported %s (%s on %s) to %s; parity %s", FLAGS.model_dir,
                     meta["model_kind"], meta["dataset"], out, meta["checks"])
        print(out)
    except (ValueError, training.TrainingError, OSError) as e:
        sys.exit(f"tfpose.export: error: {e}")


if __name__ == "__main__":
    from absl import app

    _define_flags()
    app.run(main)
