"""RepGAN training samples/s (batch 128) of two code trees, in alternating processes.

    python docs/repgan_step_ab.py OLD_TREE NEW_TREE     (e.g. two `git worktree`s)

Each round starts one process per tree (order reversed every other round); a
process reports the median of three 4-s windows of ``bench.training_throughput``.
The ratio is the median of the per-round ratios (docs/PERFORMANCE.md).
"""

import json
import os
import sys

ROUNDS = 4


def child(tree):
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    sys.path.insert(0, tree)
    from tfpose import bench
    # repgan_cpu's settings by hand: trees older than the recipe must run them too.
    r = bench.training_throughput("repgan", 128, num_frames=50_000, seconds=4.0, repeats=3,
                                  dropout=0.0, ema_decay=0.999, lr_schedule="linear")
    print("RESULT", r["samples_per_s"], flush=True)  # literal: old trees lack RESULT_PREFIX


def main(old, new):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from tfpose import bench  # the order of rounds and the median of per-round ratios

    def window(tree):
        return bench.window_in_process([__file__, "--child", tree], cwd=tree)

    result = bench.interleaved_windows({old: lambda: window(old), new: lambda: window(new)},
                                       ROUNDS, {"new_over_old": (new, old)})
    print(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    elif len(sys.argv) == 3:
        main(sys.argv[1], sys.argv[2])
    else:
        sys.exit(__doc__)
