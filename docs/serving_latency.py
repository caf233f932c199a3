"""Latency of ``lift`` per backend, the measurement behind docs/SERVING.md's
"What lift uses for which batch size" table.

Every backend of one model (a shipped name, a pretrained folder or an
export) lifts the same poses in interleaved rounds (one round: a burst of
calls per backend), so a machine whose load changes during the run slows
them alike; a backend's figure is the median of its per-round medians, and
the ratio column is the median of the per-round ratios to backend "auto".
A call is ``lifter.lift(x)``: the input check, the runtime call and the
NumPy output, what a user's code pays.

    python docs/serving_latency.py --model=baseline-h36m-gt --batches=1,64,1024
    python docs/serving_latency.py --model=EXPORT_DIR --batches=1,64,1024
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tfpose import serving


def lifters(model: str):
    """{label: lifter} for every backend ``model`` has; "auto" first, a
    pretrained model's already converted to TFLite; plus load and conversion
    times in seconds."""
    start = time.perf_counter()
    auto = serving.load(model)
    seconds = {"load (auto)": time.perf_counter() - start}
    if isinstance(auto, serving.KerasLifter):
        start = time.perf_counter()
        auto.convert_to_tflite()
        seconds["in-memory TFLite conversion"] = time.perf_counter() - start
        return {"auto": auto, "keras": serving.load(model, "keras")}, seconds
    found = {"auto": auto}
    for backend in ("saved_model", "saved_model_xla", "tflite"):
        try:
            found[backend] = serving.load(model, backend)
        except serving.ExportError:
            pass
    return found, seconds


def measure(runtimes, x: np.ndarray, rounds: int, seconds_per_call_batch: float):
    """{label: [median seconds of each round]}; each round's burst lasts
    about ``seconds_per_call_batch`` per backend."""
    for lifter in runtimes.values():  # warm-up: tracing, tensor allocation
        for _ in range(10):
            lifter.lift(x)
    calls = {}
    for label, lifter in runtimes.items():
        start = time.perf_counter()
        lifter.lift(x)
        calls[label] = int(np.clip(seconds_per_call_batch / (time.perf_counter() - start), 5, 200))
    medians = {label: [] for label in runtimes}
    for _ in range(rounds):
        for label, lifter in runtimes.items():
            times = []
            for _ in range(calls[label]):
                start = time.perf_counter()
                lifter.lift(x)
                times.append(time.perf_counter() - start)
            medians[label].append(float(np.median(times)))
    return medians


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="shipped name, pretrained folder or export")
    parser.add_argument("--batches", default="1,64,1024", help="poses per call, comma-separated")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.15,
                        help="length of one backend's burst in a round")
    args = parser.parse_args()
    runtimes, seconds = lifters(args.model)
    for what, value in seconds.items():
        print(f"{what}: {value:.2f} s")
    rng = np.random.default_rng(0)
    auto = runtimes["auto"]
    print("| poses per call | backend | served by | median latency (ms) | ratio to auto |")
    print("|---:|---|---|---:|---:|")
    for batch in (int(b) for b in args.batches.split(",")):
        x = (rng.normal(0.0, 60.0, (batch, auto.num_joints_2d, 2)) + 500.0).astype(np.float32)
        medians = measure(runtimes, x, args.rounds, args.seconds)
        for label, lifter in runtimes.items():
            ratio = np.median(np.array(medians[label]) / np.array(medians["auto"]))
            print(f"| {batch} | {label} | {lifter.backend} | "
                  f"{np.median(medians[label]) * 1e3:.3f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
