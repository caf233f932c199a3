"""Pack a trained model directory into a shipped pretrained model folder.

``pack(model_dir, name)`` writes ``<root>/<name>/`` (see
``tfpose.pretrained``): the inference network's weights (EMA-averaged where
the run kept an average; RepGAN: the generator alone) in compact form, its
description, normalisation and metadata. With ``measure=True`` protocols #1
and #2 are measured on the test split twice -- with the float32 weights of
the model directory and with the packed, compacted weights loaded back the
way users load them -- and the difference is the compaction's accuracy cost;
it must stay under :data:`MAX_COMPACTION_COST_MM`. ``precision="auto"``
takes int8 when its measured cost is under that limit, else float16
(float16 without a measurement).

The folder is written under a hidden temporary name and renamed into place
when complete; a failed pack leaves an existing folder of that name alone.
All shipped folders together must stay under :data:`MAX_TOTAL_BYTES`.

Command line: ``python -m tfpose.pretrained pack --model_dir=... --name=...``.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import uuid
from typing import Dict, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfpose import atomic
from tfpose import evaluation, export, image_mapping, provenance, serving, training
from tfpose import pretrained
from tfpose.pretrained import compact, inference

MAX_COMPACTION_COST_MM = 0.5
MAX_TOTAL_BYTES = 40_000_000  # all shipped folders together
PRECISION_CHOICES = ("auto",) + compact.PRECISIONS
NUM_PROBE_POSES = 256


def describe(task: training.Task, name: str, precision: str,
             weights: Dict[str, np.ndarray]) -> Dict:
    """``model.json`` of ``task``'s inference network."""
    config = task.config
    kind, dataset = config.model.kind, config.data.dataset
    spec = task.spec
    return {
        "format_version": pretrained.FORMAT_VERSION,
        "name": name,
        "model_kind": kind,
        "model_class": spec.model_class.__name__,
        "model_kwargs": spec.model_kwargs(config.model, dataset),
        "network": ("generator only: output = RepGAN.pose_from(x, generator(generator_input(x)))"
                    if inference.keeps_generator_only(kind) else "the whole model"),
        "dataset": dataset,
        "skeleton_2d": task.skeleton_2d.name,
        "skeleton_3d": task.skeleton_3d.name,
        "joint_names_2d": list(task.skeleton_2d.joint_names),
        "joint_names_3d": list(task.skeleton_3d.joint_names),
        "root_joint": task.skeleton_3d.joint_names[task.skeleton_3d.root],
        "units": task.normalizer.units,
        "input": "2D keypoints [N, J2, 2] in pixels of the training frame (input_frame); "
                 "tfpose.serving maps other images into it (image_size)",
        "output": "root-relative 3D pose [N, J3, 3], camera frame (x right, y down, "
                  "z forward), in units",
        "input_frame": image_mapping.frame_for({"dataset": dataset}).to_dict(),
        "weights": {"precision": precision,
                    "variables": {k: list(v.shape) for k, v in weights.items()}},
    }


def _write_json(path: str, obj: Dict) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def _file_hashes(folder: str) -> Dict[str, str]:
    return {n: pretrained.sha256(os.path.join(folder, n)) for n in pretrained.HASHED_FILES}


def _folder_bytes(folder: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(folder)
               for f in files)


def _probe_difference(lifted: np.ndarray, reference: np.ndarray, units: str) -> Dict:
    dist = np.linalg.norm(np.asarray(lifted, np.float64) - reference, axis=-1)
    return {"poses": int(len(lifted)), "mean_joint_difference": float(dist.mean()),
            "max_joint_difference": float(dist.max()), "units": units}


def _evaluation_block(results: Dict) -> Dict:
    return {
        "dataset": results["dataset"], "split": results["split"],
        "subjects": results["subjects"], "frame_stride": results["frame_stride"],
        "num_frames": results["num_frames"],
        **{label: {"metric": block["metric"], "avg": block["per_action"]["Avg"],
                   "per_action": block["per_action"]}
           for label, block in results["protocols"].items()},
    }


def _measure(scratch: str, tag: str, **kwargs) -> Dict:
    results, _ = evaluation.run(output=os.path.join(scratch, f"{tag}.json"), **kwargs)
    return results


def _write_folder(folder: str, task: training.Task, name: str, precision: str,
                  weights: Dict[str, np.ndarray]) -> None:
    compact.save(os.path.join(folder, pretrained.WEIGHTS_FILE), compact.encode(weights, precision))
    _write_json(os.path.join(folder, pretrained.MODEL_FILE),
                describe(task, name, precision, weights))
    _write_json(os.path.join(folder, pretrained.NORMALIZATION_FILE), task.normalizer.to_dict())


def pack(model_dir: str, name: str, precision: str = "auto", root_dir: Optional[str] = None,
         measure: bool = True, data_dir: Optional[str] = None, manual_dir: Optional[str] = None,
         subjects: Optional[Sequence[str]] = None, frame_stride: int = 1,
         batch_size: int = 4096, command_line: str = "") -> str:
    """Pack ``model_dir`` as pretrained model ``name`` under ``root_dir``
    (default: ``tfpose.pretrained.root()``); returns the folder.

    ``measure``: score the float32 and the packed weights on the test split
    (``data_dir``/``manual_dir``; ``subjects``/``frame_stride`` restrict it,
    for quick checks only: shipped numbers use the whole split).
    """
    pretrained.check_name(name)
    if precision not in PRECISION_CHOICES:
        raise pretrained.PretrainedError(f"unknown precision {precision!r}; expected one of "
                                         f"{', '.join(PRECISION_CHOICES)}")
    base = pretrained.root(root_dir)
    os.makedirs(base, exist_ok=True)
    task = training.restore_task(model_dir)
    run = training.read_run(model_dir)
    network = inference.build_model(describe(task, name, "float16", {}))
    inference.copy_from_trained(network, task.model, task.config.model.kind)
    weights = inference.weight_arrays(network)

    probe = export.probe_poses(task, NUM_PROBE_POSES)
    reference = training.predict(task, probe)
    if precision != "auto":
        candidates = [precision]
    else:  # the smaller first, where its cost can be measured
        candidates = ["int8", "float16"] if measure else ["float16"]
    common = dict(data_dir=data_dir, manual_dir=manual_dir, subjects=subjects,
                  frame_stride=frame_stride, batch_size=batch_size)

    tmp = os.path.join(base, f".{name}.tmp-{uuid.uuid4().hex[:8]}")
    os.makedirs(tmp)
    final = os.path.join(base, name)
    try:
        float32_eval, tried = None, []
        if measure:
            float32_eval = _evaluation_block(
                _measure(tmp, ".float32", model_dir=model_dir, **common))
        for chosen in candidates:
            _write_folder(tmp, task, name, chosen, weights)
            metadata = _metadata(task, run, model_dir, name, chosen, command_line)
            metadata["sha256"] = _file_hashes(tmp)
            _write_json(os.path.join(tmp, pretrained.METADATA_FILE), metadata)
            # Everything below reads the packed folder back as users do.
            lifted = serving.load(tmp).lift(probe)
            metadata["compaction"]["probe"] = _probe_difference(lifted, reference,
                                                                task.normalizer.units)
            if measure:
                shipped = _evaluation_block(
                    _measure(tmp, f".{chosen}", pretrained=tmp, **common))
                cost = {p: shipped[p]["avg"] - float32_eval[p]["avg"]
                        for p in ("protocol1", "protocol2")}
                tried.append({"precision": chosen, "cost_mm": cost})
                metadata["evaluation"] = shipped
                metadata["compaction"].update(
                    float32={p: float32_eval[p]["avg"] for p in cost}, cost_mm=cost,
                    limit_mm=MAX_COMPACTION_COST_MM, tried=tried)
                worst = max(abs(c) for c in cost.values())
                if worst >= MAX_COMPACTION_COST_MM:
                    if chosen != candidates[-1]:
                        continue
                    raise pretrained.PretrainedError(
                        f"{chosen} weights change protocol #1/#2 by {worst:.2f} mm, over the "
                        f"{MAX_COMPACTION_COST_MM} mm limit"
                        + ("; try --precision=float16" if chosen == "int8" else ""))
                metadata["compaction"]["chosen"] = (
                    f"{precision}: {chosen}, accuracy cost {worst:.3f} mm "
                    f"(limit {MAX_COMPACTION_COST_MM} mm)")
            else:
                metadata["compaction"]["chosen"] = (
                    f"{precision}: {chosen}, not measured on data (probe poses only)")
            break
        for scratch in os.listdir(tmp):
            if scratch.startswith("."):
                os.remove(os.path.join(tmp, scratch))
        metadata["sizes"] = {n: os.path.getsize(os.path.join(tmp, n))
                             for n in pretrained.HASHED_FILES}
        _write_json(os.path.join(tmp, pretrained.METADATA_FILE), metadata)
        others = sum(_folder_bytes(os.path.join(base, n)) for n in pretrained.available(base)
                     if n != name)
        total = others + _folder_bytes(tmp)
        if total > MAX_TOTAL_BYTES:
            raise pretrained.PretrainedError(
                f"shipped models would take {total / 1e6:.1f} MB with {name} "
                f"({_folder_bytes(tmp) / 1e6:.1f} MB), over the {MAX_TOTAL_BYTES / 1e6:.0f} MB "
                f"budget; use --precision=int8 or drop a model")
        atomic.replace_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _metadata(task: training.Task, run: Dict, model_dir: str, name: str, precision: str,
              command_line: str) -> Dict:
    kind, dataset = task.config.model.kind, task.config.data.dataset
    latest = tf.train.latest_checkpoint(os.path.join(model_dir, "ckpt"))
    family = dataset.split("/")[0]
    return {
        "format_version": pretrained.FORMAT_VERSION,
        "name": name,
        "model_kind": kind,
        "dataset": dataset,
        "units": task.normalizer.units,
        "evaluation": None,
        "evaluate_command": f"python evaluate.py --pretrained={name}",
        "compaction": {"precision": precision, "stores": "kernels in " + precision
                       + ", vectors (biases, batch norm) in float32"},
        "training": {
            "command_line": run.get("command_line"),
            "resume_command_lines": run.get("resume_command_lines", []),
            "train_config": task.config.to_dict(),
            "checkpoint": os.path.basename(latest) if latest else None,
            "weight_average": bool(task.config.optimizer.ema_decay > 0),
            "run": evaluation.training_block(model_dir),
        },
        "source_model_dir": os.path.abspath(model_dir),
        "git_commit": provenance.git_commit(),
        "git_commit_of": "the tfpose checkout that packed the model",
        "tfpose_version": provenance.tfpose_version(),
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
        "packed_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "pack_command": command_line,
        "licence": pretrained.LICENCE_NOTES.get(family, f"Trained on {dataset}: see its licence."),
    }
