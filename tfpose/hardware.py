"""What machine a number was measured on: CPU model, cores, matmul rate, accelerators.

Results and benchmarks carry this block, since machines of one kind differ
(the same bfloat16 matmul ran at very different rates on two of them).
"""

from __future__ import annotations

import os
import platform
import time
from typing import Dict

import tensorflow as tf


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def matmul_gflops(n: int = 2048, seconds: float = 1.0, dtype=tf.float32, repeats: int = 3) -> float:
    """Dense n x n matmul rate in GFLOP/s: the best of ``repeats`` windows of ``seconds``
    (the machine's limit; a shared VM's slow windows would inflate every fraction
    computed against it)."""
    a = tf.random.normal([n, n], dtype=tf.float32)
    a, b = tf.cast(a, dtype), tf.cast(tf.transpose(a), dtype)

    @tf.function
    def mm(x, y):
        return tf.reduce_sum(tf.cast(tf.matmul(x, y), tf.float32))

    mm(a, b).numpy()  # compile and warm up
    best = 0.0
    for _ in range(repeats):
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds or runs < 3:
            mm(a, b).numpy()
            runs += 1
        best = max(best, 2.0 * n ** 3 * runs / (time.perf_counter() - start) / 1e9)
    return best


def describe(measure: bool = True) -> Dict:
    """The hardware block of results files (``measure=False`` skips the matmul probe)."""
    out = {"cpu": cpu_model(), "cores": os.cpu_count(),
           "accelerators": [d.name for d in tf.config.list_physical_devices()
                            if d.device_type != "CPU"]}
    if measure:
        out["matmul_float32_gflops"] = round(matmul_gflops(), 1)
    return out
