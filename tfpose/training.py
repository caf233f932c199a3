"""Training: ``tf.function`` steps under a ``tf.distribute`` strategy.

One code path serves one CPU, one GPU, several GPUs (``MirroredStrategy``)
and several machines (``MultiWorkerMirroredStrategy``): a *task* (supervised
lifting for the baseline and ASN, adversarial training for RepGAN) owns the
model, its optimisers and its per-replica step; :func:`fit` owns the loop,
checkpoints, summaries and the resume logic.

A model directory holds ``config.json`` (what was trained, how), the
normalisation statistics, ``ckpt/`` (model, optimisers, epoch and step) and
``logs/`` (TensorBoard). Running again with the same directory resumes from
the last checkpoint at the exact batch it stopped at.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf
import keras
from absl import logging

from tfpose import data as data_lib
from tfpose import losses as losses_lib
from tfpose import metrics as metrics_lib
from tfpose import models as models_lib
from tfpose import normalization
from tfpose import optimizers
from tfpose import precision
from tfpose import skeleton as skeleton_lib

MODEL_KINDS = ("baseline", "asn", "repgan")
CONFIG_FILE = "config.json"
NORMALIZATION_FILE = "normalization.json"


class TrainingError(RuntimeError):
    """Training cannot go on (bad model_dir, non-finite loss, ...)."""


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a run; stored in ``model_dir/config.json``."""

    model: str = "baseline"
    dataset: str = "human36m/sh"
    epochs: int = 200
    batch_size: int = 64
    learning_rate: Optional[float] = None  # None: the paper's default for the model
    lr_decay_rate: float = 0.96
    lr_decay_steps: int = 100_000
    frame_stride: int = 1
    seed: int = 0
    subjects: Optional[List[str]] = None  # restrict training subjects (tests, quick runs)
    checkpoint_every: int = 1000
    steps_per_call: int = 10  # steps per tf.function call (see README, Performance)
    jit_compile: bool = False
    mixed_precision: str = "none"  # none | bfloat16 (see tfpose.precision)
    fused_adam: bool = True  # one fused kernel per weight update (see tfpose.optimizers)
    fast_dropout: bool = True  # dropout masks from 8 random bits per unit (layers.FastDropout)
    val_stride: int = 10  # per-epoch validation on every n-th test frame
    noise_std: float = 0.0  # Gaussian pixel noise added to 2D training inputs
    # model switches
    width: int = 1024
    dropout: float = 0.5
    max_norm: bool = True
    asn_variant: str = "basic+ref+AM+REM"
    kcs: str = "wkcs"
    synchronous: bool = True
    lipschitz: str = "gp"  # gp | clip
    gp_weight: float = 10.0
    clip_value: float = 0.01
    lambda_angle: Optional[float] = None  # None: 1 (paper) where the skeleton has a nose, else 0

    def __post_init__(self):
        if self.model not in MODEL_KINDS:
            raise ValueError(f"unknown model {self.model!r}; expected one of {', '.join(MODEL_KINDS)}")
        data_lib.check_dataset(self.dataset)
        precision.check_mode(self.mixed_precision)
        if self.lipschitz not in ("gp", "clip"):
            raise ValueError(f"lipschitz must be 'gp' or 'clip', got {self.lipschitz!r}")
        for name in ("epochs", "batch_size", "frame_stride", "checkpoint_every", "steps_per_call"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def angle_weight(self) -> float:
        """L_angle's weight. The paper's lambda = 1 needs a nose joint: on skeletons
        without one (h36m16, humaneva15) the Head stand-in contradicts the
        ground truth on many frames (see ``losses.angle_loss``), so the default
        there is 0; an explicit --lambda_angle always wins."""
        if self.lambda_angle is not None:
            return self.lambda_angle
        has_nose = "Neck/Nose" in skeleton_lib.get(self.skeletons()[0]).joint_names
        return 1.0 if has_nose else 0.0

    @property
    def lr(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 8e-5 if self.model == "repgan" else 1e-3

    def skeletons(self):
        """(2D input skeleton, 3D output skeleton) for this model on this dataset."""
        skel_2d, skel_3d, _, _ = data_lib.check_dataset(self.dataset)
        if self.model == "repgan":  # lifts the given joints: same set in 2D and 3D
            skel_3d = skel_2d
        return skel_2d, skel_3d

    def model_kwargs(self) -> Dict:
        skel_2d, skel_3d = self.skeletons()
        if self.model == "repgan":
            return dict(skeleton=skel_2d, width=self.width, dropout=self.dropout, kcs=self.kcs,
                        fast_dropout=self.fast_dropout)
        kw = dict(skeleton_in=skel_2d, skeleton_out=skel_3d, width=self.width,
                  dropout=self.dropout, max_norm=self.max_norm, fast_dropout=self.fast_dropout)
        if self.model == "asn":
            kw["variant"] = self.asn_variant
        return kw

    def to_dict(self) -> Dict:
        return dataclasses.asdict(self)


def make_strategy(name: str = "default") -> tf.distribute.Strategy:
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; expected default, mirrored or multi_worker")


# --------------------------------------------------------------------------
# Tasks


class Task:
    """A model with its optimisers, data transform and per-replica step."""

    def __init__(self, config: TrainConfig, normalizer: normalization.Normalizer, strategy,
                 mixed_precision: Optional[str] = None):
        self.config = config
        # Training runs in config.mixed_precision; inference may ask for float32.
        self.mixed_precision = (config.mixed_precision if mixed_precision is None
                                else precision.check_mode(mixed_precision))
        self.normalizer = normalizer
        self.strategy = strategy
        self.skeleton_2d, self.skeleton_3d = (skeleton_lib.get(s) for s in config.skeletons())

    # data -----------------------------------------------------------------
    def columns(self, frames: data_lib.Frames):
        return [frames.pose_2d, frames.pose_3d], []

    def transform(self, pose_2d, pose_3d, *rest):
        if self.config.noise_std > 0:
            pose_2d = pose_2d + tf.random.normal(tf.shape(pose_2d), stddev=self.config.noise_std)
        return self.normalizer.normalize_2d(pose_2d), self.normalizer.normalize_3d(pose_3d)

    # inference ------------------------------------------------------------
    def predict_normalized(self, x):
        return self.model(x, training=False)

    def checkpoint_objects(self) -> Dict:
        # Keras 3 layers kept in Python lists are invisible to tf.train.Checkpoint's
        # object graph, so the model's variables (weights, BN statistics, dropout
        # seed states) are saved as one ordered list; the order is fixed by the
        # architecture, unlike the auto-generated variable names.
        return {"model_variables": list(self.model.variables)}


def _exponential_decay(config: TrainConfig):
    return keras.optimizers.schedules.ExponentialDecay(
        config.lr, decay_steps=config.lr_decay_steps, decay_rate=config.lr_decay_rate)


class SupervisedTask(Task):
    """Baseline and ASN: 2D -> 3D regression with MSE (ASN: L1 + L2)."""

    def __init__(self, config, normalizer, strategy, mixed_precision=None):
        super().__init__(config, normalizer, strategy, mixed_precision)
        with strategy.scope(), precision.dtype_policy(self.mixed_precision):
            self.model = models_lib.build(config.model, **config.model_kwargs())
            self.model.build((None, self.skeleton_2d.num_joints, 2))
            self.schedule = _exponential_decay(config)
            self.optimizer = optimizers.adam(self.schedule, fused=config.fused_adam)
            self.optimizer.build(self.model.trainable_variables)
        joint_mask = np.ones(self.skeleton_3d.num_joints, np.float32)
        joint_mask[self.skeleton_3d.root] = 0.0  # its normalised target is constant
        self.joint_mask = tf.constant(joint_mask)
        self.hard_mask = tf.constant(self.skeleton_3d.hard_joint_mask)

    def train_step(self, x, y):
        replicas = self.strategy.num_replicas_in_sync
        with tf.GradientTape() as tape:
            if self.config.model == "asn":
                parts = self.model.call_parts(x, training=True)
                out = losses_lib.asn_loss(y, parts, self.hard_mask, joint_mask=self.joint_mask)
                logs = {"loss": out["total"], "l1": out["l1"], "l2": out["l2"]}
            else:
                pred = self.model(x, training=True)
                per_joint = tf.reduce_mean(tf.square(pred - y), axis=-1)
                loss = tf.reduce_sum(per_joint * self.joint_mask, -1) / tf.reduce_sum(self.joint_mask)
                logs = {"loss": tf.reduce_mean(loss)}
            scaled = logs["loss"] / replicas
        grads = tape.gradient(scaled, self.model.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables))
        return logs

    def checkpoint_objects(self):
        return {**super().checkpoint_objects(), "optimizer": self.optimizer}

    def learning_rate(self):
        return self.schedule(self.optimizer.iterations)


class RepGANTask(Task):
    """RepGAN: generator, reprojector and critic trained together (WGAN)."""

    def __init__(self, config, normalizer, strategy, mixed_precision=None):
        super().__init__(config, normalizer, strategy, mixed_precision)
        with strategy.scope(), precision.dtype_policy(self.mixed_precision):
            self.model = models_lib.build("repgan", **config.model_kwargs())
            j = self.skeleton_2d.num_joints
            self.model.build((None, j, 2))  # builds generator, reprojector and critic

            def adam():
                return optimizers.adam(config.lr, fused=config.fused_adam, beta_1=0.0,
                                       beta_2=0.9)

            self.opt_gen, self.opt_rep, self.opt_dis = adam(), adam(), adam()
            self.opt_gen.build(self.model.generator.trainable_variables)
            self.opt_rep.build(self.model.reprojector.trainable_variables)
            self.opt_dis.build(self.model.discriminator.trainable_variables)
            # Interpolation factors of the gradient penalty; its state is checkpointed.
            self.gp_seed = keras.random.SeedGenerator(config.seed)
        self.optimizer = self.opt_gen  # its iteration count is the step count

    def columns(self, frames):
        # Generator inputs, then the real (3D, 2D) pairs drawn in an independent order.
        return [frames.pose_2d], [frames.pose_3d, frames.pose_2d]

    def transform(self, pose_2d, real_3d, real_2d):
        if self.config.noise_std > 0:
            pose_2d = pose_2d + tf.random.normal(tf.shape(pose_2d), stddev=self.config.noise_std)
        n = self.normalizer
        return n.normalize_2d(pose_2d), n.normalize_3d(real_3d), n.normalize_2d(real_2d)

    def train_step(self, x2d, real_3d, real_2d):
        cfg, m = self.config, self.model
        replicas = self.strategy.num_replicas_in_sync
        gen, rep, dis = m.generator, m.reprojector, m.discriminator
        with tf.GradientTape(persistent=True) as tape:
            depth = gen(x2d, training=True)
            fake_3d = tf.concat([x2d, depth[..., None]], axis=-1)
            if cfg.synchronous:
                fake_2d = rep(fake_3d, training=True)
                l_rep = None
            else:  # separate: the reprojector learns 3D -> 2D from real pairs only
                fake_2d = rep(fake_3d, training=False)
                l_rep = tf.reduce_mean(tf.square(rep(real_3d, training=True) - real_2d))
            p_fake = dis([fake_3d, fake_2d], training=True)
            p_real = dis([real_3d, real_2d], training=True)
            l_dis = losses_lib.wasserstein_critic_loss(p_real, p_fake)
            if cfg.lipschitz == "gp":
                eps = keras.random.uniform([tf.shape(x2d)[0]], seed=self.gp_seed)
                gp = losses_lib.gradient_penalty(
                    lambda inputs: dis(inputs, training=True), [real_3d, real_2d],
                    [fake_3d, fake_2d], epsilon=eps)
                l_dis_total = l_dis + cfg.gp_weight * gp
            else:
                gp = tf.constant(0.0)
                l_dis_total = l_dis
            l_angle = losses_lib.angle_loss(fake_3d, self.skeleton_2d)
            l_adv = losses_lib.wasserstein_generator_loss(p_fake)
            l_gen = l_adv + cfg.angle_weight * l_angle
            if l_rep is None:
                l_rep = l_adv
            # Per-replica share of the global-batch mean (inside the tape, so it is taped).
            scaled = [loss / replicas for loss in (l_gen, l_rep, l_dis_total)]
        for loss, net, opt in zip(scaled, (gen, rep, dis), (self.opt_gen, self.opt_rep, self.opt_dis)):
            grads = tape.gradient(loss, net.trainable_variables)
            opt.apply_gradients(zip(grads, net.trainable_variables))
        del tape
        if cfg.lipschitz == "clip":
            losses_lib.clip_weights(dis, cfg.clip_value)
        return {"loss": l_gen, "critic": l_dis, "gp": gp, "reprojection": l_rep,
                "angle": l_angle, "wasserstein": -l_dis}

    def checkpoint_objects(self):
        return {**super().checkpoint_objects(), "opt_gen": self.opt_gen, "opt_rep": self.opt_rep,
                "opt_dis": self.opt_dis, "gp_seed": self.gp_seed.state}

    def learning_rate(self):
        return tf.constant(self.config.lr)


def make_task(config: TrainConfig, normalizer, strategy,
              mixed_precision: Optional[str] = None) -> Task:
    """The task of ``config``; ``mixed_precision`` overrides the config's (inference)."""
    cls = RepGANTask if config.model == "repgan" else SupervisedTask
    return cls(config, normalizer, strategy, mixed_precision)


# --------------------------------------------------------------------------
# Model directories


def read_config(model_dir: str) -> TrainConfig:
    path = os.path.join(model_dir, CONFIG_FILE)
    if not tf.io.gfile.exists(path):
        raise TrainingError(f"{model_dir} is not a tfpose model directory (no {CONFIG_FILE})")
    with tf.io.gfile.GFile(path) as f:
        stored = json.load(f)["train_config"]
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in stored.items() if k in known})


def check_resumable(model_dir: str, config: TrainConfig) -> Optional[TrainConfig]:
    """The stored config if ``model_dir`` holds a compatible run, else None."""
    if not tf.io.gfile.exists(os.path.join(model_dir, CONFIG_FILE)):
        return None
    stored = read_config(model_dir)
    for field in ("model", "dataset"):
        if getattr(stored, field) != getattr(config, field):
            raise TrainingError(
                f"{model_dir} holds a {stored.model} model trained on {stored.dataset}; "
                f"refusing to resume it as {field}={getattr(config, field)!r} "
                f"(use another --model_dir)")
    return stored


def write_config(model_dir: str, config: TrainConfig, normalizer, command_line: str) -> None:
    tf.io.gfile.makedirs(model_dir)
    skel_2d, skel_3d = config.skeletons()
    payload = {
        "train_config": config.to_dict(),
        "model_kind": config.model,
        "model_kwargs": config.model_kwargs(),
        "dataset": config.dataset,
        "skeleton_2d": skel_2d,
        "skeleton_3d": skel_3d,
        "joint_names_2d": list(skeleton_lib.get(skel_2d).joint_names),
        "joint_names_3d": list(skeleton_lib.get(skel_3d).joint_names),
        "units": normalizer.units,
        "command_line": command_line,
    }
    normalizer.save(os.path.join(model_dir, NORMALIZATION_FILE))
    _write_json_atomically(os.path.join(model_dir, CONFIG_FILE), payload)


def _write_json_atomically(path: str, payload: dict) -> None:
    """Write then rename, so a kill never leaves a half-written config.json."""
    tmp = path + ".tmp"
    with tf.io.gfile.GFile(tmp, "w") as f:
        json.dump(payload, f, indent=2)
    tf.io.gfile.rename(tmp, path, overwrite=True)


def record_resume(model_dir: str, config: TrainConfig, command_line: str) -> None:
    """Keep config.json true to the run after a resume: the epochs it now trains to (a
    resume may extend the schedule) and every command line that trained it."""
    path = os.path.join(model_dir, CONFIG_FILE)
    with tf.io.gfile.GFile(path) as f:
        payload = json.load(f)
    payload["train_config"]["epochs"] = config.epochs
    payload.setdefault("resume_command_lines", []).append(command_line)
    _write_json_atomically(path, payload)


def restore_task(model_dir: str, strategy=None, expect_partial: bool = True,
                 mixed_precision: str = "none") -> Task:
    """Rebuild the task of a model directory and load its latest weights.

    Inference runs in float32 by default even for a model trained with
    mixed precision (its variables are float32 either way)."""
    config = read_config(model_dir)
    normalizer = normalization.Normalizer.load(os.path.join(model_dir, NORMALIZATION_FILE))
    task = make_task(config, normalizer, strategy or tf.distribute.get_strategy(),
                     mixed_precision)
    ckpt = tf.train.Checkpoint(**task.checkpoint_objects())
    latest = tf.train.latest_checkpoint(os.path.join(model_dir, "ckpt"))
    if latest is None:
        raise TrainingError(f"{model_dir} has no checkpoint yet")
    status = ckpt.restore(latest)
    if expect_partial:
        status.expect_partial()
    return task


# --------------------------------------------------------------------------
# The loop


class _Progress:
    """A progress bar on a terminal, plain log lines otherwise."""

    def __init__(self, total_steps: int, start: int):
        self.interactive = sys.stdout.isatty()
        self.total = total_steps
        self.bar = keras.utils.Progbar(total_steps, stateful_metrics=None) if self.interactive else None
        self.start_time, self.start_step = time.time(), start

    def update(self, step: int, logs: Dict[str, float], epoch: int):
        rate = (step - self.start_step) / max(time.time() - self.start_time, 1e-9)
        if self.bar is not None:
            self.bar.update(step, [(k, v) for k, v in logs.items()] + [("steps/s", rate)])
        else:
            eta = (self.total - step) / rate if rate > 0 else float("nan")
            text = " ".join(f"{k}={v:.4g}" for k, v in logs.items())
            logging.info("epoch %d step %d/%d %s | %.1f steps/s, ETA %.0fs", epoch, step,
                         self.total, text, rate, eta)


def _validation(task: Task, frames: data_lib.Frames, batch_size: int = 4096) -> Dict[str, float]:
    """Protocol #1 on a validation subset, in the model's output units."""
    pred = predict(task, frames.pose_2d, batch_size)
    target = np.asarray(task.normalizer.root_relative(frames.pose_3d))
    if task.config.model == "repgan":
        return {"val_n_mpjpe": float(metrics_lib.n_mpjpe(pred, target))}
    return {"val_mpjpe": float(metrics_lib.mpjpe(pred, target))}


def predict(task: Task, pose_2d: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """2D pixels -> root-relative 3D in output units (mm or normalised)."""
    if not hasattr(task, "_predict_fn"):
        spec = tf.TensorSpec([None, task.skeleton_2d.num_joints, 2], tf.float32)

        @tf.function(input_signature=[spec])
        def fn(p2):
            x = task.normalizer.normalize_2d(p2)
            y = task.predict_normalized(x)
            return task.normalizer.denormalize_3d(y)
        task._predict_fn = fn
    pose_2d = np.asarray(pose_2d, np.float32)
    out = [task._predict_fn(tf.constant(pose_2d[i:i + batch_size]))
           for i in range(0, len(pose_2d), batch_size)]
    return np.concatenate([o.numpy() for o in out]) if out else np.zeros((0,))


def make_train_function(task: Task, strategy: tf.distribute.Strategy,
                        first_bad_step: tf.Variable):
    """``train_calls(iterator, n)``: n training steps in one ``tf.function`` call.

    Several steps per call amortise the Python/dispatch overhead that
    dominates small batches. ``first_bad_step`` records, on the device, the
    first step whose losses were not finite (-1: none), so checking it costs
    nothing per step.
    """
    # XLA compiles the per-replica math; the iterator and cross-replica parts stay outside.
    replica_step = (tf.function(task.train_step, jit_compile=True) if task.config.jit_compile
                    else task.train_step)
    step_counter = task.optimizer.iterations

    def one_step(iterator):
        per_replica = strategy.run(replica_step, args=next(iterator))
        logs = {key: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
                for key, v in per_replica.items()}
        finite = tf.reduce_all([tf.math.is_finite(v) for v in logs.values()])
        first_bad_step.assign(tf.where(
            tf.logical_and(first_bad_step < 0, tf.logical_not(finite)),
            tf.cast(step_counter, tf.int64), first_bad_step))
        return logs

    @tf.function
    def train_calls(iterator, n):
        logs = one_step(iterator)
        for _ in tf.range(n - 1):
            logs = one_step(iterator)
        return logs

    return train_calls


def fit(config: TrainConfig, model_dir: str, *, manual_dir=None, data_dir=None,
        strategy: Optional[tf.distribute.Strategy] = None, command_line: str = "",
        max_steps: Optional[int] = None, train_frames: Optional[data_lib.Frames] = None,
        val_frames: Optional[data_lib.Frames] = None) -> Dict:
    """Train (or resume) ``config`` in ``model_dir``; returns the final logs.

    ``max_steps`` stops early after that many global steps in total (used to
    simulate a killed run). ``train_frames``/``val_frames`` bypass TFDS.
    """
    strategy = strategy or tf.distribute.get_strategy()
    stored = check_resumable(model_dir, config)
    if stored is not None:
        logging.info("resuming the run in %s", model_dir)
        epochs = config.epochs
        config = dataclasses.replace(stored, epochs=epochs)
    keras.utils.set_random_seed(config.seed)

    _, _, train_split, eval_split = data_lib.check_dataset(config.dataset)
    skel_2d, skel_3d = config.skeletons()
    if train_frames is None:
        train_frames = data_lib.load_frames(config.dataset, train_split, manual_dir=manual_dir,
                                            data_dir=data_dir, subjects=config.subjects,
                                            frame_stride=config.frame_stride)
    if val_frames is None and config.val_stride > 0:
        val_frames = data_lib.load_frames(config.dataset, eval_split, manual_dir=manual_dir,
                                          data_dir=data_dir, frame_stride=config.val_stride)
    train_frames = train_frames.with_3d_joints_of(skel_3d)
    if val_frames is not None:
        val_frames = val_frames.with_3d_joints_of(skel_3d)
    root = skeleton_lib.get(skel_3d).root
    bad_rows = ~(np.isfinite(train_frames.pose_2d).all((1, 2))
                 & np.isfinite(train_frames.pose_3d).all((1, 2)))
    if bad_rows.any():
        raise TrainingError(f"{int(bad_rows.sum())} training frames of {config.dataset} are not "
                            f"finite (first: sequence {int(train_frames.sequence[bad_rows][0])}); "
                            "clean the data before training")

    norm_path = os.path.join(model_dir, NORMALIZATION_FILE)
    if stored is not None and tf.io.gfile.exists(norm_path):
        normalizer = normalization.Normalizer.load(norm_path)
        record_resume(model_dir, config, command_line)
    else:
        normalizer = normalization.for_model(config.model, train_frames.pose_2d,
                                             train_frames.pose_3d, root=root)
        write_config(model_dir, config, normalizer, command_line)

    task = make_task(config, normalizer, strategy)
    epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    step_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="step_in_epoch")
    ckpt = tf.train.Checkpoint(epoch=epoch_var, step_in_epoch=step_in_epoch,
                               **task.checkpoint_objects())
    manager = tf.train.CheckpointManager(ckpt, os.path.join(model_dir, "ckpt"), max_to_keep=3)
    if manager.latest_checkpoint:
        ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        logging.info("restored %s: epoch %d, step %d in epoch", manager.latest_checkpoint,
                     int(epoch_var.numpy()), int(step_in_epoch.numpy()))

    columns, independent = task.columns(train_frames)
    steps_per_epoch = data_lib.steps_per_epoch(len(train_frames), config.batch_size)
    if steps_per_epoch == 0:
        raise TrainingError(f"{len(train_frames)} training frames are fewer than one batch "
                            f"of {config.batch_size}")
    total_steps = steps_per_epoch * config.epochs
    k = config.steps_per_call
    first_bad_step = tf.Variable(-1, dtype=tf.int64, trainable=False)
    train_calls = make_train_function(task, strategy, first_bad_step)

    writer = tf.summary.create_file_writer(os.path.join(model_dir, "logs"))
    global_step = int(epoch_var.numpy()) * steps_per_epoch + int(step_in_epoch.numpy())
    progress = _Progress(total_steps, global_step)
    last_logs: Dict[str, float] = {}
    log_every = max(k, 100 // k * k)

    def save(step_for_name):
        manager.save(checkpoint_number=step_for_name)

    for epoch in range(int(epoch_var.numpy()), config.epochs):
        start_in_epoch = int(step_in_epoch.numpy())
        ds_fn = lambda ctx, e=epoch, s=start_in_epoch: data_lib.training_dataset(  # noqa: E731
            columns, task.transform, config.batch_size, config.seed, e, s, ctx, independent)
        iterator = iter(strategy.distribute_datasets_from_function(ds_fn))
        s = start_in_epoch
        while s < steps_per_epoch:
            if max_steps is not None and global_step >= max_steps:
                return last_logs
            n = min(k, steps_per_epoch - s)
            if max_steps is not None:
                n = min(n, max_steps - global_step)
            logs = train_calls(iterator, tf.constant(n))
            s += n
            global_step += n
            step_in_epoch.assign(s)
            at_ckpt = global_step % config.checkpoint_every < n
            if global_step % log_every < n or at_ckpt or s == steps_per_epoch:
                last_logs = {key: float(v) for key, v in logs.items()}
                bad_step = int(first_bad_step.numpy())
                if bad_step >= 0:
                    bad = [key for key, v in last_logs.items() if not math.isfinite(v)]
                    raise TrainingError(
                        f"non-finite loss ({', '.join(bad) or 'loss'}) first at step {bad_step} "
                        f"(epoch {epoch + 1}); stopped without saving; the last good "
                        f"checkpoint is {manager.latest_checkpoint}")
                with writer.as_default(step=global_step):
                    for key, v in last_logs.items():
                        tf.summary.scalar(f"train/{key}", v)
                    tf.summary.scalar("train/learning_rate", float(task.learning_rate()))
                progress.update(global_step, last_logs, epoch + 1)
                if at_ckpt and s < steps_per_epoch:
                    save(global_step)
        epoch_var.assign(epoch + 1)
        step_in_epoch.assign(0)
        if val_frames is not None:
            val = _validation(task, val_frames)
            last_logs.update(val)
            with writer.as_default(step=global_step):
                for key, v in val.items():
                    tf.summary.scalar(f"validation/{key}", v)
            logging.info("epoch %d done: %s", epoch + 1,
                         " ".join(f"{k2}={v:.4g}" for k2, v in last_logs.items()))
        save(global_step)
        writer.flush()
        _append_history(model_dir, {epoch + 1: dict(last_logs)})  # survives a later kill
    return last_logs


def _append_history(model_dir: str, history: Dict) -> None:
    path = os.path.join(model_dir, "history.json")
    old = {}
    if tf.io.gfile.exists(path):
        with tf.io.gfile.GFile(path) as f:
            old = json.load(f)
    old.update({str(k): v for k, v in history.items()})
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(old, f, indent=1)
