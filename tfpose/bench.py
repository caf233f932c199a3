"""Performance report: ``python -m tfpose.bench [--quick] [--out=report.json]``.

Measures, on whatever device is present:

* training samples/s of baseline, ASN and RepGAN at batch 64 and 1024 in
  steady state (after compilation), with the training loop's own
  ``make_train_function`` and input pipeline;
* forward+backward FLOPs per sample of each model, counted from its dense
  layers, and the machine's dense matmul rate (2048x2048 float32 in TF), so
  the report can say which fraction of the machine's limit training reaches;
* inference latency (batch 1) and throughput (batch 1024) of the Keras
  model, the SavedModel signature and TFLite (see ``tfpose.export``);
* TFDS build time and ``tf.data`` pipeline throughput (frames/s) for
  ``human36m/sh`` when the real data is at hand.

``--quick`` shrinks every measurement so a test can run the whole report.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from typing import Dict, Optional

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from tfpose import data as data_lib  # noqa: E402
from tfpose import export, normalization, training  # noqa: E402


def matmul_gflops(n: int = 2048, seconds: float = 2.0, dtype=tf.float32,
                  repeats: int = 3) -> float:
    """The device's matmul rate, GFLOP/s: the best of ``repeats`` windows of
    ``seconds`` (the machine's limit; a shared VM's slow windows would
    inflate every fraction computed against it)."""
    a = tf.cast(tf.random.normal([n, n]), dtype)
    b = tf.cast(tf.random.normal([n, n]), dtype)

    @tf.function
    def mm(a, b):
        return tf.reduce_sum(tf.cast(tf.matmul(a, b), tf.float32))

    mm(a, b).numpy()
    best = 0.0
    for _ in range(repeats):
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds or runs < 3:
            mm(a, b).numpy()
            runs += 1
        best = max(best, 2 * n ** 3 * runs / (time.perf_counter() - start) / 1e9)
    return best


def _dense_macs(model) -> int:
    """Multiply-accumulates of one forward pass through every Dense kernel."""
    return int(sum(np.prod(v.shape) for v in model.trainable_variables
                   if len(v.shape) == 2))


def train_flops_per_sample(task: training.Task) -> float:
    """Forward+backward FLOPs per training sample (dense layers; 1 MAC = 2 FLOPs).

    Supervised: forward + backward ~ 3 forward passes. RepGAN: generator and
    reprojector 3 passes each; the critic runs on real, fake and interpolated
    inputs, with a second-order backward pass for the gradient penalty:
    counted as 9 critic passes (an estimate; the report says so).
    """
    if task.config.model == "repgan":
        m = task.model
        return 2.0 * (3 * _dense_macs(m.generator) + 3 * _dense_macs(m.reprojector)
                      + 9 * _dense_macs(m.discriminator))
    return 2.0 * 3 * _dense_macs(task.model)


def training_throughput(model: str, batch_size: int, *, width: int = 1024,
                        steps_per_call: int = 10, jit_compile: bool = False,
                        mixed_precision: str = "none", seconds: float = 5.0,
                        num_frames: int = 100_000, repeats: int = 3, **config_overrides) -> Dict:
    """Steady-state training samples/s on synthetic frames of human36m/sh shape.

    ``repeats`` timed windows of ``seconds`` each; the report gives their
    median (a shared VM moves single windows by +-10 %) and their range.
    ``config_overrides`` go to ``TrainConfig`` (dropout, max_norm, fused_adam, ...)."""
    frames = export.synthetic_frames(num_frames, "human36m/sh")
    config = training.TrainConfig(model=model, dataset="human36m/sh", batch_size=batch_size,
                                  width=width, steps_per_call=steps_per_call,
                                  jit_compile=jit_compile, mixed_precision=mixed_precision,
                                  val_stride=0, **config_overrides)
    frames = frames.with_3d_joints_of(config.skeletons()[1])
    strategy = tf.distribute.get_strategy()
    norm = normalization.for_model(model, frames.pose_2d, frames.pose_3d)
    task = training.make_task(config, norm, strategy)
    columns, independent = task.columns(frames)
    fn = training.make_train_function(task, strategy, tf.Variable(-1, dtype=tf.int64))
    epoch = [0]

    def fresh_iterator():
        epoch[0] += 1
        return iter(strategy.distribute_datasets_from_function(
            lambda ctx: data_lib.training_dataset(columns, task.transform, batch_size, 0,
                                                  epoch[0], 0, ctx, independent)))

    steps_per_epoch = data_lib.steps_per_epoch(num_frames, batch_size)
    k = min(steps_per_call, steps_per_epoch)
    it, left = fresh_iterator(), steps_per_epoch
    fn(it, tf.constant(k))  # compile
    left -= k
    rates = []
    for _ in range(repeats):
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds or steps < 2 * k:
            if left < k:
                it, left = fresh_iterator(), steps_per_epoch
            logs = fn(it, tf.constant(k))
            left -= k
            steps += k
        float(logs["loss"])
        rates.append(steps * batch_size / (time.perf_counter() - start))
    flops = train_flops_per_sample(task)
    rate = float(np.median(rates))
    return {"model": model, "batch_size": batch_size, "width": width,
            "steps_per_call": k, "jit_compile": jit_compile, "mixed_precision": mixed_precision,
            "steps_per_s": rate / batch_size, "samples_per_s": rate,
            "samples_per_s_range": [min(rates), max(rates)], "train_gflop_per_sample": flops / 1e9,
            "achieved_gflops": rate * flops / 1e9}


def pipeline_throughput(frames: data_lib.Frames, batch_size: int = 1024,
                        seconds: float = 3.0) -> float:
    """Frames/s that the training input pipeline (gather + normalise) delivers."""
    norm = normalization.for_model("baseline", frames.pose_2d, frames.pose_3d)

    def transform(p2, p3):
        return norm.normalize_2d(p2), norm.normalize_3d(p3)

    n, start, epoch = 0, time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        for x, _ in data_lib.training_dataset([frames.pose_2d, frames.pose_3d], transform,
                                              batch_size, 0, epoch, 0):
            n += int(x.shape[0])
            if time.perf_counter() - start > seconds:
                break
        epoch += 1
    return n / (time.perf_counter() - start)


def tfds_build(manual_dir: str, subjects=None) -> Dict:
    """Time a fresh build of human36m/sh (all of it, or some subjects)."""
    import tfds_human36m

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        builder = tfds_human36m.prepare("human36m/sh", manual_dir=manual_dir, data_dir=tmp,
                                        subjects=subjects)
        build_s = time.perf_counter() - start
        size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(tmp) for f in fs)
        split = "train" if "train" in builder.info.splits else "test"
        start = time.perf_counter()
        frames = data_lib.load_frames("human36m/sh", split, data_dir=tmp, subjects=subjects)
        load_s = time.perf_counter() - start
        return {"subjects": subjects or "all", "build_s": build_s, "size_mb": size / 1e6,
                "flatten_split": split, "flatten_s": load_s, "frames": len(frames),
                "pipeline_frames_per_s": pipeline_throughput(frames)}


def report(quick: bool = False, manual_dir: Optional[str] = None,
           seconds: Optional[float] = None) -> Dict:
    seconds = seconds or (0.5 if quick else 3.0)
    width = 64 if quick else 1024
    out: Dict = {
        "device": [d.name for d in tf.config.list_logical_devices()],
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "cpu_count": os.cpu_count(), "platform": platform.platform(),
        "tensorflow": tf.__version__, "quick": quick,
        "matmul_2048_gflops": matmul_gflops(512 if quick else 2048, 0.3 if quick else 2.0),
        "matmul_2048_bf16_gflops": matmul_gflops(512 if quick else 2048, 0.3 if quick else 2.0,
                                                 tf.bfloat16),
        "training": [], "inference": None, "tfds": None,
    }
    # (steps per call, XLA, mixed precision) per row; every row at batch 64 in full mode.
    variants = ((1, False, "none"), (10, False, "none"), (10, True, "none"),
                (10, False, "bfloat16"))
    for model in ("baseline", "asn", "repgan"):
        for batch in ((64,) if quick else (64, 1024)):
            for k, jit, mp in (variants if batch == 64 and not quick else
                               [v for v in variants if v[0] == 10 and not v[1]]):
                logging.info("training throughput: %s batch %d k=%d jit=%s mixed=%s",
                             model, batch, k, jit, mp)
                row = training_throughput(model, batch, width=width, steps_per_call=k,
                                          jit_compile=jit, mixed_precision=mp, seconds=seconds,
                                          num_frames=4096 if quick else 100_000,
                                          repeats=1 if quick else 3)
                # Against the float32 matmul rate (the reference) and, for
                # bfloat16 rows, against the bfloat16 matmul rate as well.
                row["fraction_of_matmul_peak"] = row["achieved_gflops"] / out["matmul_2048_gflops"]
                if mp == "bfloat16":
                    row["fraction_of_bf16_matmul_peak"] = (row["achieved_gflops"]
                                                           / out["matmul_2048_bf16_gflops"])
                out["training"].append(row)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = export.make_synthetic_model_dir(os.path.join(tmp, "m"), width=width)
        export_dir = export.export_model_dir(model_dir, os.path.join(tmp, "e"))
        rows = export.benchmark(export_dir, model_dir, batch_sizes=(1, 1024),
                                warmup=2 if quick else 20, min_runs=3 if quick else 50,
                                min_seconds=0.2 if quick else 3.0,
                                num_threads=os.cpu_count())
        out["inference"] = {"width": width, "rows": rows, "sizes": export.file_sizes(export_dir)}
    if manual_dir and os.path.isdir(manual_dir):
        out["tfds"] = tfds_build(manual_dir, subjects=["S9"] if quick else None)
    return out


def _define_flags():
    flags.DEFINE_bool("quick", False, "Tiny models and short timings (tests).")
    flags.DEFINE_string("out", None, "Write the JSON report here too.")
    flags.DEFINE_string("manual_dir", None, "Human3.6M raw data for the TFDS/pipeline timing "
                        "(default: $TFPOSE_H36M_DIR).")
    flags.DEFINE_float("seconds", None, "Timed seconds per training measurement.")


def main(argv):
    del argv
    manual = flags.FLAGS.manual_dir or os.environ.get("TFPOSE_H36M_DIR")
    result = report(flags.FLAGS.quick, manual, flags.FLAGS.seconds)
    text = json.dumps(result, indent=1)
    if flags.FLAGS.out:
        with open(flags.FLAGS.out, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    _define_flags()
    app.run(main)
