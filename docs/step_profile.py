"""Where a small-batch training step spends its time, before and after a change.

    PYTHONPATH=. python docs/step_profile.py [--batch=64] [--model=baseline]

Traces the real training step (``tfpose.bench.training_throughput``: the
training loop's ``tf.function``, synthetic frames through the real input
pipeline) with ``tf.profiler`` and sums the executor's op time per part of
the step (both compute threads together, so with ops overlapping the parts
add up to more than the wall time; the trace's own overhead inflates them
too), once with the max-norm constraint the step had before
(``keras.constraints.MaxNorm``) and once with ``tfpose.layers.MaxNorm``.
Then times every variant in interleaved windows in this one process
(``bench.interleaved_windows``: a shared VM moves single windows by 10 % and
more, so speed-ups are medians of per-round ratios). Printed as Markdown
tables (docs/PERFORMANCE.md).
"""

import argparse
import collections
import contextlib
import glob
import os
import re
import sys
import tempfile
from unittest import mock

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tfpose import bench, hardware, layers  # noqa: E402

MATMUL_TYPES = {"MatMul", "_MklMatMul", "_MklNativeFusedMatMul", "_FusedMatMul", "BiasAdd",
                "BiasAddGrad"}
# Every step records its finiteness once (training.make_train_function): one IsFinite per step.
STEP_MARKER = "IsFinite"
PARTS = ("dense matmuls (forward + backward)", "Adam update", "max-norm constraint", "BatchNorm",
         "dropout", "ReLU, loss, EMA, step bookkeeping",
         "executor between ops (scheduling, thread hand-offs)")


def part_of(path: str, op_type: str) -> str:
    """Which part of the step an executor op belongs to, from its name scope and type."""
    if "max_norm" in path:
        return PARTS[2]
    if op_type in MATMUL_TYPES and "max_norm" not in path:
        return PARTS[0]
    if re.search(r"adam", path, re.IGNORECASE):
        # Keras applies kernel constraints inside the optimizer's name scope: everything there
        # but the update kernel and its step-size scalars is the constraint.
        if op_type in ("ResourceApplyAdam", "Pow", "Cast", "ReadVariableOp", "AssignAddVariableOp"):
            return PARTS[1]
        return PARTS[2]
    if "/bn/" in path:
        return PARTS[3]
    if "dropout" in path:
        return PARTS[4]
    return PARTS[5]


def op_times(logdir: str):
    """(ms per part, number of steps) from the newest trace in logdir.

    The last part is the executor's own time: its spans minus the ops inside them."""
    path = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True))[-1]
    space = xplane_pb2.XSpace()
    with open(path, "rb") as f:
        space.ParseFromString(f.read())
    plane = next(p for p in space.planes if p.name == "/host:CPU")
    totals, steps, executor_ms = collections.Counter(), 0, 0.0
    for line in plane.lines:
        if not line.name.startswith("tf_Compute"):
            continue
        for event in line.events:
            name = plane.event_metadata[event.metadata_id].name
            if name.startswith("ExecutorState::Process"):
                executor_ms += event.duration_ps / 1e9
                continue
            if ":" not in name or "::" in name:
                continue  # thread-pool and other spans, not ops
            op_path, op_type = name.rsplit(":", 1)
            op_path = re.sub(r"_\d+(?=/|$)", "", op_path)  # bn_1/Sum_3 -> bn/Sum
            steps += op_type == STEP_MARKER
            totals[part_of(op_path, op_type)] += event.duration_ps / 1e9
    totals[PARTS[-1]] = max(0.0, executor_ms - sum(totals.values()))
    return totals, steps


def keras_max_norm(max_value):
    """The constraint before tfpose.layers.MaxNorm (Keras's, per unit)."""
    return keras.constraints.MaxNorm(max_value, axis=0)


# name -> (training_throughput overrides, whether to build with Keras's MaxNorm)
VARIANTS = {
    "before: Keras MaxNorm": ({}, True),
    "after: tfpose MaxNorm": ({}, False),
    "after, 50 steps per call": ({"steps_per_call": 50}, False),
    "after, XLA (--jit_compile)": ({"jit_compile": True}, False),
}


def run_variant(name, model, batch, **kwargs):
    overrides, keras_constraint = VARIANTS[name]
    patch = (mock.patch.object(layers, "MaxNorm", keras_max_norm) if keras_constraint
             else contextlib.nullcontext())
    with patch:
        return bench.training_throughput(model, batch, num_frames=50_000,
                                         **overrides, **kwargs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--model", default="baseline")
    parser.add_argument("--seconds", type=float, default=3.0, help="per timing window")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    args = parser.parse_args()
    names = list(VARIANTS)
    profiled = names[:2]
    parts = {}
    for name in profiled:
        with tempfile.TemporaryDirectory() as logdir:
            tf.profiler.experimental.start(logdir)
            run_variant(name, args.model, args.batch, seconds=1.0, repeats=1)
            tf.profiler.experimental.stop()
            totals, steps = op_times(logdir)
        parts[name] = {part: totals[part] / steps for part in PARTS}
    timed = bench.interleaved_windows(
        {name: (lambda n=name: run_variant(n, args.model, args.batch, seconds=args.seconds,
                                           repeats=1)["samples_per_s"]) for name in names},
        args.rounds, {name: (name, names[0]) for name in names[1:]})
    peak = hardware.matmul_gflops(2048, 2.0)
    print(f"{args.model}, batch {args.batch}; 2048^2 float32 matmul {peak:.0f} GFLOP/s; "
          f"{args.rounds} interleaved rounds of {args.seconds:g} s")
    print()
    print("| variant | samples/s (median) | ms per step | speed-up over before (median, range) |")
    print("|---|---:|---:|---:|")
    for name in names:
        rate = timed["samples_per_s"][name]
        ratio = timed["ratios"].get(name)
        speedup = ("1.00" if ratio is None else
                   f"{ratio:.2f} ({timed['ratio_ranges'][name][0]:.2f}-"
                   f"{timed['ratio_ranges'][name][1]:.2f})")
        print(f"| {name} | {rate:,.0f} | {args.batch / rate * 1e3:.1f} | {speedup} |")
    print()
    print("| part of the step (op time, ms per step) | " + " | ".join(profiled) + " |")
    print("|---|" + "---:|" * len(profiled))
    for part in PARTS:
        print(f"| {part} | " + " | ".join(f"{parts[n][part]:.1f}" for n in profiled) + " |")
    print("| all ops | " + " | ".join(f"{sum(parts[n].values()):.1f}" for n in profiled) + " |")


if __name__ == "__main__":
    main()
