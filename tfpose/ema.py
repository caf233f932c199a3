"""Exponential moving average of a model's weights (``train.py --ema_decay``).

The average of the last few thousand steps' weights is a better model than
the last step's on a short schedule: it averages out the noise of the
stochastic updates. Validation, evaluation and export use it when it is on.
BatchNorm's moving statistics are averaged too (they are float variables of
the model), so the averaged weights and statistics stay consistent.
"""

from __future__ import annotations

import contextlib
from typing import List, Sequence

import tensorflow as tf


def _value(v):
    return v.value if hasattr(v, "value") and not isinstance(v, tf.Variable) else v


class WeightAverage:
    """Shadow copies of ``variables`` (the float ones), updated after each step.

    The decay warms up as ``min(decay, (1 + n) / (10 + n))`` after n updates
    (as TensorFlow's ``ExponentialMovingAverage`` with ``num_updates``), so
    the first steps' random weights are forgotten quickly.
    """

    def __init__(self, variables: Sequence, decay: float):
        self.decay = float(decay)
        self.sources = [v for v in variables if tf.as_dtype(v.dtype).is_floating]
        agg = tf.VariableAggregation.ONLY_FIRST_REPLICA
        self.averages: List[tf.Variable] = [
            tf.Variable(_value(v), trainable=False, aggregation=agg,
                        name="ema/" + v.name.replace(":", "_").replace("/", "_"))
            for v in self.sources]
        self.updates = tf.Variable(0, dtype=tf.int64, trainable=False, aggregation=agg,
                                   name="ema/updates")

    def update(self, weight_scale=None) -> None:
        """One averaging step (inside the training ``tf.function``, cross-replica context).

        ``weight_scale`` (in [0, 1]) scales the new weights' share ``1 - decay``: scaled by
        the learning rate's decay, the average spans a stretch of weight movement rather than
        of steps, and freezes with the weights when the rate reaches 0 instead of converging
        onto the last weights (``train.py --ema_follows_rate``).
        """
        n = tf.cast(self.updates, tf.float32)
        decay = tf.minimum(self.decay, (1.0 + n) / (10.0 + n))
        if weight_scale is not None:
            decay = 1.0 - (1.0 - decay) * tf.cast(weight_scale, tf.float32)
        for avg, v in zip(self.averages, self.sources):
            avg.assign(decay * avg + (1.0 - decay) * tf.cast(_value(v), avg.dtype))
        self.updates.assign_add(1)

    def checkpoint_objects(self) -> dict:
        return {"ema_variables": list(self.averages), "ema_updates": self.updates}

    def copy_to_model(self) -> None:
        """Overwrite the model's weights with the averages (inference only)."""
        for avg, v in zip(self.averages, self.sources):
            v.assign(avg)

    @contextlib.contextmanager
    def averaged_weights(self):
        """The model holds the averages inside the block, its own weights after it."""
        saved = [tf.identity(_value(v)) for v in self.sources]
        self.copy_to_model()
        try:
            yield
        finally:
            for v, s in zip(self.sources, saved):
                v.assign(s)
