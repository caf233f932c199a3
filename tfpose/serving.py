"""Load a tfpose export or a shipped pretrained model and lift 2D keypoints to 3D with it.

The reading half of the export contract that ``tfpose.export`` writes::

    export_dir/
      saved_model/        signature "serving_default" (and "serving_xla"):
                            keypoints_2d float32 [batch, J2, 2] pixels
                            -> keypoints_3d float32 [batch, J3, 3]
      model.tflite        the same graph, float32
      model_fp16.tflite   float16 weights
      model_int8.tflite   dynamic-range int8
      metadata.json       joint names, units, files, provenance, checks

and of the pretrained models shipped in the package (``tfpose.pretrained``;
docs/PRETRAINED.md), which run in Keras with the normalisation inside the
same ``tf.function``.

Usage::

    from tfpose import serving
    lifter = serving.load("asn-h36m-sh")                # a shipped model's name
    lifter = serving.load("runs/asn_sh/export")         # or an export (backend="tflite_int8", ...)
    lifter.units, lifter.num_joints_2d, lifter.metadata["joint_names_3d"]
    pose_3d = lifter.lift(pose_2d)                      # [N, J2, 2] px -> [N, J3, 3]
    lifter.backend                                      # the runtime that served that call
    pose_3d = lifter.lift(coco_keypoints, layout="coco17", image_size=(1920, 1080))

Serving an export needs TensorFlow and NumPy only; serving a pretrained model
adds Keras and ``tfpose.models``. Neither imports tfpose's training code
(training loop, losses, optimizers, data pipeline), so a process that only
serves starts quickly and cannot be broken by training-side changes.

The default backend, ``"auto"``, picks the runtime by the number of poses in
a call: a TensorFlow function call costs about a millisecond of dispatch
whatever the batch, TFLite a tenth of that, while TensorFlow's kernels win
on large batches. So calls of at most :data:`AUTO_SMALL_BATCH` poses go to
TFLite (an export's ``model.tflite``; for a pretrained model an in-memory
conversion of its Keras function), larger ones to the SavedModel or Keras.
"""

from __future__ import annotations

import abc
import json
import os
import warnings
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfpose import formats
from tfpose import image_mapping
from tfpose import layouts
from tfpose import pretrained

# The export contract, shared with tfpose.export (which writes it).
SIGNATURE_KEY = "serving_default"
# The same graph compiled with XLA over the same variables; TF Serving runs it
# only with --xla_cpu_compilation_enabled, so it is not the default.
XLA_SIGNATURE_KEY = "serving_xla"
INPUT_NAME = "keypoints_2d"
OUTPUT_NAME = "keypoints_3d"
SAVED_MODEL_DIR = "saved_model"
TFLITE_FILE = "model.tflite"
TFLITE_FP16_FILE = "model_fp16.tflite"
TFLITE_INT8_FILE = "model_int8.tflite"
METADATA_FILE = "metadata.json"
# metadata.json's layout; exports without the field are version 1.
FORMAT_VERSION = 1
BACKENDS = ("saved_model", "saved_model_xla", "tflite", "tflite_fp16", "tflite_int8")
# A pretrained model (tfpose.pretrained) runs in Keras; export it for the others.
PRETRAINED_BACKEND = "keras"
# The default: TFLite for small calls, the SavedModel (or Keras) for large ones.
AUTO_BACKEND = "auto"
# Calls of at most this many poses are small. Measured crossover of TFLite
# float32 (default threads) and the SavedModel on 2 cores: docs/SERVING.md.
AUTO_SMALL_BATCH = 64
# A pretrained model converts its function to TFLite on its this-many-th small
# call: the conversion costs as much as a thousand or more calls save, so a
# script that lifts a few times never pays it and a serving loop pays it once.
AUTO_CONVERT_AFTER = 20
TFLITE_FILES = {"tflite": TFLITE_FILE, "tflite_fp16": TFLITE_FP16_FILE,
                "tflite_int8": TFLITE_INT8_FILE}
NAN_POLICIES = ("propagate", "raise")
# Finite keypoints farther than this from the training frame's origin (in
# pixels) come from no image: garbage, refused rather than lifted.
MAX_ABS_PIXEL = 1e6
REQUIRED_METADATA = ("model_kind", "dataset", "joint_names_2d", "joint_names_3d", "units")


class ExportError(ValueError):
    """The export cannot be made or read (bad directory, failed check, bad file)."""


# --------------------------------------------------------------------------
# Finding and reading an export


def resolve_export_dir(path: str) -> str:
    """The export directory that ``path`` names: the directory itself or its
    ``saved_model/`` (shipped model names are resolved by :func:`load`)."""
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
    """``metadata.json`` of an export (``path``: the directory or its ``saved_model/``)."""
    meta_path = os.path.join(resolve_export_dir(path), METADATA_FILE)
    with open(meta_path) as f:
        try:
            meta = json.load(f)
        except json.JSONDecodeError as e:
            raise ExportError(f"{meta_path} is not valid JSON: {e}") from None
    if not isinstance(meta, dict):
        raise ExportError(f"{meta_path} must hold a JSON object, got {type(meta).__name__}")
    missing = [k for k in REQUIRED_METADATA if k not in meta]
    if missing:
        raise ExportError(f"{meta_path} lacks {', '.join(missing)}")
    version = meta.get("format_version", 1)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ExportError(f"{meta_path} has format_version {version!r}; this tfpose reads "
                          f"versions up to {FORMAT_VERSION} (upgrade tfpose)")
    return meta


def check_pose_2d(pose_2d, num_joints: int, nan_policy: str = "propagate",
                  name: str = "pose_2d") -> np.ndarray:
    """``pose_2d`` as float32 [N, num_joints, 2], or a ValueError saying what is wrong.

    ``nan_policy``: ``"propagate"`` (non-finite poses give NaN outputs, like
    the serving signature) or ``"raise"``.
    """
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy must be 'propagate' or 'raise', got {nan_policy!r}")
    try:
        arr = layouts.to_float32(pose_2d)
    except ValueError as e:
        raise ValueError(f"{name} is not a numeric array: {e}") from None
    if arr.ndim != 3 or arr.shape[1:] != (num_joints, 2):
        raise ValueError(f"{name} must have shape [frames, {num_joints}, 2] (the model's "
                         f"{num_joints} input joints, x and y in pixels), got shape "
                         f"{list(arr.shape)}")
    with np.errstate(invalid="ignore"):
        beyond = (np.isfinite(arr) & (np.abs(arr) > MAX_ABS_PIXEL)).any(axis=(1, 2))
    if beyond.any():
        idx = np.flatnonzero(beyond)
        shown = ", ".join(map(str, idx[:10])) + (" ..." if len(idx) > 10 else "")
        raise ValueError(f"{name} has coordinates no image has (beyond +-{MAX_ABS_PIXEL:g} "
                         f"pixels) in {len(idx)} of {len(arr)} frames (frames {shown})")
    if nan_policy == "raise":
        bad = ~np.isfinite(arr).all(axis=(1, 2))
        if bad.any():
            idx = np.flatnonzero(bad)
            shown = ", ".join(map(str, idx[:10])) + (" ..." if len(idx) > 10 else "")
            raise ValueError(f"{name} has NaN or infinite keypoints in {len(idx)} of "
                             f"{len(arr)} frames (frames {shown})")
    return arr


# --------------------------------------------------------------------------
# Lifters: one per runtime, the same checks and batching for all


class Lifter(abc.ABC):
    """A loaded export: ``.metadata`` and ``.lift(pose_2d) -> pose_3d``.

    Subclasses supply :meth:`run`, one unchecked call of the exported graph;
    input checks and batching live here so every runtime behaves alike.
    ``backend``: the runtime that served the last :meth:`lift` (backend
    ``"auto"`` picks one per call, :meth:`runtime_for`).
    """

    backend: str = ""
    default_batch_size: int = 4096

    def __init__(self, export_dir: str, metadata: Dict):
        self.export_dir = export_dir
        self.metadata = metadata

    @property
    def num_joints_2d(self) -> int:
        return len(self.metadata["joint_names_2d"])

    @property
    def num_joints_3d(self) -> int:
        return len(self.metadata["joint_names_3d"])

    @property
    def units(self) -> str:
        """``"mm"``, or ``"normalized"`` (RepGAN: mean joint-to-root distance 1)."""
        return self.metadata["units"]

    @property
    def input_frame(self) -> image_mapping.TrainingFrame:
        """The pixel frame of the training keypoints (``image_size`` maps into it)."""
        return image_mapping.frame_for(self.metadata)

    def prepare(self, keypoints_2d, layout: Optional[str] = None,
                image_size: Optional[Sequence[float]] = None,
                focal_length: Optional[float] = None, where: str = "keypoints_2d") -> np.ndarray:
        """Keypoints as they come -> the model's input joints in training pixels.

        ``layout``: the joint order of ``keypoints_2d`` (``tfpose.layouts``;
        None: already the model's); ``image_size=(w, h)``: the image the
        pixels are from, mapped into the training frame
        (``tfpose.image_mapping``; None: already in it); ``focal_length``:
        the camera's, in pixels, if known.
        """
        if focal_length is not None and image_size is None:
            raise ValueError("focal_length needs image_size (the image it belongs to)")
        if image_size is not None and not isinstance(image_size, str):
            try:
                sides = [float(side) for side in image_size]
            except (TypeError, ValueError):
                sides = []
            if len(sides) != 2 or not all(0 < side <= formats.MAX_IMAGE_SIZE for side in sides):
                raise ValueError(f"image_size must be (width, height) in pixels, each in (0, "
                                 f"{formats.MAX_IMAGE_SIZE}], got {image_size!r}")
        if layout is None and image_size is None:
            return keypoints_2d
        pose = layouts.map_layout(keypoints_2d, layout, self.metadata["joint_names_2d"], where)
        if image_size is not None:
            pose = image_mapping.to_training_frame(pose, image_size, self.input_frame,
                                                   focal_length)
        return pose

    @abc.abstractmethod
    def run(self, pose_2d: np.ndarray) -> np.ndarray:
        """One unchecked call of the graph: float32 [N >= 1, J2, 2] -> [N, J3, 3]."""

    def runtime_for(self, num_poses: int) -> Tuple[str, Callable[[np.ndarray], np.ndarray], int]:
        """(backend, unchecked run, default batch size) that serve a call of
        ``num_poses`` poses; one runtime unless the backend is ``"auto"``."""
        return self.backend, self.run, self.default_batch_size

    def describe_backend(self) -> str:
        """The backend as :func:`repr` shows it (``"auto(...)"`` for auto)."""
        return self.backend

    def lift(self, keypoints_2d, batch_size: Optional[int] = None,
             nan_policy: str = "propagate", *, layout: Optional[str] = None,
             image_size: Optional[Sequence[float]] = None,
             focal_length: Optional[float] = None) -> np.ndarray:
        """[N, J2, 2] pixels -> [N, J3, 3] root-relative camera-frame 3D in ``units``.

        ``layout``, ``image_size`` and ``focal_length``: see :meth:`prepare`
        (by default the keypoints are the model's joints in training pixels).
        Runs in batches of ``batch_size`` (default: the runtime's own). A pose
        with a NaN or infinite keypoint gives an all-NaN output pose
        (``nan_policy="propagate"``) or a ValueError (``"raise"``); a wrong
        rank or joint count is a ValueError naming the expected shape.
        """
        keypoints_2d = self.prepare(keypoints_2d, layout, image_size, focal_length)
        arr = check_pose_2d(keypoints_2d, self.num_joints_2d, nan_policy, name="keypoints_2d")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        backend, run, default_batch_size = self.runtime_for(len(arr))
        out = run_in_batches(run, arr, default_batch_size if batch_size is None else batch_size,
                             self.num_joints_3d)
        self.backend = backend
        return out

    __call__ = lift

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.export_dir!r}, {self.metadata['model_kind']} on "
                f"{self.metadata['dataset']}, {self.num_joints_2d} -> {self.num_joints_3d} "
                f"joints, {self.units}, backend {self.describe_backend()})")


def run_in_batches(run: Callable[[np.ndarray], np.ndarray], pose_2d: np.ndarray,
                   batch_size: int, num_joints_3d: int) -> np.ndarray:
    """``run`` over consecutive slices of at most ``batch_size`` poses, joined.
    An empty input gives ``[0, J3, 3]`` without a call (TFLite cannot
    allocate an empty tensor)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if len(pose_2d) == 0:
        return np.zeros((0, num_joints_3d, 3), np.float32)
    if len(pose_2d) <= batch_size:
        return run(pose_2d)
    return np.concatenate([run(pose_2d[i:i + batch_size])
                           for i in range(0, len(pose_2d), batch_size)])


def _check_joints(where: str, what: str, got: Optional[int], expected: int) -> None:
    if got is not None and got > 0 and got != expected:
        raise ExportError(f"{where}: {what} has {got} joints but {METADATA_FILE} lists "
                          f"{expected}; the export is inconsistent")


class SavedModelLifter(Lifter):
    """The export's SavedModel, through ``signature`` (``"serving_default"``
    or the XLA-compiled ``"serving_xla"``)."""

    def __init__(self, export_dir: str, metadata: Dict, signature: str = SIGNATURE_KEY):
        super().__init__(export_dir, metadata)
        self.backend = "saved_model_xla" if signature == XLA_SIGNATURE_KEY else "saved_model"
        path = os.path.join(export_dir, metadata.get("files", {}).get("saved_model",
                                                                      SAVED_MODEL_DIR))
        try:
            loaded = tf.saved_model.load(path)
        except (OSError, ValueError, tf.errors.OpError) as e:
            raise ExportError(f"cannot load the SavedModel in {path}: {e}") from None
        if signature not in loaded.signatures:
            raise ExportError(f"{path} has no {signature!r} signature (has: "
                              f"{', '.join(loaded.signatures) or 'none'})")
        self._loaded = loaded  # keeps the variables the signature reads alive
        self._fn = loaded.signatures[signature]
        spec = self._fn.structured_input_signature[1].get(INPUT_NAME)
        if spec is None:
            raise ExportError(f"{path}: signature {signature!r} has no input {INPUT_NAME!r}")
        _check_joints(path, f"signature {signature!r}", spec.shape[1], self.num_joints_2d)

    def run(self, pose_2d: np.ndarray) -> np.ndarray:
        return self._fn(**{INPUT_NAME: tf.constant(pose_2d, tf.float32)})[OUTPUT_NAME].numpy()


class TFLiteLifter(Lifter):
    """One ``.tflite`` file of the export under ``tf.lite.Interpreter``; the
    input tensor is resized whenever the batch size changes. ``model_content``
    (bytes) replaces the file for in-memory conversions; ``tflite_path`` then
    only names it."""

    default_batch_size = 1024

    def __init__(self, tflite_path: str, metadata: Dict, num_threads: Optional[int] = None,
                 backend: str = "tflite", model_content: Optional[bytes] = None):
        super().__init__(os.path.dirname(os.path.abspath(tflite_path)), metadata)
        self.backend = backend
        self.path = tflite_path
        try:
            with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation notice
                warnings.simplefilter("ignore")
                if model_content is None:
                    self._interp = tf.lite.Interpreter(model_path=tflite_path,
                                                       num_threads=num_threads)
                else:
                    self._interp = tf.lite.Interpreter(model_content=model_content,
                                                       num_threads=num_threads)
        except (ValueError, RuntimeError) as e:
            raise ExportError(f"cannot load {tflite_path}: {e}") from None
        inp = self._interp.get_input_details()
        out = self._interp.get_output_details()
        if len(inp) != 1 or len(out) != 1:
            raise ExportError(f"{tflite_path}: expected one input and one output, got "
                              f"{len(inp)} and {len(out)}")
        _check_joints(tflite_path, "the input", int(inp[0]["shape_signature"][1]),
                      self.num_joints_2d)
        _check_joints(tflite_path, "the output", int(out[0]["shape_signature"][1]),
                      self.num_joints_3d)
        self._in, self._out = inp[0]["index"], out[0]["index"]
        self._batch = None

    def run(self, pose_2d: np.ndarray) -> np.ndarray:
        pose_2d = np.ascontiguousarray(pose_2d, np.float32)
        if len(pose_2d) != self._batch:
            self._interp.resize_tensor_input(self._in, list(pose_2d.shape))
            self._interp.allocate_tensors()
            self._batch = len(pose_2d)
        self._interp.set_tensor(self._in, pose_2d)
        self._interp.invoke()
        return self._interp.get_tensor(self._out).copy()


class AutoLifter(Lifter):
    """Backend ``"auto"`` of an export: calls of at most ``small_batch``
    poses run on ``small`` (the float32 TFLite file), larger ones on
    ``large`` (the SavedModel). Both compute the same graph, NaN guard
    included. ``backend`` is the runtime that served the last call (before
    the first, ``large``'s)."""

    def __init__(self, large: Lifter, small: Lifter, small_batch: int = AUTO_SMALL_BATCH):
        super().__init__(large.export_dir, large.metadata)
        self.large, self.small, self.small_batch = large, small, small_batch
        self.backend = large.backend

    def runtime_for(self, num_poses: int):
        return (self.small if num_poses <= self.small_batch else self.large).runtime_for(
            num_poses)

    def run(self, pose_2d: np.ndarray) -> np.ndarray:
        return self.runtime_for(len(pose_2d))[1](pose_2d)

    def describe_backend(self) -> str:
        return (f"{AUTO_BACKEND}({self.small.backend} for <= {self.small_batch} poses, else "
                f"{self.large.backend}; last call: {self.backend})")


class KerasLifter(Lifter):
    """A shipped pretrained model (``tfpose.pretrained``): its Keras network
    and normaliser in one ``tf.function``, the export graph's contract
    (root-relative output in the model's units; a pose with a non-finite
    keypoint gives an all-NaN pose and leaves the others alone).

    ``small_batch`` > 0 (backend ``"auto"``): from the
    :data:`AUTO_CONVERT_AFTER`-th call of at most ``small_batch`` poses on,
    such calls run on a TFLite interpreter converted in memory from the same
    function (if the conversion fails, a warning says so and they stay in
    Keras). ``backend`` is ``"keras"`` or ``"tflite"``: the runtime that
    served the last call."""

    def __init__(self, model, small_batch: int = 0,
                 num_threads: Optional[int] = None):  # model: pretrained.inference.Pretrained
        super().__init__(model.folder, model.metadata)
        self.pretrained = model
        self.small_batch = small_batch
        self.backend = PRETRAINED_BACKEND
        self._num_threads = num_threads
        self._small_calls = 0
        self._tflite: Optional[TFLiteLifter] = None
        self._conversion_failed = False
        normalizer, network = model.normalizer, model.model
        spec = tf.TensorSpec([None, self.num_joints_2d, 2], tf.float32, name=INPUT_NAME)

        @tf.function(input_signature=[spec], autograph=False)
        def lift_fn(keypoints_2d):
            return normalizer.denormalize_3d(
                network(normalizer.normalize_2d(keypoints_2d), training=False))

        self._fn = lift_fn

    @property
    def name(self) -> str:
        return self.pretrained.name

    def run(self, pose_2d: np.ndarray) -> np.ndarray:
        return self._finite_only(lambda x: self._fn(tf.constant(x, tf.float32)).numpy(), pose_2d)

    def runtime_for(self, num_poses: int):
        if 0 < num_poses <= self.small_batch:
            self._small_calls += 1
            if (self._tflite is None and not self._conversion_failed
                    and self._small_calls >= AUTO_CONVERT_AFTER):
                self.convert_to_tflite()
            if self._tflite is not None:
                tflite = self._tflite
                return (tflite.backend, lambda x: self._finite_only(tflite.run, x),
                        tflite.default_batch_size)
        return PRETRAINED_BACKEND, self.run, self.default_batch_size

    def convert_to_tflite(self) -> bool:
        """Convert the lifting function to an in-memory TFLite interpreter
        now (``auto`` does it by itself on the :data:`AUTO_CONVERT_AFTER`-th
        small call); True if small calls will use it."""
        if self._tflite is None and not self._conversion_failed:
            try:
                content = tflite_from_function(self._fn)
                self._tflite = TFLiteLifter(os.path.join(self.export_dir, "(in memory).tflite"),
                                            self.metadata, self._num_threads,
                                            model_content=content)
            except Exception as e:  # ConverterError and friends: Keras still serves
                self._conversion_failed = True
                warnings.warn(f"tfpose.serving: TFLite conversion of {self.name} failed "
                              f"({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
                              f"small batches stay in Keras", RuntimeWarning, stacklevel=2)
        return self._tflite is not None

    def _finite_only(self, run: Callable[[np.ndarray], np.ndarray],
                     pose_2d: np.ndarray) -> np.ndarray:
        """``run`` on the poses whose keypoints are all finite; NaN poses for the others."""
        finite = np.isfinite(pose_2d).all(axis=(1, 2))
        if finite.all():
            return run(pose_2d)
        out = np.full((len(pose_2d), self.num_joints_3d, 3), np.nan, np.float32)
        if finite.any():
            out[finite] = run(pose_2d[finite])
        return out

    def describe_backend(self) -> str:
        if not self.small_batch:
            return self.backend
        return (f"{AUTO_BACKEND}(tflite for <= {self.small_batch} poses from the "
                f"{AUTO_CONVERT_AFTER}th such call, else {PRETRAINED_BACKEND}; last call: "
                f"{self.backend})")


def tflite_from_function(fn) -> bytes:
    """A float32 TFLite model (builtin ops only) of ``fn``, a ``tf.function``
    with one fixed input signature, made in memory."""
    concrete = fn.get_concrete_function()
    # The converter freezes only the variables it finds through this object.
    holder = tf.Module()
    holder.weights = list(concrete.variables)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], holder)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return converter.convert()


# --------------------------------------------------------------------------
# Entry point


def load(path: str, backend: Optional[str] = None, num_threads: Optional[int] = None,
         pretrained_root: Optional[str] = None) -> Lifter:
    """Load a shipped pretrained model by name, a pretrained model folder, or
    the export in ``path`` (the directory, or its ``saved_model/``).

    ``backend`` (None means ``"auto"``): ``"auto"`` runs calls of at most
    :data:`AUTO_SMALL_BATCH` poses on TFLite float32 and larger ones on the
    SavedModel (an export without ``model.tflite``: always the SavedModel)
    or Keras (a pretrained model, which converts to TFLite in memory on its
    :data:`AUTO_CONVERT_AFTER`-th small call); ``lifter.backend`` says which
    runtime served the last call. One runtime for every call: an export's
    ``"saved_model"``, ``"saved_model_xla"`` (its XLA signature),
    ``"tflite"``, ``"tflite_fp16"`` or ``"tflite_int8"``; a pretrained
    model's ``"keras"`` (export it for the others). ``num_threads``: threads
    of TFLite interpreters (default: TFLite's). ``pretrained_root``: where
    shipped models are looked up (default: ``tfpose.pretrained.root()``).
    Returns a :class:`Lifter`; bad paths and files raise
    :class:`ExportError` (or ``tfpose.pretrained.PretrainedError``), one line
    each.
    """
    known = BACKENDS + (PRETRAINED_BACKEND, AUTO_BACKEND)
    if backend is not None and backend not in known:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(known)}")
    backend = backend or AUTO_BACKEND
    source = os.fspath(path)
    folder = _pretrained_folder(source, pretrained_root)
    if folder is not None:
        if backend not in (AUTO_BACKEND, PRETRAINED_BACKEND):
            raise ExportError(f"{source} is a pretrained model, which runs in Keras; for "
                              f"backend {backend!r} export it first: python -m tfpose.export "
                              f"--pretrained={source} --out=DIR")
        small_batch = AUTO_SMALL_BATCH if backend == AUTO_BACKEND else 0
        return KerasLifter(pretrained.load(folder), small_batch, num_threads)
    if backend == PRETRAINED_BACKEND:
        raise ExportError(f"{source}: backend 'keras' is for pretrained models; an export "
                          f"runs with one of {', '.join(BACKENDS)} or {AUTO_BACKEND}")
    export_dir = resolve_export_dir(source)
    metadata = read_metadata(export_dir)
    if backend in (AUTO_BACKEND, "saved_model"):
        saved_model = SavedModelLifter(export_dir, metadata)
        tflite_path = _tflite_path(export_dir, metadata, "tflite")
        if backend == "saved_model" or not os.path.isfile(tflite_path):
            return saved_model
        return AutoLifter(saved_model, TFLiteLifter(tflite_path, metadata, num_threads))
    if backend == "saved_model_xla":
        return SavedModelLifter(export_dir, metadata, XLA_SIGNATURE_KEY)
    tflite_path = _tflite_path(export_dir, metadata, backend)
    if not os.path.isfile(tflite_path):
        raise ExportError(f"{export_dir} has no {os.path.basename(tflite_path)} (exported "
                          f"without it: see python -m tfpose.export --float16/--int8)")
    return TFLiteLifter(tflite_path, metadata, num_threads, backend)


def _tflite_path(export_dir: str, metadata: Dict, backend: str) -> str:
    return os.path.join(export_dir, metadata.get("files", {}).get(backend, TFLITE_FILES[backend]))


def _pretrained_folder(source: str, pretrained_root: Optional[str]) -> Optional[str]:
    """The pretrained model folder ``source`` names, None if it names an
    export (or a path that is neither). A bare word that is not a shipped
    model and not a directory is an error listing the shipped models."""
    if os.path.isdir(source):
        return os.path.abspath(source) if pretrained.is_model_folder(source) else None
    if os.sep in source or (os.altsep and os.altsep in source) or not source:
        return None  # a path: resolve_export_dir says what is wrong with it
    if source in pretrained.available(pretrained_root):
        return pretrained.folder(source, pretrained_root)
    raise ExportError(f"{source!r} is neither a shipped pretrained model nor an existing "
                      f"directory; {pretrained.describe_available(pretrained_root)}")
