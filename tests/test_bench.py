"""The performance report runs end to end in its quick mode, so it cannot rot;
the export benchmark (`--export_dir`) times every runtime of an export."""

import json
import subprocess
import sys
import pathlib

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_bench_quick_report(tmp_path, shared_data):
    out = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "tfpose.bench", "--quick", f"--out={out}",
         f"--manual_dir={shared_data / 'h36m'}"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={"PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["matmul_2048_gflops"] > 1
    models = {row["model"] for row in report["training"]}
    assert models == {"baseline", "asn", "repgan"}
    for row in report["training"]:
        assert row["samples_per_s"] > 0 and row["train_gflop_per_sample"] > 0
        np.testing.assert_allclose(row["fraction_of_matmul_peak"],
                                   row["achieved_gflops"] / report["matmul_2048_gflops"])
    assert {r["mixed_precision"] for r in report["training"]} == {"none", "bfloat16"}
    assert report["matmul_2048_bf16_gflops"] > 1
    # RepGAN trains three networks per step: more FLOPs per sample than the baseline.
    flops = {r["model"]: r["train_gflop_per_sample"] for r in report["training"]
             if r["mixed_precision"] == "none"}
    assert flops["repgan"] > flops["asn"] > flops["baseline"]
    runtimes = {(r["runtime"], r["batch"]) for r in report["inference"]["rows"]}
    assert ("TFLite float32", 1) in runtimes and ("SavedModel signature", 1024) in runtimes
    assert report["tfds"]["frames"] > 0 and report["tfds"]["pipeline_frames_per_s"] > 0


def test_benchmark_times_every_runtime_of_an_export(synthetic_export):
    from tfpose import bench

    model_dir, export_dir = synthetic_export("baseline", "human36m/sh")
    rows = bench.benchmark(str(export_dir), str(model_dir), batch_sizes=(1, 8), warmup=1,
                           min_runs=2, min_seconds=0.0)
    assert {r["runtime"] for r in rows} == {"keras (tf.function)", "SavedModel signature",
                                            "SavedModel signature (XLA)",
                                            "TFLite float32", "TFLite float16",
                                            "TFLite int8 (dynamic range)"}
    assert len(rows) == 12 and all(r["median_ms"] > 0 and r["runs"] >= 2 for r in rows)
    for r in rows:
        np.testing.assert_allclose(r["poses_per_s"], r["batch"] / (r["median_ms"] / 1e3))
        assert r["p10_ms"] <= r["median_ms"] <= r["p90_ms"]
    sizes = bench.file_sizes(str(export_dir))
    assert set(sizes) == {"model.tflite", "model_fp16.tflite", "model_int8.tflite",
                          "saved_model/"}
    assert sizes["model.tflite"] == (export_dir / "model.tflite").stat().st_size
    assert sizes["model_int8.tflite"] < sizes["model_fp16.tflite"] < sizes["model.tflite"]
    table = bench.format_benchmark(rows, sizes)
    assert "| TFLite float16 | 8 |" in table and "model_fp16.tflite" in table


def test_export_dir_mode_of_the_cli(synthetic_export, tmp_path):
    _, export_dir = synthetic_export("baseline", "human36m/sh")
    env = {"PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "tfpose.bench", f"--export_dir={export_dir}",
                           "--seconds=0", "--num_threads=1"],
                          cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for runtime in ("keras (tf.function)", "SavedModel signature", "TFLite int8 (dynamic range)"):
        for batch in (1, 1024):
            assert f"| {runtime} | {batch} |" in proc.stdout, proc.stdout
    assert "| model.tflite |" in proc.stdout
    # No export there and nothing to export from: a one-line error.
    proc = subprocess.run([sys.executable, "-m", "tfpose.bench", f"--export_dir={tmp_path}"],
                          cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert f"{tmp_path} holds no export (metadata.json); pass --model_dir" in proc.stderr


def test_window_in_process_reads_the_childs_result_line(tmp_path):
    """Settings fixed at TensorFlow's start-up are timed one process per window: the
    child's ``RESULT`` line is its samples/s; a child without one is an error that
    carries the child's stderr."""
    from tfpose import bench

    child = tmp_path / "child.py"
    child.write_text("import sys\nprint('warming up')\nprint('RESULT', 2 * float(sys.argv[1]))\n"
                     "print('RESULT 0')\n")
    assert bench.window_in_process([str(child), "6.25"]) == 12.5
    silent = tmp_path / "silent.py"
    silent.write_text("import sys\nprint('RESULTS 3')\nsys.exit('no thread pool: 7')\n")
    with pytest.raises(RuntimeError, match=r"printed no RESULT line \(exit 1\).*no thread pool: 7"):
        bench.window_in_process([str(silent)])
