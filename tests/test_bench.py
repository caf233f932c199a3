"""The performance report runs end to end in its quick mode, so it cannot rot."""

import json
import subprocess
import sys
import pathlib

import numpy as np

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
