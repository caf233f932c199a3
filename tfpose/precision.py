"""Mixed precision: the switch behind ``train.py --mixed_precision``.

``"bfloat16"`` runs the wide fully connected trunks (Dense, BatchNorm
statistics stay float32 inside Keras) in bfloat16 while every variable, the
output heads, the attention module, the KCS layers and all losses stay
float32. bfloat16 has float32's exponent range, so no loss scaling is needed;
it is fast on GPUs since Ampere, on TPUs and on CPUs with AVX512-BF16/AMX
(measured speed-ups: README, Performance). float16 (which would need loss
scaling) is deliberately not offered.

Weights trained this way are float32 variables, so a model directory
restores, evaluates and exports in float32 whatever it was trained with.
"""

from __future__ import annotations

import contextlib

import keras

MODES = {"none": "float32", "bfloat16": "mixed_bfloat16"}


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"unknown mixed_precision {mode!r}; expected one of {', '.join(MODES)}")
    return mode


@contextlib.contextmanager
def dtype_policy(mode: str = "none"):
    """Layers created inside follow ``mode``'s Keras dtype policy."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(MODES[check_mode(mode)])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
