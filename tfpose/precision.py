"""Mixed precision: the switch behind ``train.py --mixed_precision``.

``"bfloat16"`` runs the wide fully connected trunks (Dense, BatchNorm
statistics stay float32 inside Keras) in bfloat16 while every variable, the
output heads, the attention module, the KCS layers and all losses stay
float32. bfloat16 has float32's exponent range, so no loss scaling is needed;
it is fast on GPUs since Ampere, on TPUs and on CPUs with AVX512-BF16/AMX
but on some CPUs that report the instructions it runs slower than float32,
so ``"auto"`` measures both on the machine at hand (:func:`probe`) and keeps
the faster; the choice is recorded with the run. float16 (which would need
loss scaling) is deliberately not offered.

Weights trained this way are float32 variables, so a model directory
restores, evaluates and exports in float32 whatever it was trained with.
"""

from __future__ import annotations

import contextlib
import time
from typing import Dict, Tuple

import keras

MODES = {"none": "float32", "bfloat16": "mixed_bfloat16"}
AUTO = "auto"


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"unknown mixed_precision {mode!r}; expected one of {', '.join(MODES)}")
    return mode


def probe(width: int = 1024, batch_size: int = 256, seconds: float = 1.0,
          repeats: int = 3) -> Dict[str, float]:
    """Training samples/s of a Martinez-sized dense stack (3 x Dense(width) + BN + ReLU,
    forward and backward) in float32 and in bfloat16: best of ``repeats`` windows each,
    the two modes interleaved so a noisy machine slows both alike."""
    import tensorflow as tf

    rates: Dict[str, float] = {}
    steps = {}
    for mode in MODES:
        with dtype_policy(mode):
            layers = []
            for _ in range(3):
                layers += [keras.layers.Dense(width), keras.layers.BatchNormalization(),
                           keras.layers.ReLU()]
            model = keras.Sequential([keras.Input((width,))] + layers + [
                keras.layers.Dense(51, dtype="float32")])
        x = tf.random.normal([batch_size, width])

        @tf.function
        def step(model=model, x=x):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(model(x, training=True)))
            grads = tape.gradient(loss, model.trainable_variables)
            return tf.add_n([tf.reduce_sum(g) for g in grads])

        step().numpy()  # trace and warm up
        steps[mode] = step
        rates[mode] = 0.0
    for _ in range(repeats):
        for mode, step in steps.items():
            runs, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds or runs < 3:
                step().numpy()
                runs += 1
            rates[mode] = max(rates[mode], runs * batch_size / (time.perf_counter() - start))
    return rates


def resolve(mode: str, width: int = 1024, batch_size: int = 256) -> Tuple[str, Dict]:
    """``(mode, evidence)``: ``"auto"`` becomes the faster of float32 and bfloat16 here."""
    if mode != AUTO:
        return check_mode(mode), {}
    rates = probe(width, batch_size)
    chosen = "bfloat16" if rates["bfloat16"] > rates["none"] else "none"
    return chosen, {"samples_per_second": rates, "chosen": chosen}


@contextlib.contextmanager
def dtype_policy(mode: str = "none"):
    """Layers created inside follow ``mode``'s Keras dtype policy."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(MODES[check_mode(mode)])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
