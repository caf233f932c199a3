"""Training: ``tf.function`` steps under a ``tf.distribute`` strategy.

One code path serves one CPU, one GPU, several GPUs (``MirroredStrategy``)
and several machines (``MultiWorkerMirroredStrategy``): a *task* (supervised
lifting for the baseline and ASN, adversarial training for RepGAN; the model
registry says which) owns the model, its optimisers, weight average and
per-replica step; :func:`fit` owns the loop, checkpoints, summaries and the
resume logic.

A model directory holds ``config.json`` (what was trained, how, on which
hardware), the normalisation statistics, ``ckpt/`` (model, optimisers, weight
average, epoch, step, wall time), ``history.json`` (one entry per epoch) and
``logs/`` (TensorBoard); on a cluster the chief alone writes it. Running
again with the same directory resumes from the newest readable checkpoint at
the exact batch it stopped at (``tfpose.checkpointing``); a resume that would
change what the weights are trained to is refused.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf
import keras
from absl import logging

from tfpose import atomic
from tfpose import augmentation
from tfpose import checkpointing
from tfpose import cluster
from tfpose import config as config_lib
from tfpose import data as data_lib
from tfpose import ema as ema_lib
from tfpose import hardware
from tfpose import losses as losses_lib
from tfpose import metrics as metrics_lib
from tfpose import normalization
from tfpose import optimizers
from tfpose import precision
from tfpose import provenance
from tfpose import run_lock
from tfpose import schedules
from tfpose import skeleton as skeleton_lib
from tfpose.config import ExperimentConfig
from tfpose.models import registry
from tfpose.models import repgan

CONFIG_FILE = "config.json"
NORMALIZATION_FILE = "normalization.json"
HISTORY_FILE = "history.json"


class TrainingError(RuntimeError):
    """Training cannot go on (bad model_dir, non-finite loss, refused resume, ...)."""


def make_strategy(name: str = "default") -> tf.distribute.Strategy:
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; expected default, mirrored or multi_worker")


def peak_learning_rate(config: ExperimentConfig) -> float:
    """The configured rate, else the paper's for the model."""
    if config.optimizer.learning_rate is not None:
        return config.optimizer.learning_rate
    return registry.get(config.model.kind).learning_rate


# --------------------------------------------------------------------------
# Tasks


class Task:
    """A model with its optimisers, data transform, weight average and per-replica step.

    ``schedule`` is ``{"total_steps", "start_step"}`` of the learning-rate
    schedule, in task steps (``fit`` stores it with the run)."""

    # Rows of the data pipeline per training step, as a multiple of the batch size.
    batch_multiple = 1

    def __init__(self, config: ExperimentConfig, normalizer: normalization.Normalizer, strategy,
                 mixed_precision: Optional[str] = None, schedule: Optional[Dict] = None):
        self.config = config
        self.spec = registry.get(config.model.kind)
        # Training runs in the config's precision; inference may ask for float32.
        self.mixed_precision = (config.trainer.mixed_precision if mixed_precision is None
                                else precision.check_mode(mixed_precision))
        self.normalizer = normalizer
        self.strategy = strategy
        self.schedule = dict(schedule or {"total_steps": 1, "start_step": 0})
        names = self.spec.skeletons(config.data.dataset)
        self.skeleton_2d, self.skeleton_3d = (skeleton_lib.get(s) for s in names)
        self.mirror_2d = augmentation.mirror_permutation(self.skeleton_2d.name)
        self.mirror_3d = augmentation.mirror_permutation(self.skeleton_3d.name)
        self.ema: Optional[ema_lib.WeightAverage] = None
        self.restored_from: Optional[str] = None  # restore_task's checkpoint prefix

    def _learning_rate(self, steps_per_task_step: int = 1) -> schedules.LearningRate:
        o = self.config.optimizer
        k = steps_per_task_step
        return schedules.LearningRate(
            peak_learning_rate(self.config), o.lr_schedule,
            total_steps=max(self.schedule["total_steps"] * k, o.warmup_steps + 1),
            warmup_steps=o.warmup_steps, decay_rate=o.lr_decay_rate,
            decay_steps=o.lr_decay_steps, start_step=self.schedule["start_step"] * k,
            decay_fraction=o.decay_fraction)

    def _make_weight_average(self, variables) -> None:
        if self.config.optimizer.ema_decay > 0:
            with self.strategy.scope():
                self.ema = ema_lib.WeightAverage(variables, self.config.optimizer.ema_decay)

    # data -----------------------------------------------------------------
    def columns(self, frames: data_lib.Frames) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        """(columns gathered in the epoch's order, columns gathered independently)."""
        if self.config.data.flip and frames.principal_x is None:
            raise TrainingError("flip augmentation needs each frame's principal point "
                                "(Frames.principal_x); these frames have none")
        cx = frames.principal_x if frames.principal_x is not None else \
            np.zeros(len(frames), np.float32)
        return [frames.pose_2d, frames.pose_3d, cx], []

    def _noisy(self, pose_2d, seed):
        if self.config.data.noise_std > 0:
            pose_2d = pose_2d + self.config.data.noise_std * tf.random.stateless_normal(
                tf.shape(pose_2d), seed=seed)
        return pose_2d

    def transform(self, pose_2d, pose_3d, principal_x, seed):
        pose_2d = self._noisy(pose_2d, seed)
        if self.config.data.flip:
            pose_2d, pose_3d = augmentation.random_flip(pose_2d, pose_3d, principal_x,
                                                        self.mirror_2d, self.mirror_3d, seed + 1)
        return self.normalizer.normalize_2d(pose_2d), self.normalizer.normalize_3d(pose_3d)

    # inference ------------------------------------------------------------
    def predict_normalized(self, x):
        return self.model(x, training=False)

    @property
    def step_counter(self) -> tf.Variable:
        return self.optimizer.iterations

    def learning_rate(self):
        """The schedule's rate at the current step."""
        return self.lr_schedule(self.step_counter)

    def learning_rate_decay(self):
        """The schedule's decay factor now (1 at the peak, 0 at the end; no warm-up)."""
        return self.lr_schedule.decay(self.step_counter)

    def checkpoint_objects(self) -> Dict:
        # Keras 3 layers kept in Python lists are invisible to tf.train.Checkpoint's
        # object graph, so the model's variables (weights, BN statistics, dropout
        # seed states) are saved as one ordered list; the order is fixed by the
        # architecture, unlike the auto-generated variable names.
        objects = {"model_variables": list(self.model.variables)}
        if self.ema is not None:
            objects.update(self.ema.checkpoint_objects())
        return objects


class SupervisedTask(Task):
    """Baseline and ASN: 2D -> 3D regression (the spec names the loss)."""

    def __init__(self, config, normalizer, strategy, mixed_precision=None, schedule=None):
        super().__init__(config, normalizer, strategy, mixed_precision, schedule)
        self.loss_fn = losses_lib.SUPERVISED_LOSSES[self.spec.supervised_loss]
        with strategy.scope(), precision.dtype_policy(self.mixed_precision):
            self.model = self.spec.build(config.model, config.data.dataset)
            self.model.build((None, self.skeleton_2d.num_joints, 2))
            self.lr_schedule = self._learning_rate()
            self.optimizer = optimizers.adam(self.lr_schedule, fused=config.optimizer.fused_adam)
            self.optimizer.build(self.model.trainable_variables)
        self._make_weight_average(self.model.variables)
        joint_mask = np.ones(self.skeleton_3d.num_joints, np.float32)
        joint_mask[self.skeleton_3d.root] = 0.0  # its normalised target is constant
        self.joint_mask = tf.constant(joint_mask)
        self.hard_mask = tf.constant(self.skeleton_3d.hard_joint_mask)

    def train_step(self, x, y):
        replicas = self.strategy.num_replicas_in_sync
        with tf.GradientTape() as tape:
            logs = self.loss_fn(self.model, x, y, self.joint_mask, self.hard_mask)
            scaled = logs["loss"] / replicas
        grads = tape.gradient(scaled, self.model.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables))
        return logs

    def checkpoint_objects(self):
        return {**super().checkpoint_objects(), "optimizer": self.optimizer}


class AdversarialTask(Task):
    """RepGAN: generator, reprojector and critic trained together (WGAN).

    One step = ``critic_steps`` critic updates and one generator/reprojector
    update; the step's rows are split into ``critic_steps`` chunks, one per
    critic update. ``gan_updates="alternating"`` (the paper: "trained
    alternately") updates the critic first and then the generator and
    reprojector against the updated critic, on the last chunk;
    ``"simultaneous"`` updates all three from one forward pass on the last
    chunk. "Synchronous" (the paper's Syn) means the reprojector learns
    through the critic inside this loop, not from real pairs.

    Alternating, the last critic update and the generator update share one
    generator/reprojector forward pass: neither network moves in between, so
    the critic judges exactly the poses the generator is then trained on (and
    BatchNorm's moving statistics see each batch once)."""

    def __init__(self, config, normalizer, strategy, mixed_precision=None, schedule=None):
        super().__init__(config, normalizer, strategy, mixed_precision, schedule)
        m = config.model
        self.batch_multiple = m.critic_steps
        self.angle_weight = m.lambda_angle if m.lambda_angle is not None else (
            # The paper's lambda = 1 needs a nose joint: without one the Head stand-in
            # contradicts the ground truth on many frames (see losses.angle_loss).
            1.0 if "Neck/Nose" in self.skeleton_2d.joint_names else 0.0)
        with strategy.scope(), precision.dtype_policy(self.mixed_precision):
            self.model = self.spec.build(config.model, config.data.dataset)
            j = self.skeleton_2d.num_joints
            self.model.build((None, j, 2))  # builds generator, reprojector and critic
            self.lr_schedule = self._learning_rate()

            def adam(schedule):
                return optimizers.adam(schedule, fused=config.optimizer.fused_adam, beta_1=0.0,
                                       beta_2=0.9)

            self.opt_gen, self.opt_rep = adam(self.lr_schedule), adam(self.lr_schedule)
            self.opt_dis = adam(self._learning_rate(m.critic_steps))
            self.opt_gen.build(self.model.generator.trainable_variables)
            self.opt_rep.build(self.model.reprojector.trainable_variables)
            self.opt_dis.build(self.model.discriminator.trainable_variables)
            # Interpolation factors of the gradient penalty; its state is checkpointed.
            self.gp_seed = keras.random.SeedGenerator(config.trainer.seed)
        self._make_weight_average(self.model.generator.variables)
        self.optimizer = self.opt_gen  # its iteration count is the step count

    def columns(self, frames):
        # Generator inputs, then the real (3D, 2D) pairs: the same frames, or drawn in an
        # order of their own.
        if self.config.model.real_samples == "paired":
            return [frames.pose_2d, frames.pose_3d, frames.pose_2d], []
        return [frames.pose_2d], [frames.pose_3d, frames.pose_2d]

    def transform(self, pose_2d, real_3d, real_2d, seed):
        n = self.normalizer
        x2d, real_3d, real_2d = (n.normalize_2d(self._noisy(pose_2d, seed)),
                                 n.normalize_3d(real_3d), n.normalize_2d(real_2d))
        if self.config.data.flip:  # root-centred: mirror about x = 0
            perm = self.mirror_2d
            flip = tf.random.stateless_uniform(tf.shape(x2d)[:1], seed=seed + 1) < 0.5
            x2d = tf.where(flip[:, None, None], augmentation.flip_2d(x2d, 0.0, perm), x2d)
            # Paired real samples flip with their generator input (the same stateless draw).
            paired = self.config.model.real_samples == "paired"
            real_2d, real_3d = augmentation.random_flip(real_2d, real_3d, 0.0, perm, perm,
                                                        seed + (1 if paired else 2))
        geometry = self.model.geometry
        if geometry in repgan.BACKPROJECTING:  # rays in; the critic judges root-scaled 2D
            if geometry == "backproject_hybrid":  # built like a fake: its rays, its depth
                real_3d = repgan.backproject(real_2d, real_3d[..., 2], self.skeleton_2d.root)
            real_2d = repgan.root_scale_normalize(real_2d, self.skeleton_2d.root)
        elif geometry == "hybrid":  # built like a fake: its 2D's x-y, its own depth
            real_3d = tf.concat([real_2d, real_3d[..., 2:]], axis=-1)
        return x2d, real_3d, real_2d

    def _fakes(self, x2d, training_reprojector: bool):
        depth = self.model.generator(self.model.generator_input(x2d), training=True)
        fake_3d = self.model.pose_from(x2d, depth)
        return fake_3d, self.model.reprojector(fake_3d, training=training_reprojector)

    def _critic_loss(self, real_3d, real_2d, fake_3d, fake_2d):
        cfg, dis = self.config.model, self.model.discriminator
        p_fake = dis([fake_3d, fake_2d], training=True)
        p_real = dis([real_3d, real_2d], training=True)
        l_dis = losses_lib.wasserstein_critic_loss(p_real, p_fake)
        if cfg.lipschitz == "gp":
            eps = keras.random.uniform([tf.shape(real_3d)[0]], seed=self.gp_seed)
            gp = losses_lib.gradient_penalty(
                lambda inputs: dis(inputs, training=True), [real_3d, real_2d],
                [fake_3d, fake_2d], epsilon=eps)
            return l_dis, gp, l_dis + cfg.gp_weight * gp, p_fake
        return l_dis, tf.constant(0.0), l_dis, p_fake

    def _critic_only_update(self, x2d, real_3d, real_2d):
        """One critic update against the current generator; returns the critic's
        loss, gradient penalty and gradient norm."""
        fake_3d, fake_2d = self._fakes(x2d, training_reprojector=self.config.model.synchronous)
        return self._critic_update(real_3d, real_2d, fake_3d, fake_2d)

    def _critic_update(self, real_3d, real_2d, fake_3d, fake_2d):
        """One critic update on given fakes (no gradient flows back into them)."""
        replicas = self.strategy.num_replicas_in_sync
        fake_3d, fake_2d = tf.stop_gradient(fake_3d), tf.stop_gradient(fake_2d)
        dis = self.model.discriminator
        with tf.GradientTape() as tape:
            l_dis, gp, total, _ = self._critic_loss(real_3d, real_2d, fake_3d, fake_2d)
            scaled = total / replicas
        grads = tape.gradient(scaled, dis.trainable_variables)
        self.opt_dis.apply_gradients(zip(grads, dis.trainable_variables))
        if self.config.model.lipschitz == "clip":
            losses_lib.clip_weights(dis, self.config.model.clip_value)
        return l_dis, gp, tf.linalg.global_norm(grads)

    def _generator_losses(self, real_3d, real_2d, p_fake, fake_3d):
        """(generator loss, reprojector loss, L_angle)."""
        l_angle = losses_lib.angle_loss(fake_3d, self.skeleton_2d)
        l_adv = losses_lib.wasserstein_generator_loss(p_fake)
        if self.config.model.synchronous:  # the reprojector learns through the critic
            l_rep = l_adv
        else:  # separate: the reprojector learns 3D -> 2D from real pairs only
            rep = self.model.reprojector
            l_rep = tf.reduce_mean(tf.square(rep(real_3d, training=True) - real_2d))
        return l_adv + self.angle_weight * l_angle, l_rep, l_angle

    def _apply(self, tape, losses, nets, opts):
        norms = []
        for loss, net, opt in zip(losses, nets, opts):
            grads = tape.gradient(loss, net.trainable_variables)
            opt.apply_gradients(zip(grads, net.trainable_variables))
            norms.append(tf.linalg.global_norm(grads))
        return norms

    def train_step(self, x2d, real_3d, real_2d):
        cfg, m = self.config.model, self.model
        k = cfg.critic_steps
        chunks = [tf.split(t, k) if k > 1 else [t] for t in (x2d, real_3d, real_2d)]
        alternating = cfg.gan_updates == "alternating"
        # Alternating: k critic updates, then the generator and reprojector against the
        # updated critic. Simultaneous: k - 1 critic updates, then all three from one pass.
        for i in range(k - 1):
            l_dis, gp, critic_norm = self._critic_only_update(chunks[0][i], chunks[1][i],
                                                              chunks[2][i])
        x2d, real_3d, real_2d = chunks[0][-1], chunks[1][-1], chunks[2][-1]
        replicas = self.strategy.num_replicas_in_sync
        gen, rep, dis = m.generator, m.reprojector, m.discriminator
        shared = alternating and cfg.shared_generator_pass
        if alternating and not shared:  # the last critic update on a pass of its own
            l_dis, gp, critic_norm = self._critic_only_update(x2d, real_3d, real_2d)
        with tf.GradientTape(persistent=True) as tape:
            fake_3d, fake_2d = self._fakes(x2d, training_reprojector=cfg.synchronous)
            if shared:
                with tape.stop_recording():  # the last critic update, on these same fakes
                    l_dis, gp, critic_norm = self._critic_update(real_3d, real_2d, fake_3d,
                                                                 fake_2d)
            if alternating:  # scored by the updated critic
                p_fake = dis([fake_3d, fake_2d], training=True)
            else:
                l_dis, gp, l_dis_total, p_fake = self._critic_loss(real_3d, real_2d, fake_3d,
                                                                   fake_2d)
            l_gen, l_rep, l_angle = self._generator_losses(real_3d, real_2d, p_fake, fake_3d)
            # Per-replica share of the global-batch mean (inside the tape, so it is taped).
            scaled = [loss / replicas for loss in (l_gen, l_rep)]
            if not alternating:
                scaled.append(l_dis_total / replicas)
        if alternating:
            norms = self._apply(tape, scaled, (gen, rep), (self.opt_gen, self.opt_rep))
            norms.append(critic_norm)
        else:
            norms = self._apply(tape, scaled, (gen, rep, dis),
                                (self.opt_gen, self.opt_rep, self.opt_dis))
            if cfg.lipschitz == "clip":
                losses_lib.clip_weights(dis, cfg.clip_value)
        del tape
        return {"loss": l_gen, "critic": l_dis, "gp": gp, "reprojection": l_rep,
                "angle": l_angle, "wasserstein": -l_dis, "grad_norm_generator": norms[0],
                "grad_norm_reprojector": norms[1], "grad_norm_critic": norms[2]}

    def checkpoint_objects(self):
        return {**super().checkpoint_objects(), "opt_gen": self.opt_gen, "opt_rep": self.opt_rep,
                "opt_dis": self.opt_dis, "gp_seed": self.gp_seed.state}


TASKS = {"supervised": SupervisedTask, "adversarial": AdversarialTask}


def make_task(config: ExperimentConfig, normalizer, strategy,
              mixed_precision: Optional[str] = None, schedule: Optional[Dict] = None) -> Task:
    """The task of ``config``; ``mixed_precision`` overrides the config's (inference)."""
    cls = TASKS[registry.get(config.model.kind).task]
    return cls(config, normalizer, strategy, mixed_precision, schedule)


# --------------------------------------------------------------------------
# Model directories


def read_run(model_dir: str) -> Dict:
    """The whole ``config.json`` of a model directory."""
    path = os.path.join(model_dir, CONFIG_FILE)
    if not tf.io.gfile.exists(path):
        raise TrainingError(f"{model_dir} is not a tfpose model directory (no {CONFIG_FILE})")
    with tf.io.gfile.GFile(path) as f:
        payload = json.load(f)
    stored = payload.get("train_config", {})
    if not isinstance(stored.get("model"), dict):
        raise TrainingError(f"{model_dir} was written by an older tfpose (flat train_config); "
                            "retrain it with this version")
    return payload


def read_config(model_dir: str) -> ExperimentConfig:
    return ExperimentConfig.from_dict(read_run(model_dir)["train_config"])


def check_resumable(model_dir: str, config: ExperimentConfig) -> Optional[Dict]:
    """``config.json`` of the run in ``model_dir`` if ``config`` may resume it, else None.

    Raises when a setting other than :data:`config.RESUMABLE_CHANGES` differs:
    a resume never silently ignores a setting."""
    if not tf.io.gfile.exists(os.path.join(model_dir, CONFIG_FILE)):
        return None
    payload = read_run(model_dir)
    stored = ExperimentConfig.from_dict(payload["train_config"])
    given, kept = config.to_flat(), stored.to_flat()
    changed = [k for k in stored.differences(config) if k not in config_lib.RESUMABLE_CHANGES]
    if changed:
        raise TrainingError(
            f"{model_dir} holds a run with other settings: "
            + ", ".join(f"{k} (stored {kept[k]!r}, given {given[k]!r})" for k in changed)
            + f"; a resume may change only {', '.join(sorted(config_lib.RESUMABLE_CHANGES))} "
            "(use another --model_dir for a new run)")
    return payload


def _run_payload(config: ExperimentConfig, normalizer, command_line: str, schedule: Dict,
                 hw: Dict) -> Dict:
    spec = registry.get(config.model.kind)
    skel_2d, skel_3d = spec.skeletons(config.data.dataset)
    return {
        "train_config": config.to_dict(),
        "model_kind": config.model.kind,
        "model_kwargs": spec.model_kwargs(config.model, config.data.dataset),
        "dataset": config.data.dataset,
        "skeleton_2d": skel_2d,
        "skeleton_3d": skel_3d,
        "joint_names_2d": list(skeleton_lib.get(skel_2d).joint_names),
        "joint_names_3d": list(skeleton_lib.get(skel_3d).joint_names),
        "units": normalizer.units,
        "schedule": schedule,
        "command_line": command_line,
        "hardware": [hw],
    }


def restore_task(model_dir: str, strategy=None, expect_partial: bool = True,
                 mixed_precision: str = "none", averaged: bool = True,
                 checkpoint_step: Optional[int] = None) -> Task:
    """Rebuild the task of a model directory and load its latest weights (or those of
    ``checkpoint_step``, one of the checkpoints the run keeps).

    With a weight average in the run (``ema_decay``), the model holds the
    averaged weights unless ``averaged=False``. Inference runs in float32 by
    default even for a model trained with mixed precision (its variables are
    float32 either way). ``task.restored_from`` is the checkpoint's prefix."""
    payload = read_run(model_dir)
    config = ExperimentConfig.from_dict(payload["train_config"])
    normalizer = normalization.Normalizer.load(os.path.join(model_dir, NORMALIZATION_FILE))
    task = make_task(config, normalizer, strategy or tf.distribute.get_strategy(),
                     mixed_precision, payload.get("schedule"))
    ckpt = tf.train.Checkpoint(**task.checkpoint_objects())
    directory = os.path.join(model_dir, "ckpt")
    try:
        if checkpoint_step is None:
            restored = checkpointing.restore_newest(ckpt, directory, expect_partial=expect_partial)
        else:
            restored = checkpointing.restore_numbered(ckpt, directory, checkpoint_step,
                                                      expect_partial=expect_partial)
    except checkpointing.CheckpointError as e:
        raise TrainingError(str(e)) from e
    if restored is None:
        raise TrainingError(f"{model_dir} has no checkpoint yet")
    task.restored_from = restored
    if averaged and task.ema is not None:
        task.ema.copy_to_model()
    return task


def read_history(model_dir: str) -> Dict[str, Dict]:
    path = os.path.join(model_dir, HISTORY_FILE)
    if not tf.io.gfile.exists(path):
        return {}
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


# --------------------------------------------------------------------------
# Inference on arrays


def predict(task: Task, pose_2d: np.ndarray, batch_size: int = 4096, flip: bool = False,
            principal_x=None) -> np.ndarray:
    """2D pixels -> root-relative 3D in output units (mm or normalised).

    ``flip``: average with the prediction for the mirrored input, mirrored
    back (test-time flip); ``principal_x`` (per frame or scalar) is the column
    the pixels are mirrored about (the camera's cx; any value for a RepGAN
    without back-projection, whose input is root-centred)."""
    if not hasattr(task, "_predict_fn"):
        spec = tf.TensorSpec([None, task.skeleton_2d.num_joints, 2], tf.float32)

        @tf.function(input_signature=[spec])
        def fn(p2):
            return task.normalizer.denormalize_3d(
                task.predict_normalized(task.normalizer.normalize_2d(p2)))
        task._predict_fn = fn
    pose_2d = np.asarray(pose_2d, np.float32)
    if flip:
        cx = np.broadcast_to(np.asarray(0.0 if principal_x is None else principal_x, np.float32),
                             pose_2d.shape[:1])
        if principal_x is None and task.normalizer.kind != "root_scale":
            raise ValueError("test-time flip needs the camera's principal point (principal_x)")
    out = []
    for i in range(0, len(pose_2d), batch_size):
        batch = pose_2d[i:i + batch_size]
        pred = task._predict_fn(tf.constant(batch)).numpy()
        if flip:
            mirrored = augmentation.flip_2d(batch, cx[i:i + batch_size], task.mirror_2d)
            back = augmentation.flip_3d(task._predict_fn(mirrored), task.mirror_3d).numpy()
            pred = 0.5 * (pred + back)
        out.append(pred)
    if not out:
        return np.zeros((0, task.skeleton_3d.num_joints, 3), np.float32)
    return np.concatenate(out)


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


def validate(task: Task, frames: data_lib.Frames, batch_size: int = 4096) -> Dict[str, float]:
    """Protocol #1 on validation frames, in the model's output units (weight average if on)."""
    target = np.asarray(task.normalizer.root_relative(frames.pose_3d))
    if task.ema is not None:
        with task.ema.averaged_weights():
            pred = predict(task, frames.pose_2d, batch_size)
    else:
        pred = predict(task, frames.pose_2d, batch_size)
    metric = task.spec.protocol1
    return {f"val_{metric}": float(metrics_lib.errors_for_protocol(pred, target, metric).mean())}


def make_train_function(task: Task, strategy: tf.distribute.Strategy,
                        first_bad_step: tf.Variable):
    """``train_calls(iterator, n)``: n training steps in one ``tf.function`` call.

    Several steps per call amortise the Python/dispatch overhead that
    dominates small batches. ``first_bad_step`` records, on the device, the
    first step whose losses were not finite (-1: none), so checking it costs
    nothing per step.
    """
    # XLA compiles the per-replica math; the iterator and cross-replica parts stay outside.
    replica_step = (tf.function(task.train_step, jit_compile=True)
                    if task.config.trainer.jit_compile else task.train_step)
    step_counter = task.step_counter

    def one_step(iterator):
        per_replica = strategy.run(replica_step, args=next(iterator))
        logs = {key: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
                for key, v in per_replica.items()}
        if task.ema is not None:
            task.ema.update(task.learning_rate_decay()
                            if task.config.optimizer.ema_follows_rate else None)
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


def _frames_for(config: ExperimentConfig, manual_dir, data_dir, train_frames, val_frames):
    """Training and validation frames: the test split, or held-out training subjects."""
    d = config.data
    _, _, train_split, eval_split = config_lib.check_dataset(d.dataset)
    if train_frames is None:
        subjects = None
        if d.subjects:
            subjects = list(d.subjects) + list(d.val_subjects or [])
        train_frames = data_lib.load_frames(d.dataset, train_split, manual_dir=manual_dir,
                                            data_dir=data_dir, subjects=subjects,
                                            frame_stride=d.frame_stride)
    if d.val_subjects:
        held_out = train_frames.with_subjects(d.val_subjects)
        train_frames = train_frames.with_subjects(d.val_subjects, keep=False)
        if val_frames is None and d.val_stride > 0:
            # Every val_stride-th frame of the stride-sampled held-out frames.
            val_frames = held_out.select(np.arange(len(held_out)) % d.val_stride == 0)
    elif val_frames is None and d.val_stride > 0:
        val_frames = data_lib.load_frames(d.dataset, eval_split, manual_dir=manual_dir,
                                          data_dir=data_dir, frame_stride=d.val_stride)
    spec = registry.get(config.model.kind)
    _, skel_3d = spec.skeletons(d.dataset)
    train_frames = train_frames.with_3d_joints_of(skel_3d)
    if val_frames is not None:
        val_frames = val_frames.with_3d_joints_of(skel_3d)
    bad_rows = ~(np.isfinite(train_frames.pose_2d).all((1, 2))
                 & np.isfinite(train_frames.pose_3d).all((1, 2)))
    if bad_rows.any():
        raise TrainingError(f"{int(bad_rows.sum())} training frames of {d.dataset} are not "
                            f"finite (first: sequence {int(train_frames.sequence[bad_rows][0])}); "
                            "clean the data before training")
    return train_frames, val_frames


def _checkpointed_step(model_dir: str) -> Optional[Tuple[int, int]]:
    """(epoch, step in epoch) of the newest readable checkpoint, without building the model."""
    for path in checkpointing.recorded(os.path.join(model_dir, "ckpt")):
        try:
            reader = tf.train.load_checkpoint(path)
            return (int(reader.get_tensor("epoch/.ATTRIBUTES/VARIABLE_VALUE")),
                    int(reader.get_tensor("step_in_epoch/.ATTRIBUTES/VARIABLE_VALUE")))
        except checkpointing.UNREADABLE:
            continue  # fit warns about it when it restores
    return None


def _schedule_for_resume(payload: Dict, config: ExperimentConfig, total_steps: int,
                         model_dir: str, steps_per_epoch: int, restart_schedule: bool) -> Dict:
    """The stored schedule; a changed length is refused where it would change the rates."""
    stored = dict(payload.get("schedule") or {"total_steps": total_steps, "start_step": 0})
    if stored["start_step"] + stored["total_steps"] == total_steps:
        return stored
    if restart_schedule:
        epoch, step = _checkpointed_step(model_dir) or (0, 0)
        now = epoch * steps_per_epoch + step
        if total_steps <= now:
            raise TrainingError(f"--restart_schedule: the run is at step {now}, past the new "
                                f"end {total_steps}")
        return {"total_steps": total_steps - now, "start_step": now}
    if config.optimizer.lr_schedule in ("cosine", "linear"):
        raise TrainingError(
            f"{model_dir} was trained with a {config.optimizer.lr_schedule} schedule over "
            f"{stored['start_step'] + stored['total_steps']} steps; these settings give "
            f"{total_steps}, which would change the learning rate of the steps already taken. "
            "Pass --restart_schedule to anneal again from the current step to the new end")
    return {"total_steps": total_steps - stored["start_step"], "start_step": stored["start_step"]}


def fit(config: ExperimentConfig, model_dir: str, *, manual_dir=None, data_dir=None,
        strategy: Optional[tf.distribute.Strategy] = None, command_line: str = "",
        max_steps: Optional[int] = None, train_frames: Optional[data_lib.Frames] = None,
        val_frames: Optional[data_lib.Frames] = None, restart_schedule: bool = False,
        measure_hardware: bool = True) -> Dict:
    """Train (or resume) ``config`` in ``model_dir``; returns the final logs.

    ``max_steps`` stops early after that many global steps in total (used to
    simulate a killed run). ``train_frames``/``val_frames`` bypass TFDS
    (``val_subjects`` are still held out of ``train_frames``). The chief
    holds ``model_dir``'s run lock throughout (:mod:`tfpose.run_lock`).
    """
    segment_start = time.time()
    strategy = strategy or tf.distribute.get_strategy()
    # Only the chief writes to model_dir; the other workers of a cluster read it.
    chief = checkpointing.is_chief(strategy)
    try:
        lock = run_lock.hold(model_dir) if chief else contextlib.nullcontext()
        with lock:
            return _fit(config, model_dir, manual_dir, data_dir, strategy, chief, command_line,
                        max_steps, train_frames, val_frames, restart_schedule,
                        measure_hardware, segment_start)
    except run_lock.RunLocked as e:
        raise TrainingError(str(e)) from None


def _fit(config, model_dir, manual_dir, data_dir, strategy, chief, command_line, max_steps,
         train_frames, val_frames, restart_schedule, measure_hardware, segment_start) -> Dict:
    payload = check_resumable(model_dir, config)
    if payload is not None:
        logging.info("resuming the run in %s", model_dir)
    keras.utils.set_random_seed(config.trainer.seed)
    train_frames, val_frames = _frames_for(config, manual_dir, data_dir, train_frames, val_frames)
    spec = registry.get(config.model.kind)

    batch_rows = config.trainer.batch_size
    task_batch = batch_rows * (config.model.critic_steps if spec.task == "adversarial" else 1)
    steps_per_epoch = data_lib.steps_per_epoch(len(train_frames), task_batch)
    if steps_per_epoch == 0:
        raise TrainingError(f"{len(train_frames)} training frames are fewer than one batch "
                            f"of {task_batch}")
    total_steps = steps_per_epoch * config.trainer.epochs
    hw = {**hardware.describe(measure=measure_hardware), "git_commit": provenance.git_commit()}
    norm_path = os.path.join(model_dir, NORMALIZATION_FILE)
    resuming = payload is not None and tf.io.gfile.exists(norm_path)
    if resuming:
        normalizer = normalization.Normalizer.load(norm_path)
        schedule = _schedule_for_resume(payload, config, total_steps, model_dir, steps_per_epoch,
                                        restart_schedule)
        payload["train_config"] = config.to_dict()
        payload["schedule"] = schedule
        payload.setdefault("resume_command_lines", []).append(command_line)
        payload.setdefault("hardware", []).append(hw)
    else:
        root = skeleton_lib.get(spec.skeletons(config.data.dataset)[1]).root
        normalizer = spec.create_normalizer(config.model, config.data.dataset,
                                            train_frames.pose_2d, train_frames.pose_3d, root=root)
        schedule = {"total_steps": total_steps, "start_step": 0}
        payload = _run_payload(config, normalizer, command_line, schedule, hw)
        # --mixed_precision=auto: probed once, then kept for every resume of the run.
        chosen, evidence = precision.resolve(config.trainer.mixed_precision,
                                             config.model.width, config.trainer.batch_size)
        payload["mixed_precision"] = {"chosen": chosen, **evidence}
        if chief:
            tf.io.gfile.makedirs(model_dir)
            # Written whole before config.json: a run with config.json has its statistics.
            normalizer.save(norm_path + ".tmp")
            tf.io.gfile.rename(norm_path + ".tmp", norm_path, overwrite=True)
    if chief and not resuming:
        atomic.write_json(os.path.join(model_dir, CONFIG_FILE), payload)

    task = make_task(config, normalizer, strategy, schedule=schedule,
                     mixed_precision=(payload.get("mixed_precision") or {}).get(
                         "chosen", config.trainer.mixed_precision))
    epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    step_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="step_in_epoch")
    wall = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="wall_seconds")
    ckpt = tf.train.Checkpoint(epoch=epoch_var, step_in_epoch=step_in_epoch, wall_seconds=wall,
                               **task.checkpoint_objects())
    ckpt_dir = os.path.join(model_dir, "ckpt")
    try:
        restored = checkpointing.restore_newest(ckpt, ckpt_dir)  # older ones if it is damaged
    except checkpointing.CheckpointError as e:
        raise TrainingError(str(e)) from e
    if restored:
        logging.info("restored %s: epoch %d, step %d in epoch", restored,
                     int(epoch_var.numpy()), int(step_in_epoch.numpy()))
    try:
        cluster.check_same_step(strategy, int(epoch_var.numpy()) * steps_per_epoch
                                + int(step_in_epoch.numpy()))
    except ValueError as e:
        raise TrainingError(str(e)) from e
    saver = checkpointing.Saver(ckpt, ckpt_dir, chief=chief)
    wall_at_start = float(wall.numpy())
    global_step = int(epoch_var.numpy()) * steps_per_epoch + int(step_in_epoch.numpy())
    if resuming and global_step >= total_steps:
        # A finished run: not a training segment (no hardware entry, no command line).
        logging.info("the run in %s has finished all %d steps: nothing to resume", model_dir,
                     total_steps)
        saver.close()
        return {}
    if chief and resuming:
        atomic.write_json(os.path.join(model_dir, CONFIG_FILE), payload)

    def raise_if_peer_lost(error):
        """A dead peer of a cluster, seen by a collective, as a one-line TrainingError."""
        if cluster.num_workers(strategy) > 1 and cluster.is_peer_failure(error):
            raise TrainingError(cluster.lost_worker_message(error, global_step,
                                                            saver.latest)) from error

    def save(step_for_name):
        wall.assign(wall_at_start + time.time() - segment_start)
        try:
            saver.save(step_for_name)
        except checkpointing.CheckpointError as e:
            raise TrainingError(str(e)) from e
        except cluster.PEER_FAILURES as e:
            raise_if_peer_lost(e)
            raise

    def run_steps(iterator, n):
        try:
            return train_calls(iterator, tf.constant(n))
        except cluster.PEER_FAILURES as e:
            raise_if_peer_lost(e)
            raise

    columns, independent = task.columns(train_frames)
    k = config.trainer.steps_per_call
    first_bad_step = tf.Variable(-1, dtype=tf.int64, trainable=False)
    train_calls = make_train_function(task, strategy, first_bad_step)
    writer = (tf.summary.create_file_writer(os.path.join(model_dir, "logs"))
              if strategy.extended.should_save_summary else tf.summary.create_noop_writer())
    progress = _Progress(total_steps, global_step)
    last_logs: Dict[str, float] = {}
    log_every = max(k, 100 // k * k)

    for epoch in range(int(epoch_var.numpy()), config.trainer.epochs):
        start_in_epoch = int(step_in_epoch.numpy())
        ds_fn = lambda ctx, e=epoch, s=start_in_epoch: data_lib.training_dataset(  # noqa: E731
            columns, task.transform, task_batch, config.trainer.seed, e, s, ctx, independent)
        iterator = iter(strategy.distribute_datasets_from_function(ds_fn))
        s = start_in_epoch
        while s < steps_per_epoch:
            if max_steps is not None and global_step >= max_steps:
                saver.close()
                return last_logs
            n = min(k, steps_per_epoch - s)
            if max_steps is not None:
                n = min(n, max_steps - global_step)
            logs = run_steps(iterator, n)
            s += n
            global_step += n
            step_in_epoch.assign(s)
            at_ckpt = global_step % config.trainer.checkpoint_every < n
            if global_step % log_every < n or at_ckpt or s == steps_per_epoch:
                last_logs = {key: float(v) for key, v in logs.items()}
                bad_step = int(first_bad_step.numpy())
                if bad_step >= 0:
                    bad = [key for key, v in last_logs.items() if not math.isfinite(v)]
                    raise TrainingError(
                        f"non-finite loss ({', '.join(bad) or 'loss'}) first at step {bad_step} "
                        f"(epoch {epoch + 1}); stopped without saving; the last good "
                        f"checkpoint is {saver.latest}")
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
            val = validate(task, val_frames)
            last_logs.update(val)
            with writer.as_default(step=global_step):
                for key, v in val.items():
                    tf.summary.scalar(f"validation/{key}", v)
            logging.info("epoch %d done: %s", epoch + 1,
                         " ".join(f"{k2}={v:.4g}" for k2, v in last_logs.items()))
        save(global_step)
        writer.flush()
        if chief:
            _append_history(model_dir, epoch + 1, {
                **last_logs, "steps": global_step, "samples": global_step * task_batch,
                "wall_seconds": round(float(wall.numpy()), 1),
                "learning_rate": float(task.learning_rate())})
    saver.close()
    return last_logs


def _append_history(model_dir: str, epoch: int, entry: Dict) -> None:
    """One entry per epoch, rewritten atomically (a kill leaves the old file whole)."""
    history = read_history(model_dir)
    history[str(epoch)] = entry
    atomic.write_json(os.path.join(model_dir, HISTORY_FILE), history)
