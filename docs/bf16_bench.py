"""bfloat16 against float32 on this CPU: the matmul rates, then training samples/s.

    python docs/bf16_bench.py [OUT.json]

Times the 2048^2 matmul in both precisions, then ``bench.training_throughput``
with ``--mixed_precision=none`` and ``bfloat16`` in 3 interleaved rounds of 3-s
windows (baseline at batch 64 and 1024, RepGAN at batch 128 with its default
recipe, `repgan_cpu`: no dropout, a weight average). Tables in docs/PERFORMANCE.md.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import tensorflow as tf  # noqa: E402

from tfpose import bench, hardware  # noqa: E402

CASES = (("baseline", 64, {}), ("baseline", 1024, {}),
         ("repgan", 128, dict(recipe="repgan_cpu")))


def main(out_path=None):
    out = {"hardware": hardware.describe(measure=False),
           "matmul_float32_gflops": hardware.matmul_gflops(),
           "matmul_bfloat16_gflops": hardware.matmul_gflops(dtype=tf.bfloat16)}
    print(json.dumps(out), flush=True)
    for model, batch, extra in CASES:
        sides = {p: (lambda p=p: bench.training_throughput(
            model, batch, num_frames=50_000, seconds=3.0, repeats=1, mixed_precision=p,
            **extra)["samples_per_s"]) for p in ("none", "bfloat16")}
        r = bench.interleaved_windows(sides, 3, {"bf16/f32": ("bfloat16", "none")})
        out[f"{model}_{batch}"] = r
        print(model, batch, json.dumps({k: r[k] for k in ("samples_per_s", "ratios",
                                                          "ratio_ranges")}), flush=True)
    if out_path:
        with open(out_path, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main(*sys.argv[1:2])
