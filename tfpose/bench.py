"""Performance report: ``python -m tfpose.bench [--quick] [--out=report.json]``.

Measures, on whatever device is present:

* training samples/s of baseline, ASN and RepGAN at batch 64 and 1024 in
  steady state (after compilation), with the training loop's own
  ``make_train_function`` and input pipeline;
* forward+backward FLOPs per sample of each model, counted from its dense
  layers, and the machine's dense matmul rate (2048x2048 float32 in TF), so
  the report can say which fraction of the machine's limit training reaches;
* inference latency (batch 1) and throughput (batch 1024) of the Keras
  model, the SavedModel signatures and the TFLite files of an export
  (:func:`benchmark`);
* TFDS build time and ``tf.data`` pipeline throughput (frames/s) for
  ``human36m/sh`` when the real data is at hand;
* with ``--peer`` (needs the optional ``torch``), the same baseline network
  trained by PyTorch with its default and fused Adam, in windows interleaved
  with tfpose's (:func:`peer_comparison`).

``--quick`` shrinks every measurement so a test can run the whole report.

``--export_dir`` times one export instead and prints Markdown tables
(docs/SERVING.md)::

    python -m tfpose.bench --export_dir=runs/asn_sh/export [--model_dir=runs/asn_sh]
    # a full-width baseline trained on synthetic poses, exported, timed:
    python -m tfpose.bench --export_dir=/tmp/b/export --model_dir=/tmp/b/model \\
        --synthetic_model --num_threads=2
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence

from tfpose import cli  # noqa: E402  before TensorFlow: keeps its start-up log quiet
cli.quiet_tensorflow()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import flags, logging  # noqa: E402

from tfpose import config as config_lib  # noqa: E402
from tfpose import data as data_lib  # noqa: E402
from tfpose import export, normalization, precision, serving, training  # noqa: E402
from tfpose import skeleton as skeleton_lib  # noqa: E402
from tfpose.config import ExperimentConfig  # noqa: E402
from tfpose.models import registry  # noqa: E402
from tfpose.hardware import matmul_gflops  # noqa: E402,F401 (docs/step_breakdown.py uses it)


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
    if isinstance(task, training.AdversarialTask):
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
    ``config_overrides`` are further config fields by flag name (dropout,
    max_norm, fused_adam, ...)."""
    frames = data_lib.synthetic_frames(num_frames, "human36m/sh")
    # The papers' settings unless overridden, so rows stay comparable across versions
    # (RepGAN's default recipe adds a weight average and drops dropout).
    config_overrides.setdefault("recipe", "paper")
    config = ExperimentConfig.from_flat(model=model, dataset="human36m/sh",
                                        batch_size=batch_size, width=width,
                                        steps_per_call=steps_per_call, jit_compile=jit_compile,
                                        mixed_precision=mixed_precision, val_stride=0,
                                        **config_overrides)
    spec = registry.get(model)
    skel_3d = spec.skeletons(config.data.dataset)[1]
    frames = frames.with_3d_joints_of(skel_3d)
    strategy = tf.distribute.get_strategy()
    norm = normalization.create(spec.normalizer, frames.pose_2d, frames.pose_3d,
                                root=skeleton_lib.get(skel_3d).root)
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
            "recipe": config.trainer.recipe, "steps_per_call": k, "jit_compile": jit_compile, "mixed_precision": mixed_precision,
            "steps_per_s": rate / batch_size, "samples_per_s": rate,
            "samples_per_s_range": [min(rates), max(rates)], "train_gflop_per_sample": flops / 1e9,
            "achieved_gflops": rate * flops / 1e9}


def pipeline_throughput(frames: data_lib.Frames, batch_size: int = 1024,
                        seconds: float = 3.0) -> float:
    """Frames/s that the training input pipeline (gather + normalise) delivers."""
    norm = normalization.create(registry.get("baseline").normalizer, frames.pose_2d,
                                frames.pose_3d)

    def transform(p2, p3, seed):
        del seed  # no augmentation: the pipeline's own cost
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


# --------------------------------------------------------------------------
# Inference: one export, every runtime


def train_synthetic_model(model_dir: str, model: str = "baseline",
                          dataset: str = "human36m/sh", width: int = 1024,
                          num_frames: int = 256, batch_size: int = 64, seed: int = 0) -> str:
    """Train ``model`` for one epoch on :func:`tfpose.data.synthetic_frames`
    into ``model_dir``: real shapes and sizes, meaningless weights (timing only)."""
    config = ExperimentConfig.from_flat(model=model, dataset=dataset, epochs=1,
                                        batch_size=batch_size, width=width, val_stride=0,
                                        seed=seed)
    training.fit(config, model_dir,
                 train_frames=data_lib.synthetic_frames(num_frames, dataset, seed),
                 val_frames=None, measure_hardware=False)
    return model_dir


def _time_calls(fn: Callable[[], object], warmup: int, min_runs: int, min_seconds: float,
                max_runs: int = 100_000) -> List[float]:
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_runs or (time.perf_counter() - start < min_seconds
                                    and len(times) < max_runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def benchmark(export_dir: str, model_dir: Optional[str] = None,
              batch_sizes: Sequence[int] = (1, 1024), warmup: int = 20, min_runs: int = 50,
              min_seconds: float = 3.0, num_threads: Optional[int] = None) -> List[Dict]:
    """Median latency of one call per runtime and batch size.

    Runtimes: the Keras model under ``tf.function`` (normalisation included,
    needs ``model_dir``; default: the export's source model directory, skipped
    when it is gone), the SavedModel signatures (default and XLA) and the
    TFLite files (float32, float16, int8), loaded with :func:`tfpose.serving.load`.
    Each call includes feeding the input and fetching the output as NumPy.
    Rows: ``{"runtime", "batch", "median_ms", "p10_ms", "p90_ms", "runs",
    "poses_per_s"}``.
    """
    meta = serving.read_metadata(export_dir)
    j2 = len(meta["joint_names_2d"])
    runtimes = {}
    model_dir = model_dir or meta.get("source_model_dir")
    if model_dir and os.path.isdir(model_dir):
        task = training.restore_task(model_dir)
        fn = tf.function(export.serving_function(task), input_signature=[
            tf.TensorSpec([None, j2, 2], tf.float32)], autograph=False)
        runtimes["keras (tf.function)"] = (
            lambda x: fn(tf.constant(x))[serving.OUTPUT_NAME].numpy())
    runtimes["SavedModel signature"] = serving.load(export_dir, "saved_model").run
    if meta.get("xla_signature_key"):
        runtimes["SavedModel signature (XLA)"] = serving.load(export_dir, "saved_model_xla").run
    for backend, label in (("tflite", "TFLite float32"), ("tflite_fp16", "TFLite float16"),
                           ("tflite_int8", "TFLite int8 (dynamic range)")):
        if backend in meta.get("files", {}):
            runtimes[label] = serving.load(export_dir, backend, num_threads).run
    rows = []
    rng = np.random.default_rng(0)
    for batch in batch_sizes:
        x = (500 + 100 * rng.normal(size=(batch, j2, 2))).astype(np.float32)
        for label, run in runtimes.items():
            times = _time_calls(lambda: run(x), warmup, min_runs, min_seconds)
            med = statistics.median(times)
            q = np.percentile(times, [10, 90])
            rows.append({"runtime": label, "batch": batch, "median_ms": 1e3 * med,
                         "p10_ms": 1e3 * q[0], "p90_ms": 1e3 * q[1], "runs": len(times),
                         "poses_per_s": batch / med})
    return rows


def file_sizes(export_dir: str) -> Dict[str, int]:
    """Bytes of the export's TFLite files and of saved_model/ (recursive)."""
    out = {}
    for name in serving.TFLITE_FILES.values():
        path = os.path.join(export_dir, name)
        if os.path.isfile(path):
            out[name] = os.path.getsize(path)
    total = 0
    for root, _, names in os.walk(os.path.join(export_dir, serving.SAVED_MODEL_DIR)):
        total += sum(os.path.getsize(os.path.join(root, n)) for n in names)
    out[serving.SAVED_MODEL_DIR + "/"] = total
    return out


def format_benchmark(rows: List[Dict], sizes: Dict[str, int]) -> str:
    """:func:`benchmark` rows and :func:`file_sizes` as Markdown tables."""
    lines = ["| runtime | batch | median latency (ms) | p10-p90 (ms) | poses/s | runs |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['runtime']} | {r['batch']} | {r['median_ms']:.3f} | "
                     f"{r['p10_ms']:.3f}-{r['p90_ms']:.3f} | {r['poses_per_s']:,.0f} | {r['runs']} |")
    lines += ["", "| file | size |", "|---|---:|"]
    for name, size in sizes.items():
        lines.append(f"| {name} | {size / 2**20:.2f} MiB ({size:,} bytes) |")
    return "\n".join(lines)


def export_report(export_dir: str, model_dir: Optional[str] = None,
                  synthetic_model: bool = False, seconds: float = 3.0,
                  num_threads: Optional[int] = None) -> str:
    """The ``--export_dir`` mode: export ``model_dir`` into ``export_dir``
    first when it holds no export (training a synthetic model into
    ``model_dir`` first when asked and it has no checkpoint), then time it."""
    if synthetic_model:
        if not model_dir:
            raise ValueError("--synthetic_model needs --model_dir (where to train it)")
        if not os.path.isdir(os.path.join(model_dir, "ckpt")):
            train_synthetic_model(model_dir)
    if not os.path.isfile(os.path.join(export_dir, serving.METADATA_FILE)):
        if not model_dir:
            raise ValueError(f"{export_dir} holds no export ({serving.METADATA_FILE}); pass "
                             f"--model_dir to export one there first")
        export.export_model_dir(model_dir, export_dir)
    rows = benchmark(export_dir, model_dir, min_seconds=seconds, num_threads=num_threads)
    return format_benchmark(rows, file_sizes(export_dir))


# --------------------------------------------------------------------------
# The PyTorch peer


RESULT_PREFIX = "RESULT"


def window_in_process(argv: Sequence[str], cwd: Optional[str] = None) -> float:
    """One timing window in a fresh Python process (``python *argv``) that prints
    ``RESULT <samples/s>``: for settings TensorFlow fixes when it starts (thread
    pools, another code tree). Raises with the child's last stderr if it printed none."""
    p = subprocess.run([sys.executable, *argv], capture_output=True, text=True, cwd=cwd)
    values = [float(line.split()[1]) for line in p.stdout.splitlines()
              if line.startswith(RESULT_PREFIX + " ")]
    if not values:
        raise RuntimeError(f"{' '.join(argv)} printed no {RESULT_PREFIX} line "
                           f"(exit {p.returncode}): {p.stderr[-2000:]}")
    return values[0]


def interleaved_windows(sides: Dict[str, Callable[[], float]], rounds: int,
                        ratios: Dict[str, Sequence[str]]) -> Dict:
    """Time every side once per round, the order reversed every other round.

    ``sides`` maps a name to a callable that times one window and returns
    samples/s; ``ratios`` maps a name to (numerator side, denominator side).
    Adjacent windows share the machine's state of the moment, so each ratio is
    the median of the per-round ratios, not the ratio of the medians (single
    windows on a shared machine move by 10-15 %). Returns ``{"windows": {side:
    [samples/s per round]}, "samples_per_s": {side: median}, "ratios": {name:
    median}, "ratio_ranges": {name: [min, max]}}``.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    unknown = sorted({s for pair in ratios.values() for s in pair} - set(sides))
    if unknown:
        raise ValueError(f"ratios name unknown sides {', '.join(unknown)}; "
                         f"sides: {', '.join(sides)}")
    names = list(sides)
    windows: Dict[str, List[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            windows[name].append(float(sides[name]()))
    per_round = {key: [a / b for a, b in zip(windows[num], windows[den])]
                 for key, (num, den) in ratios.items()}
    return {"windows": windows,
            "samples_per_s": {name: statistics.median(w) for name, w in windows.items()},
            "ratios": {key: statistics.median(v) for key, v in per_round.items()},
            "ratio_ranges": {key: [min(v), max(v)] for key, v in per_round.items()}}


def require_torch():
    """:mod:`tfpose.bench_torch`, or a one-line error saying how to install torch."""
    try:
        from tfpose import bench_torch
    except ImportError as e:
        raise ValueError(f"the PyTorch comparison needs torch ({e}); install it with "
                         f"pip install -e \".[peer]\" (CPU build: pip install torch "
                         f"--index-url https://download.pytorch.org/whl/cpu)") from None
    return bench_torch


def peer_comparison(batch_sizes: Sequence[int] = (64, 256, 1024), rounds: int = 5,
                    seconds: float = 3.0, width: int = 1024,
                    num_frames: int = 100_000, mixed_precision: str = "none") -> Dict:
    """Baseline training samples/s of tfpose beside PyTorch's, per batch size.

    ``mixed_precision`` is tfpose's (``auto`` resolved once, by its probe); with
    bfloat16 the peer adds rows with ``torch.autocast`` bfloat16 as well, so each
    precision has its like-for-like peer.

    Per round: one :func:`training_throughput` window of tfpose's baseline
    (its default config) and one window each of :class:`tfpose.bench_torch.PeerTrainer`
    with torch's default Adam and, where this torch runs it on CPU, its fused
    Adam; all on the same synthetic frames of human36m/sh shape. Rows give each
    side's median samples/s and the medians of per-round ratios
    (:func:`interleaved_windows`).
    """
    bench_torch = require_torch()
    env = bench_torch.environment()
    spec = registry.get("baseline")
    frames = data_lib.synthetic_frames(num_frames, "human36m/sh").with_3d_joints_of(
        spec.skeletons("human36m/sh")[1])
    defaults = ExperimentConfig.from_flat(model="baseline")
    mixed_precision, evidence = precision.resolve(mixed_precision)
    out: Dict = {**env, "rounds": rounds, "seconds": seconds, "width": width,
                 "num_frames": num_frames,
                 "tfpose_config": {"fused_adam": defaults.optimizer.fused_adam,
                                   "fast_dropout": defaults.model.fast_dropout,
                                   "steps_per_call": 10, "jit_compile": False,
                                   "mixed_precision": mixed_precision,
                                   "mixed_precision_probe": evidence},
                 "rows": []}
    for batch in batch_sizes:
        sides = {"tfpose": lambda b=batch: training_throughput(
            "baseline", b, width=width, seconds=seconds, num_frames=num_frames,
            repeats=1, mixed_precision=mixed_precision)["samples_per_s"]}
        ratios = {}
        peers = [("torch_default", False, False)]
        if env["fused_adam_cpu"]:
            peers.append(("torch_fused", True, False))
        if mixed_precision == "bfloat16":  # torch's best Adam, in bfloat16 like tfpose
            label, fused, _ = peers[-1]
            peers.append((f"{label}_bfloat16", fused, True))
        for label, fused, bf16 in peers:
            trainer = bench_torch.PeerTrainer(frames.pose_2d, frames.pose_3d, batch,
                                              fused=fused, width=width, bfloat16=bf16)
            sides[label] = lambda t=trainer: t.window(seconds)
            ratios[f"tfpose_over_{label}"] = ("tfpose", label)
        logging.info("peer comparison: batch %d, %d rounds of %s", batch, rounds,
                     ", ".join(sides))
        result = interleaved_windows(sides, rounds, ratios)
        out["rows"].append({"batch_size": batch,
                            **{f"{k}_samples_per_s": v
                               for k, v in result["samples_per_s"].items()},
                            **result["ratios"],
                            **{f"{k}_range": v for k, v in result["ratio_ranges"].items()},
                            "windows": result["windows"]})
    return out


# --------------------------------------------------------------------------
# The report


def report(quick: bool = False, manual_dir: Optional[str] = None,
           seconds: Optional[float] = None, peer: bool = False) -> Dict:
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
        "training": [], "inference": None, "tfds": None, "peer": None,
    }
    if peer:  # first: its windows are the ones whose ratios matter
        out["peer"] = peer_comparison((64,) if quick else (64, 256, 1024),
                                      rounds=2 if quick else 5, seconds=seconds, width=width,
                                      num_frames=4096 if quick else 100_000)
    # (steps per call, XLA, mixed precision) per row; every row at batch 64 in full mode.
    variants = ((1, False, "none"), (10, False, "none"), (10, True, "none"),
                (10, False, "bfloat16"))
    for model in config_lib.MODEL_KINDS:
        for batch in ((64,) if quick else (64, 1024)):
            rows = (variants if batch == 64 and not quick else
                    [v for v in variants if v[0] == 10 and not v[1]])
            if quick and model != "baseline":  # one bfloat16 row is enough to test it
                rows = [v for v in rows if v[2] == "none"]
            for k, jit, mp in rows:
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
        model_dir = train_synthetic_model(os.path.join(tmp, "m"), width=width)
        export_dir = export.export_model_dir(model_dir, os.path.join(tmp, "e"))
        rows = benchmark(export_dir, model_dir, batch_sizes=(1, 1024),
                         warmup=2 if quick else 20, min_runs=3 if quick else 50,
                         min_seconds=0.2 if quick else 3.0, num_threads=os.cpu_count())
        out["inference"] = {"width": width, "rows": rows, "sizes": file_sizes(export_dir)}
    if manual_dir and os.path.isdir(manual_dir):
        out["tfds"] = tfds_build(manual_dir, subjects=["S9"] if quick else None)
    return out


def define_flags():
    flags.DEFINE_bool("quick", False, "Tiny models and short timings (tests).")
    flags.DEFINE_string("out", None, "Write the JSON report here too.")
    flags.DEFINE_string("manual_dir", None, "Human3.6M raw data for the TFDS/pipeline timing "
                        "(default: $TFPOSE_H36M_DIR).")
    flags.DEFINE_float("seconds", None, "Timed seconds per training measurement; with "
                       "--export_dir, per runtime and batch size (default 3).")
    flags.DEFINE_bool("peer", False, "Add the PyTorch peer (the same baseline network, "
                      "torch's default and fused Adam) at batch 64/256/1024 in windows "
                      "interleaved with tfpose's; needs torch (pip install -e \".[peer]\").")
    flags.DEFINE_string("export_dir", None, "Time this export (every runtime, batch 1 and "
                        "1024) instead of the full report; made first from --model_dir when "
                        "it holds no export.")
    flags.DEFINE_string("model_dir", None, "With --export_dir: the trained model (for the "
                        "keras row, and to export when --export_dir is empty; default: the "
                        "export's source model directory).")
    flags.DEFINE_bool("synthetic_model", False, "With --export_dir: train a full-width "
                      "baseline on synthetic poses into --model_dir first when it has no "
                      "checkpoint (timing only).")
    flags.DEFINE_integer("num_threads", None, "TFLite interpreter threads with --export_dir "
                         "(default: TFLite's).")


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    if FLAGS.export_dir:
        try:
            print(export_report(FLAGS.export_dir, FLAGS.model_dir, FLAGS.synthetic_model,
                                FLAGS.seconds or 3.0, FLAGS.num_threads))
        except (ValueError, training.TrainingError, OSError) as e:
            cli.fail("tfpose.bench", e)
        return
    manual = flags.FLAGS.manual_dir or os.environ.get("TFPOSE_H36M_DIR")
    if flags.FLAGS.peer:
        try:
            require_torch()
        except ValueError as e:
            cli.fail("tfpose.bench", e)
    result = report(flags.FLAGS.quick, manual, flags.FLAGS.seconds, flags.FLAGS.peer)
    text = json.dumps(result, indent=1)
    if flags.FLAGS.out:
        with open(flags.FLAGS.out, "w") as f:
            f.write(text)
    print(text)


def run(argv=None):
    """``tfpose-bench`` / ``python -m tfpose.bench``."""
    cli.run(main, define_flags, argv)


if __name__ == "__main__":
    run()
