"""Evaluation protocols and the papers' table layout.

Protocol #1 is MPJPE after root alignment (for RepGAN, whose output has no
metric scale, N-MPJPE: scale aligned per pose); protocol #2 is P-MPJPE
(Procrustes with scale). Per action the error is the mean over that action's
frames; "Avg" is the mean over actions, as in the papers' tables.
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence

import numpy as np

from tfpose import atomic
from tfpose import metrics
from tfpose import provenance
from tfpose import skeleton as skeleton_lib
from tfpose.actions import H36M_ACTIONS
from tfpose.models import registry
# Column headers of the papers' tables.
SHORT_NAMES = {"Directions": "Direct", "Discussion": "Discuss", "Eating": "Eating",
               "Greeting": "Greet", "Phoning": "Phone", "Photo": "Photo", "Posing": "Pose",
               "Purchases": "Purch", "Sitting": "Sitting", "SittingDown": "SittingD",
               "Smoking": "Smoke", "Waiting": "Wait", "WalkDog": "WalkD", "Walking": "Walk",
               "WalkTogether": "WalkT", "Avg": "Avg"}


def protocols_for(model_kind: str) -> Dict[str, str]:
    """Protocol label -> metric name."""
    return {"protocol1": registry.get(model_kind).protocol1, "protocol2": "p_mpjpe"}


def evaluate_predictions(pred: np.ndarray, target: np.ndarray, actions: Sequence[str],
                         subjects: Sequence[str], model_kind: str,
                         skeleton: skeleton_lib.Skeleton) -> Dict:
    """All numbers of the results file, from root-relative predictions and targets (mm)."""
    actions = np.asarray(actions)
    subjects = np.asarray(subjects)
    out: Dict = {"num_frames": int(len(pred)), "protocols": {}}
    protocol1_errors = None
    for label, name in protocols_for(model_kind).items():
        errs = metrics.errors_for_protocol(pred, target, name)  # (N, J)
        if protocol1_errors is None:
            protocol1_errors = errs
        frame = errs.mean(-1)
        out["protocols"][label] = {
            "metric": name,
            "per_action": {k: float(v) for k, v in metrics.per_action(frame, actions).items()},
            "per_subject_action": {
                f"{s}/{a}": float(frame[(subjects == s) & (actions == a)].mean())
                for s in np.unique(subjects) for a in np.unique(actions[subjects == s])},
        }
    # Per-joint analysis on protocol #1 errors (no metric scale: root and scale aligned), in mm.
    scale_aligned = registry.get(model_kind).scale_aligned
    aligned = metrics.scale_align(metrics.root_align(pred, skeleton.root), target) \
        if scale_aligned else pred
    errs = metrics.joint_errors(aligned, target) if scale_aligned else protocol1_errors
    out["per_joint"] = {n: float(e) for n, e in zip(skeleton.joint_names, errs.mean(0))}
    hard, other = metrics.hard_and_other_joint_errors(errs, skeleton)
    out["hard_joints"], out["other_joints"] = float(hard), float(other)
    out["bone_length_rmse"] = {k: float(v) for k, v in
                               metrics.bone_length_rmse(aligned, target, skeleton).items()}
    out["pck150"] = float(metrics.pck(errs, 150.0))
    out["auc"] = float(metrics.auc(errs))
    if scale_aligned:  # RepGAN Table 1 "-z" row: depth error only
        z_err = np.abs(aligned[..., 2] - target[..., 2]).mean(-1)
        out["z_only"] = {k: float(v) for k, v in metrics.per_action(z_err, actions).items()}
    return out


def format_table(per_action: Dict[str, float], title: str,
                 actions: Optional[List[str]] = None) -> str:
    """One table row in the papers' layout: actions as columns, then Avg."""
    actions = actions or [a for a in H36M_ACTIONS if a in per_action] or \
        sorted(a for a in per_action if a != "Avg")
    cols = actions + ["Avg"]
    heads = [SHORT_NAMES.get(a, a) for a in cols]
    width = max(7, max(len(h) for h in heads) + 1)
    line1 = f"{'':<14}" + "".join(f"{h:>{width}}" for h in heads)
    line2 = f"{title:<14}" + "".join(
        f"{per_action[a]:>{width}.1f}" if a in per_action else f"{'-':>{width}}" for a in cols)
    return line1 + "\n" + line2


def humaneva_table(per_subject_action: Dict[str, float]) -> Dict[str, float]:
    """ASN Table 5 / the usual HumanEva cells: Walking and Jog of S1, S2, S3."""
    return {f"{a}/{s}": per_subject_action[f"{s}/{a}"]
            for a in ("Walking", "Jog") for s in ("S1", "S2", "S3")
            if f"{s}/{a}" in per_subject_action}


def _with_test_flip(predict_fn, skel_2d: skeleton_lib.Skeleton,
                    skel_3d: skeleton_lib.Skeleton):
    """``predict_fn(pose_2d, principal_x)`` averaged with its prediction for the input mirrored
    about the camera's principal point, mirrored back (what ``training.predict(flip=True)``
    does inside a model directory, here for a lifter of any runtime)."""
    from tfpose import augmentation

    perm_2d, perm_3d = (augmentation.mirror_permutation(s.name) for s in (skel_2d, skel_3d))

    def averaged(pose_2d, principal_x):
        mirrored = augmentation.flip_2d(pose_2d, principal_x, perm_2d).numpy()
        back = augmentation.flip_3d(predict_fn(mirrored, principal_x), perm_3d).numpy()
        return 0.5 * (np.asarray(predict_fn(pose_2d, principal_x)) + back)
    return averaged


def training_block(model_dir: str, checkpoint: Optional[str] = None,
                   picked: bool = False) -> Optional[Dict]:
    """What the reported weights cost: wall seconds (summed over resumed segments), steps,
    samples, hardware, recipe and how they were selected.

    ``checkpoint``: the prefix of the weights evaluated (default: the run's last epoch).
    The block keeps the epochs finished by then; a checkpoint inside an epoch gives its
    own wall seconds and step. ``picked``: chosen by hand (``evaluate.py --checkpoint``)."""
    from tfpose import checkpointing, training

    history = training.read_history(model_dir)
    if not history:
        return None
    run = training.read_run(model_dir)
    epochs = sorted(history.items(), key=lambda kv: int(kv[0]))
    run_steps, run_samples = (epochs[-1][1].get(k) for k in ("steps", "samples"))
    step = None if checkpoint is None else checkpointing.step_of(checkpoint)
    inside_epoch = False
    if step is not None and run_steps is not None:  # (histories before steps were kept)
        epochs = [(e, v) for e, v in epochs if v.get("steps", 0) <= step]
        inside_epoch = not epochs or epochs[-1][1].get("steps") != step
    last_epoch, last = epochs[-1] if epochs else ("0", {})
    wall, steps, samples = last.get("wall_seconds"), last.get("steps"), last.get("samples")
    if inside_epoch:
        wall, steps = checkpointing.wall_seconds_of(checkpoint), step
        samples = round(step * run_samples / run_steps) if run_samples and run_steps else None
    config = run["train_config"]
    val = config["data"].get("val_subjects")
    if picked:
        selection = (f"checkpoint at step {step} picked by hand (evaluate.py --checkpoint); "
                     f"the run's last epoch ends at step {run_steps}")
    elif inside_epoch:
        selection = (f"the run's newest checkpoint, step {step}, inside epoch "
                     f"{int(last_epoch) + 1} (not finished)")
    elif val:
        selection = ("last epoch; per-epoch validation on held-out training subjects "
                     f"{', '.join(val)}")
    else:
        selection = ("last epoch; no choice made on the test split (its per-epoch curve is "
                     "logged only)")
    return {
        "wall_seconds": wall, "steps": steps, "samples": samples, "epochs": int(last_epoch),
        "hardware": run.get("hardware"), "recipe": config["trainer"].get("recipe", "paper"),
        "mixed_precision": config["trainer"].get("mixed_precision"),
        "history": [{"epoch": int(e), **v} for e, v in epochs],
        "selection": selection,
    }


# evaluate.py --pretrained must reproduce a shipped model's metadata this closely.
PRETRAINED_REPRODUCE_MM = 0.1


def pretrained_check(results: Dict, recorded: Optional[Dict]) -> Optional[Dict]:
    """Measured protocols against those in a pretrained model's metadata
    (``metadata["evaluation"]``), when both scored the same frames with the same inputs."""
    if not recorded:
        return None
    frames = {k: (recorded.get(k), results[k]) for k in ("dataset", "split", "subjects",
                                                         "frame_stride", "num_frames")}
    # ... and the same inputs: metadata written without these keys measured clean inputs.
    inputs = {k: (recorded.get(k, clean), results.get(k, clean))
              for k, clean in (("noise_std", 0.0), ("test_flip", False))}
    for what, same in (("frames", frames), ("inputs", inputs)):
        if any(a != b for a, b in same.values()):
            return {"comparable": False,
                    "reason": f"different {what}: " + ", ".join(
                        f"{k} {a!r} in the metadata, {b!r} here" for k, (a, b) in same.items()
                        if a != b)}
    diff = {label: results["protocols"][label]["per_action"]["Avg"] - recorded[label]["avg"]
            for label in results["protocols"] if label in recorded}
    return {"comparable": True, "recorded": {k: recorded[k]["avg"] for k in diff},
            "difference_mm": diff, "tolerance_mm": PRETRAINED_REPRODUCE_MM,
            "reproduced": all(abs(d) <= PRETRAINED_REPRODUCE_MM for d in diff.values())}


def run(*, model_dir: Optional[str] = None, saved_model: Optional[str] = None,
        pretrained: Optional[str] = None, dataset: Optional[str] = None,
        data_dir: Optional[str] = None, manual_dir: Optional[str] = None,
        subjects: Optional[Sequence[str]] = None,
        frame_stride: int = 1, noise_std: float = 0.0, noise_seed: int = 0,
        batch_size: int = 4096, output: Optional[str] = None, command_line: str = "",
        figures: Optional[str] = None, num_examples: int = 4, backend: str = "saved_model",
        test_flip: bool = False, validation: bool = False, checkpoint: Optional[int] = None,
        weight_average: bool = True):
    """Evaluate a model directory, an exported model or a pretrained model
    (``pretrained``: a shipped name or a pretrained folder); returns
    (results, printable text).

    ``backend`` picks the runtime of an export: the SavedModel or one of its
    TFLite files (``tfpose.serving.BACKENDS``), so quantised files are
    measured on the same frames as the float model. ``test_flip`` averages
    each prediction with the mirrored input's.
    ``validation`` tests on the run's held-out validation subjects (its
    ``--val_subjects``, from the training split) instead of the test split: every
    protocol on the subject a recipe is chosen on, never on S9/S11. ``checkpoint``
    (a global step the run keeps) and ``weight_average=False`` (the raw weights of a
    run trained with a weight average) look at other weights of a model directory
    than the ones it reports; their results go to a file of their own by default."""
    import tensorflow as tf

    from tfpose import checkpointing
    from tfpose import data as data_lib
    from tfpose import training

    if sum(bool(s) for s in (model_dir, saved_model, pretrained)) != 1:
        raise ValueError("give exactly one of model_dir, saved_model and pretrained")
    lifted_by = saved_model or pretrained
    if lifted_by:
        from tfpose import serving

        if checkpoint is not None or not weight_average:
            raise ValueError("--checkpoint and --noweight_average need a --model_dir (an "
                             "export holds one set of weights)")
        lifter = serving.load(pretrained) if pretrained else serving.load(saved_model, backend)
        meta = lifter.metadata
        kind, trained_on = meta["model_kind"], meta["dataset"]
        skel_3d, skel_2d = (skeleton_lib.by_joint_names(meta[key])
                            for key in ("joint_names_3d", "joint_names_2d"))
        predict_fn = lambda p2, cx: lifter.lift(p2, batch_size)  # noqa: E731
        if test_flip:
            predict_fn = _with_test_flip(predict_fn, skel_2d, skel_3d)
        train_config = meta.get("train_config") or (meta.get("training") or {}).get(
            "train_config")
        train_command_line = (meta.get("training") or {}).get("command_line")
        source = lifter.export_dir
    else:
        task = training.restore_task(model_dir, averaged=weight_average,
                                     checkpoint_step=checkpoint)
        if not weight_average and task.ema is None:
            raise ValueError(f"--noweight_average: {model_dir} was trained without a weight "
                             "average (--ema_decay): its weights are the raw ones already")
        kind, trained_on = task.config.model.kind, task.config.data.dataset
        skel_3d, skel_2d = task.skeleton_3d, task.skeleton_2d
        predict_fn = lambda p2, cx: training.predict(  # noqa: E731
            task, p2, batch_size, flip=test_flip, principal_x=cx)
        train_config = task.config.to_dict()
        train_command_line = training.read_run(model_dir).get("command_line")
        source = model_dir
    dataset = dataset or trained_on
    data_skel_2d, _, train_split, eval_split = data_lib.check_dataset(dataset)
    if validation:
        held_out = ((train_config or {}).get("data") or {}).get("val_subjects") or []
        if not held_out:
            raise ValueError(f"{source} was trained without --val_subjects: it has no held-out "
                             "validation subject to test on")
        if subjects and set(subjects) - set(held_out):
            raise ValueError(f"--subjects {', '.join(sorted(set(subjects) - set(held_out)))}: "
                             f"not held out by {source}, which held out only "
                             f"{', '.join(held_out)}")
        eval_split, subjects = train_split, list(subjects or held_out)
    data_skel_2d = skeleton_lib.get(data_skel_2d)
    missing = [n for n in skel_2d.joint_names if n not in data_skel_2d.joint_names]
    if missing:  # a model can be tested on a superset of its input joints (SH -> GT), no more
        raise ValueError(f"{source} takes {skel_2d.num_joints} input joints ({skel_2d.name}) but "
                         f"{dataset} has {data_skel_2d.num_joints} ({data_skel_2d.name}), "
                         f"without {', '.join(missing)}")
    frames = data_lib.load_frames(dataset, eval_split, manual_dir=manual_dir, data_dir=data_dir,
                                  subjects=subjects, frame_stride=frame_stride)
    frames = frames.with_2d_joints_of(skel_2d.name).with_3d_joints_of(skel_3d.name)
    pose_2d = frames.pose_2d
    if noise_std > 0:
        rng = np.random.default_rng(noise_seed)
        pose_2d = pose_2d + rng.normal(0.0, noise_std, pose_2d.shape).astype(np.float32)
    pred = np.asarray(predict_fn(pose_2d, frames.principal_x), np.float64)
    target = frames.pose_3d.astype(np.float64)
    target = target - target[:, skel_3d.root:skel_3d.root + 1]
    results = evaluate_predictions(pred, target, frames.action, frames.subject, kind, skel_3d)
    scale_aligned = registry.get(kind).scale_aligned
    results.update({
        "model": kind, "dataset": dataset, "trained_on": trained_on, "split": eval_split,
        "source": os.path.abspath(source), "backend": lifter.backend if lifted_by else "keras",
        "noise_std": noise_std, "frame_stride": frame_stride, "test_flip": test_flip,
        "validation": validation,
        "subjects": sorted(set(frames.subject.tolist())), "git_commit": provenance.git_commit(),
        "command_line": command_line, "train_config": train_config,
        "train_command_line": train_command_line,
        "training": None if lifted_by else training_block(
            model_dir, task.restored_from, picked=checkpoint is not None),
        "checkpoint": None if lifted_by else {
            "prefix": os.path.basename(task.restored_from),
            "step": checkpointing.step_of(task.restored_from),
            "weights": "raw" if task.ema is None or not weight_average else "weight average"},
        "units": "mm (scale-aligned per pose)" if scale_aligned else "mm",
    })
    lines = [f"{kind} on {dataset} ({eval_split}"
             + (f": held-out validation subjects {', '.join(subjects)}" if validation else "")
             + f", {len(frames)} frames"
             + (f", noise {noise_std}px" if noise_std else "")
             + (", test-time flip" if test_flip else "") + ")"]
    for label, block in results["protocols"].items():
        lines.append(format_table(block["per_action"], f"{label} {block['metric']}"))
    if dataset.startswith("humaneva"):
        he = humaneva_table(results["protocols"]["protocol2"]["per_subject_action"])
        results["humaneva_protocol2"] = he
        lines.append("HumanEva protocol #2: " + "  ".join(f"{k} {v:.1f}" for k, v in he.items()))
    lines.append(f"hard joints {results['hard_joints']:.1f} mm, other joints "
                 f"{results['other_joints']:.1f} mm, 3DPCK@150 {results['pck150']:.1f}%, "
                 f"AUC {results['auc']:.1f}")
    lines.append("bone-length RMSE: " + "  ".join(
        f"{k} {v:.1f}" for k, v in results["bone_length_rmse"].items()))
    if pretrained:
        results["pretrained"] = {"name": meta.get("name"), "folder": lifter.export_dir,
                                 "check": pretrained_check(results, meta.get("evaluation"))}
        lines.append(_pretrained_check_line(results["pretrained"]["check"]))
    if figures:
        lines.append(save_figures(figures, frames, pose_2d, pred, target, kind, skel_3d,
                                  results, num_examples))
    if not output:  # never into a shipped model's folder
        # Each look at other weights or inputs gets a file of its own.
        suffix = "".join(part for part, on in (
            ("_validation", validation), (f"_ckpt-{checkpoint}", checkpoint is not None),
            ("_raw", not weight_average), (f"_noise{noise_std:g}", noise_std > 0),
            ("_flip", test_flip)) if on)
        output = (os.path.join(model_dir, f"results{suffix}.json") if model_dir else
                  os.path.join(saved_model, f"results{suffix}.json") if saved_model else
                  f"results-{os.path.basename(lifter.export_dir)}{suffix}.json")
    tf.io.gfile.makedirs(os.path.dirname(os.path.abspath(output)))
    atomic.write_json(output, results)
    lines.append(f"wrote {output}")
    return results, "\n".join(lines)


def _pretrained_check_line(check: Optional[Dict]) -> str:
    if check is None:
        return "metadata.json records no evaluation to compare with"
    if not check["comparable"]:
        return f"not compared with metadata.json: {check['reason']}"
    parts = "  ".join(f"{k} {check['recorded'][k]:.2f} recorded, {d:+.3f} mm"
                      for k, d in check["difference_mm"].items())
    verdict = "reproduced" if check["reproduced"] else "NOT reproduced"
    return f"metadata.json: {parts}: {verdict} (tolerance {check['tolerance_mm']} mm)"


def save_figures(folder: str, frames, pose_2d: np.ndarray, pred: np.ndarray, target: np.ndarray,
                 kind: str, skel_3d: skeleton_lib.Skeleton, results: Dict,
                 num_examples: int = 4) -> str:
    """Per-joint error bars (ASN Fig. 5) and input / truth / prediction triplets (ASN Fig. 7)."""
    from tfpose import visualize

    os.makedirs(folder, exist_ok=True)
    errors = [results["per_joint"][n] for n in skel_3d.joint_names]
    bars = visualize.save_per_joint_bars(os.path.join(folder, "per_joint.png"), {kind: errors},
                                         skel_3d, title=f"{kind} on {results['dataset']}: "
                                         "per-joint error (protocol #1, mm)")
    # Evenly spread examples over different actions.
    picks = np.linspace(0, len(pred) - 1, num_examples).astype(int)
    shown = (metrics.scale_align(pred[picks], target[picks])
             if registry.get(kind).scale_aligned else pred[picks])
    titles = [f"{frames.subject[i]} {frames.action[i]} cam {frames.camera_id[i]}" for i in picks]
    trip = visualize.save_triplets(os.path.join(folder, "examples.png"), pose_2d[picks],
                                   target[picks], shown, skeleton_lib.get(frames.skeleton_2d),
                                   skel_3d, titles=titles)
    return f"figures: {bars}, {trip}"
