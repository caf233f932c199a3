"""Learning-rate schedules: the papers' exponential decay, and decays that reach 0.

Short schedules need the rate annealed to (near) zero by the last step, or
the final weights sit in the noise of a near-constant rate; the papers'
exponential decay only gets there over hundreds of epochs. ``cosine`` and
``linear`` run from the peak (after an optional linear warm-up) to 0 at
``total_steps``; with ``decay_fraction`` < 1 they hold the peak and decay
over only the last fraction of the steps after warm-up (warm-up, stable,
decay: more steps at a high rate for the same end point). ``start_step``
lets a resumed run restart a schedule at the step it resumes from
(``train.py --restart_schedule``).
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

KINDS = ("exponential", "cosine", "linear", "constant")


@keras.saving.register_keras_serializable(package="tfpose")
class LearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """``peak`` x warm-up x decay, a function of the optimizer's step."""

    def __init__(self, peak: float, kind: str = "exponential", total_steps: int = 1,
                 warmup_steps: int = 0, decay_rate: float = 0.96, decay_steps: int = 100_000,
                 start_step: int = 0, decay_fraction: float = 1.0):
        if kind not in KINDS:
            raise ValueError(f"unknown learning-rate schedule {kind!r}; expected one of "
                             f"{', '.join(KINDS)}")
        if not 0.0 < decay_fraction <= 1.0:
            raise ValueError(f"decay_fraction must be in (0, 1], got {decay_fraction}")
        if kind in ("cosine", "linear") and total_steps <= warmup_steps:
            raise ValueError(f"a {kind} schedule needs total_steps ({total_steps}) > "
                             f"warmup_steps ({warmup_steps})")
        self.peak, self.kind = float(peak), kind
        self.total_steps, self.warmup_steps = int(total_steps), int(warmup_steps)
        self.decay_rate, self.decay_steps = float(decay_rate), int(decay_steps)
        self.start_step = int(start_step)
        self.decay_fraction = float(decay_fraction)

    def __call__(self, step):
        t = tf.cast(step, tf.float32) - float(self.start_step)
        rate = tf.constant(self.peak, tf.float32)
        if self.warmup_steps > 0:
            rate *= tf.minimum(1.0, (t + 1.0) / float(self.warmup_steps))
        return rate * self._decay(t)

    def decay(self, step):
        """The decay factor alone (1 at the peak, 0 at the end): the rate over peak x warm-up."""
        return self._decay(tf.cast(step, tf.float32) - float(self.start_step))

    def _decay(self, t):
        if self.kind == "exponential":
            return tf.pow(self.decay_rate, t / float(self.decay_steps))
        if self.kind == "constant":
            return tf.constant(1.0, tf.float32)
        span = float(self.total_steps - self.warmup_steps) * self.decay_fraction
        decay_start = float(self.total_steps) - span
        progress = tf.clip_by_value((t - decay_start) / span, 0.0, 1.0)
        if self.kind == "cosine":
            return 0.5 * (1.0 + tf.cos(math.pi * progress))
        return 1.0 - progress

    def get_config(self):
        return {"peak": self.peak, "kind": self.kind, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps, "decay_rate": self.decay_rate,
                "decay_steps": self.decay_steps, "start_step": self.start_step,
                "decay_fraction": self.decay_fraction}
