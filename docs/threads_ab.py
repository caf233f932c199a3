"""Baseline batch-64 float32 training samples/s under TensorFlow's thread-pool settings.

    python docs/threads_ab.py

Thread pools are fixed when TensorFlow starts, so each variant runs in its own
process (3 rounds, order reversed every other round; each process reports the
median of three 3-s windows of ``bench.training_throughput``). Ratios are
medians of per-round ratios against TensorFlow's defaults (docs/PERFORMANCE.md).
"""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROUNDS = 3
# (inter-op threads, intra-op threads); 0 keeps TensorFlow's choice.
VARIANTS = {"default": (0, 0), "inter1": (1, 0), "inter1_intra2": (1, 2), "inter2_intra2": (2, 2)}


def child(name):
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import tensorflow as tf

    inter, intra = VARIANTS[name]
    if inter:
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    if intra:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
    sys.path.insert(0, ROOT)
    from tfpose import bench

    r = bench.training_throughput("baseline", 64, num_frames=50_000, seconds=3.0, repeats=3)
    print(bench.RESULT_PREFIX, r["samples_per_s"], flush=True)


def main():
    sys.path.insert(0, ROOT)
    from tfpose import bench

    sides = {name: (lambda name=name: bench.window_in_process([__file__, "--child", name], ROOT))
             for name in VARIANTS}
    ratios = {f"{name}_over_default": (name, "default") for name in VARIANTS if name != "default"}
    print(json.dumps(bench.interleaved_windows(sides, ROUNDS, ratios)))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        main()
