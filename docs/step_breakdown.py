"""Where a batch-1024 baseline training step goes on this machine.

    PYTHONPATH=. python docs/step_breakdown.py [--seconds=4]

Times the real training step (``tfpose.training``) of the full-width
baseline at batch 1024 with one ingredient removed at a time, and a bare
chain of the same six matmuls (forward, backward, SGD update) as the
ceiling any implementation of this network could reach. Each row is the
median of three windows. Printed as a Markdown table (README, Performance).
"""

import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tfpose import bench  # noqa: E402

BATCH = 1024


def _median_ms(call, seconds):
    call()
    times = []
    for _ in range(3):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            call()
            n += 1
        times.append((time.perf_counter() - start) / n * 1e3)
    return statistics.median(times)


def training_step_ms(seconds, **overrides):
    """Median ms per step of the real training loop (``tfpose.bench``)."""
    row = bench.training_throughput("baseline", BATCH, seconds=seconds, num_frames=50_000,
                                    **overrides)
    return BATCH / row["samples_per_s"] * 1e3


def matmul_chain_ms(seconds):
    dims = [32, 1024, 1024, 1024, 1024, 1024, 51]
    ws = [tf.Variable(tf.random.normal([i, o]) * 0.02) for i, o in zip(dims[:-1], dims[1:])]
    x, y = tf.random.normal([BATCH, 32]), tf.random.normal([BATCH, 51])

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            h = x
            for w in ws[:-1]:
                h = tf.nn.relu(h @ w)
            loss = tf.reduce_mean(tf.square(h @ ws[-1] - y))
        for w, g in zip(ws, tape.gradient(loss, ws)):
            w.assign_sub(1e-4 * g)
        return loss

    return _median_ms(lambda: float(step()), seconds)


def main(seconds=4.0):
    peak = bench.matmul_gflops(2048, 2.0)
    flops = 6 * sum(i * o for i, o in zip([32] + [1024] * 5, [1024] * 5 + [51])) * BATCH
    rows = [("training step (defaults: fused Adam, fast dropout)", training_step_ms(seconds)),
            ("  with Keras Adam and Keras Dropout", training_step_ms(
                seconds, fused_adam=False, fast_dropout=False)),
            ("  without dropout", training_step_ms(seconds, dropout=0.0)),
            ("  without max-norm", training_step_ms(seconds, max_norm=False)),
            ("  bfloat16 trunk (--mixed_precision=bfloat16)", training_step_ms(
                seconds, mixed_precision="bfloat16")),
            ("bare chain of the 6 matmuls + ReLU, fwd+bwd+SGD", matmul_chain_ms(seconds))]
    print(f"2048^2 float32 matmul: {peak:.0f} GFLOP/s; one step: {flops / 1e9:.1f} GFLOP")
    print("| what | ms per step | samples/s | fraction of the matmul rate |")
    print("|---|---:|---:|---:|")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} | {BATCH / ms * 1e3:,.0f} | "
              f"{flops / (ms / 1e3) / 1e9 / peak:.0%} |")


if __name__ == "__main__":
    main(float(sys.argv[1].split("=", 1)[1]) if len(sys.argv) > 1 else 4.0)
    keras.backend.clear_session()
