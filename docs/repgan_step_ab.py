"""RepGAN training samples/s (batch 128) of two code trees, in alternating processes.

    python docs/repgan_step_ab.py OLD_TREE NEW_TREE     (e.g. two `git worktree`s)

Each round starts one process per tree (order reversed every other round); a
process reports the median of three 4-s windows of ``bench.training_throughput``.
The ratio is the median of the per-round ratios (docs/PERFORMANCE.md).
"""

import json
import statistics
import subprocess
import sys

ROUNDS = 4


def child(tree):
    import os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    sys.path.insert(0, tree)
    from tfpose import bench
    r = bench.training_throughput("repgan", 128, num_frames=50_000, seconds=4.0, repeats=3,
                                  dropout=0.0, ema_decay=0.999, lr_schedule="linear")
    print("RESULT", r["samples_per_s"], flush=True)


def main(old, new):
    rates = {old: [], new: []}
    for rnd in range(ROUNDS):
        for tree in ((old, new) if rnd % 2 == 0 else (new, old)):
            p = subprocess.run([sys.executable, __file__, "--child", tree], capture_output=True,
                               text=True, cwd=tree)
            values = [float(line.split()[1]) for line in p.stdout.splitlines()
                      if line.startswith("RESULT")]
            if not values:
                sys.exit(p.stderr[-2000:])
            rates[tree].append(values[0])
            print(rnd, tree, round(values[0]), flush=True)
    ratios = [b / a for a, b in zip(rates[old], rates[new])]
    print(json.dumps({"rates": rates, "ratios": ratios,
                      "new_over_old_median": statistics.median(ratios)}))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    elif len(sys.argv) == 3:
        main(sys.argv[1], sys.argv[2])
    else:
        sys.exit(__doc__)
