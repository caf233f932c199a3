"""Export a trained model for TF Serving and TFLite.

``export_model_dir(model_dir, out_dir)`` writes::

    out_dir/
      saved_model/        signature "serving_default":
                            keypoints_2d  float32 [batch, J2, 2]  pixels
                            -> keypoints_3d float32 [batch, J3, 3] root-relative,
                               camera frame, in `units` (mm, or "normalized"
                               for RepGAN: mean joint-to-root distance 1)
                          and "serving_xla", the same graph compiled with XLA
      model.tflite        the same computation, float32, TFLite builtin ops only
      model_fp16.tflite   the same with float16 weights (float32 compute)
      model_int8.tflite   dynamic-range quantised: int8 weights, activations
                          quantised per batch at run time (int8 matmuls,
                          about a quarter of the size)
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

The export is written into a temporary sibling directory, checked (every
file is loaded back through :mod:`tfpose.serving`, run on probe poses and
compared with the training code's prediction), and only then renamed to
``out_dir``: a failed export never leaves a directory that looks complete.

Loading an export is :func:`tfpose.serving.load`; timing one is
``python -m tfpose.bench --export_dir=...``.

Command line::

    python -m tfpose.export --model_dir=runs/asn_sh --out=runs/asn_sh/export
    python -m tfpose.export --pretrained=asn-h36m-sh --out=asn_export   # a shipped model
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import uuid
from typing import Callable, Dict, Optional

from tfpose import cli  # before TensorFlow: keeps its start-up log quiet
cli.quiet_tensorflow()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfpose import atomic, provenance, serving, training  # noqa: E402
from tfpose.serving import (INPUT_NAME, METADATA_FILE, OUTPUT_NAME, SAVED_MODEL_DIR,
                            SIGNATURE_KEY, TFLITE_FILES, XLA_SIGNATURE_KEY, ExportError)

FORMAT_VERSION = serving.FORMAT_VERSION
NAN_POLICY = ("a pose with any NaN or +-inf keypoint gives an all-NaN output pose; "
              "the other poses of the batch are unaffected")
# Exported graphs must agree with the Keras model to this fraction of the
# output scale (float32 SavedModel and TFLite); the float16 and int8 files
# are expected to differ and are only refused when far off.
PARITY_TOLERANCE = 1e-4
TFLITE_PARITY_TOLERANCE = 1e-3
FP16_PARITY_LIMIT = 0.1
INT8_PARITY_LIMIT = 0.25
# TFLite conversion of each file: (backend, converter precision).
TFLITE_PRECISIONS = (("tflite", "float32"), ("tflite_fp16", "float16"), ("tflite_int8", "int8"))
_FLOAT32_MAX = float(np.finfo(np.float32).max)


# --------------------------------------------------------------------------
# The serving computation


def serving_function(task: training.Task) -> Callable[[tf.Tensor], Dict[str, tf.Tensor]]:
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

    def __init__(self, task: training.Task):
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
# Writing


def probe_poses(task: training.Task, n: int = 64, seed: int = 0) -> np.ndarray:
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


def parity_checks(export_dir: str, task: training.Task) -> Dict[str, float]:
    """Load every file of the export in ``export_dir`` through
    :func:`tfpose.serving.load`, lift :func:`probe_poses` and compare with
    ``training.predict``. Returns the measured differences (fractions of the
    output scale); raises ExportError when one exceeds its limit."""
    probe = probe_poses(task)
    reference = np.asarray(training.predict(task, probe), np.float64)
    scale = max(float(np.max(np.abs(reference))), 1e-6)
    checks = {"probe_poses": len(probe), "output_scale": scale}
    files = serving.read_metadata(export_dir)["files"]
    backends = ["saved_model", "saved_model_xla"] + [b for b in TFLITE_FILES if b in files]
    for backend in backends:
        got = serving.load(export_dir, backend).lift(probe)
        checks[f"{backend}_max_rel_diff"] = _max_rel_diff(got, reference, scale)
    limits = {"saved_model_max_rel_diff": PARITY_TOLERANCE,
              "saved_model_xla_max_rel_diff": PARITY_TOLERANCE,
              "tflite_max_rel_diff": TFLITE_PARITY_TOLERANCE,
              "tflite_fp16_max_rel_diff": FP16_PARITY_LIMIT,
              "tflite_int8_max_rel_diff": INT8_PARITY_LIMIT}
    for key, limit in limits.items():
        if key in checks and not checks[key] <= limit:  # NaN fails too
            raise ExportError(f"exported {key.replace('_max_rel_diff', '')} disagrees with "
                              f"the Keras model: max difference {checks[key]:.3g} of the "
                              f"output scale (limit {limit:g})")
    return checks


def _metadata(task: training.Task, model_dir: str, files: Dict[str, str]) -> Dict:
    config = task.config
    skel_2d, skel_3d = task.skeleton_2d, task.skeleton_3d
    latest = tf.train.latest_checkpoint(os.path.join(model_dir, "ckpt"))
    return {
        "format_version": FORMAT_VERSION,
        "model_kind": config.model.kind,
        "dataset": config.data.dataset,
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
        "checks": None,
        "tfpose_version": provenance.tfpose_version(),
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
        "git_commit": provenance.git_commit(),
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
    }


def _write_json(path: str, obj: Dict) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)


def export_model_dir(model_dir: str, out_dir: str, float16: bool = True,
                     int8: bool = True) -> str:
    """Export the latest checkpoint of ``model_dir`` to ``out_dir``; returns ``out_dir``.

    ``float16``/``int8`` add the float16-weight and dynamic-range int8 TFLite
    files (their differences to the Keras model are recorded, and refused
    only when far off).

    An existing ``out_dir`` is replaced only once the new export is complete
    and has passed its parity checks.
    """
    task = training.restore_task(model_dir)
    return _write_export(task, model_dir, out_dir, float16, int8)


def export_pretrained(name: str, out_dir: str, float16: bool = True, int8: bool = True,
                      root_dir: Optional[str] = None) -> str:
    """Export the shipped pretrained model ``name`` (or a pretrained folder)
    to ``out_dir`` like a model directory: the same files, checked against
    the shipped weights in Keras. ``metadata.json`` adds ``pretrained`` (name,
    sha256 of the shipped files, their measured protocols) and
    ``input_frame``."""
    from tfpose import pretrained

    model = pretrained.load(name, root_dir)
    shipped = model.metadata
    extra = {"pretrained": {"name": model.name, "sha256": shipped.get("sha256"),
                            "evaluation": shipped.get("evaluation"),
                            "compaction": shipped.get("compaction"),
                            "licence": shipped.get("licence")},
             "input_frame": shipped.get("input_frame")}
    return _write_export(model, model.folder, out_dir, float16, int8, extra)


def _write_export(task, source_dir: str, out_dir: str, float16: bool, int8: bool,
                  extra_metadata: Optional[Dict] = None) -> str:
    """Write, check and swap in the export of ``task`` (a training task, or a
    ``tfpose.pretrained`` model, which offers the same attributes)."""
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
        files = {"saved_model": SAVED_MODEL_DIR}
        wanted = {"tflite": True, "tflite_fp16": float16, "tflite_int8": int8}
        for backend, precision in TFLITE_PRECISIONS:
            if wanted[backend]:
                with open(os.path.join(tmp, TFLITE_FILES[backend]), "wb") as f:
                    f.write(_convert_tflite(sm_dir, precision))
                files[backend] = TFLITE_FILES[backend]
        # The checks read the export the way users will, so metadata.json is
        # written first and rewritten with their results.
        metadata = {**_metadata(task, source_dir, files), **(extra_metadata or {})}
        _write_json(os.path.join(tmp, METADATA_FILE), metadata)
        metadata["checks"] = parity_checks(tmp, task)
        _write_json(os.path.join(tmp, METADATA_FILE), metadata)

        # Swap in: the complete export appears under its final name at once.
        atomic.replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


# --------------------------------------------------------------------------
# Command line


def define_flags():
    from absl import flags

    flags.DEFINE_string("model_dir", None, "Trained model directory (config.json, ckpt/).")
    flags.DEFINE_string("pretrained", None, "Or a shipped pretrained model's name (python -m "
                        "tfpose.pretrained list), or a pretrained folder.")
    flags.DEFINE_string("out", None, "Export directory to write (replaced when complete).")
    flags.DEFINE_bool("float16", True, "Also write model_fp16.tflite (float16 weights).")
    flags.DEFINE_bool("int8", True, "Also write model_int8.tflite (dynamic-range int8).")


def main(argv):
    from absl import flags, logging

    FLAGS = flags.FLAGS
    if len(argv) > 1:
        cli.fail("tfpose.export", f"unexpected arguments {' '.join(argv[1:])}")
    try:
        if bool(FLAGS.model_dir) == bool(FLAGS.pretrained) or not FLAGS.out:
            raise ExportError("--out and one of --model_dir or --pretrained are required")
        if FLAGS.pretrained:
            out = export_pretrained(FLAGS.pretrained, FLAGS.out, float16=FLAGS.float16,
                                    int8=FLAGS.int8)
        else:
            out = export_model_dir(FLAGS.model_dir, FLAGS.out, float16=FLAGS.float16,
                                   int8=FLAGS.int8)
        meta = serving.read_metadata(out)
        logging.info("exported %s (%s on %s) to %s; parity %s",
                     FLAGS.model_dir or FLAGS.pretrained, meta["model_kind"], meta["dataset"],
                     out, meta["checks"])
        print(out)
    except (ValueError, training.TrainingError, OSError) as e:
        cli.fail("tfpose.export", e)


def run(argv=None):
    """``tfpose-export`` / ``python -m tfpose.export``."""
    cli.run(main, define_flags, argv)


if __name__ == "__main__":
    run()
