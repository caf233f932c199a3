"""tfpose beside PyTorch on this machine: the report in docs/bench_peer_cpu.json.

    python docs/peer_bench.py OUT.json [PRECISION]   (needs torch: pip install -e ".[peer]")

PRECISION is tfpose's --mixed_precision (none, bfloat16 or auto; default none); with
bfloat16 the peer adds torch.autocast bfloat16 rows.

Runs ``tfpose.bench.peer_comparison()`` (5 interleaved rounds of 3-s windows
at batch 64/256/1024) and times the float32 matmul rate before and after it,
since a shared VM's speed moves during a run.
"""

import datetime
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfpose import bench, hardware  # noqa: E402


def main(out_path: str, mixed_precision: str = "none") -> None:
    start = time.time()
    before = hardware.matmul_gflops()
    report = bench.peer_comparison(mixed_precision=mixed_precision)
    after = hardware.matmul_gflops()
    report["hardware"] = {**hardware.describe(measure=False),
                          "matmul_float32_gflops_before_and_after": [round(before, 1),
                                                                     round(after, 1)]}
    report["command"] = " ".join(["python docs/peer_bench.py", out_path, mixed_precision])
    report["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                                      capture_output=True, text=True).stdout.strip()
    report["date"] = datetime.date.today().isoformat()
    report["wall_seconds"] = round(time.time() - start, 1)
    with open(out_path, "w") as f:
        json.dump(report, f, indent=1)
    for row in report["rows"]:
        ratios = ", ".join(f"x{v:.2f} {k[len('tfpose_over_'):]}" for k, v in row.items()
                           if k.startswith("tfpose_over_") and not k.endswith("_range"))
        print(f"batch {row['batch_size']}: tfpose {row['tfpose_samples_per_s']:.0f} samples/s, "
              f"{ratios}")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(*sys.argv[1:])
