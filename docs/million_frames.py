"""Peak memory and time of ``python -m tfpose.predict`` on a million frames.

Writes a ``[1_000_000, J2, 2]`` float32 ``.npy`` of random pixel keypoints,
lifts it in a child process (the export's runtime runs it in batches) and
prints the child's peak resident memory (``resource.getrusage``) and wall
time. The numbers are recorded in docs/RELIABILITY.md.

    PYTHONPATH=. python docs/million_frames.py [--model=EXPORT_DIR] [--backend=tflite]

Without ``--model`` a width-64 baseline is trained one epoch on synthetic
frames and exported into the work folder first (as the tests do).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def synthetic_export(workdir: str) -> str:
    sys.path.insert(0, REPO_ROOT)
    from tests.conftest import make_synthetic_model_dir
    from tfpose import export

    model_dir = os.path.join(workdir, "model")
    make_synthetic_model_dir(model_dir)
    export_dir = os.path.join(model_dir, "export")
    export.export_model_dir(model_dir, export_dir, float16=False, int8=False)
    return export_dir


def measure(export_dir: str, workdir: str, frames: int, backend: str) -> dict:
    """Lift ``frames`` random poses through the CLI in a child process."""
    with open(os.path.join(export_dir, "metadata.json")) as f:
        num_joints = len(json.load(f)["joint_names_2d"])
    path = os.path.join(workdir, "million.npy")
    keypoints = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                          shape=(frames, num_joints, 2))
    rng = np.random.default_rng(0)
    for start in range(0, frames, 100_000):  # written in slices: the parent stays small
        stop = min(frames, start + 100_000)
        keypoints[start:stop] = rng.uniform(0, 1000, (stop - start, num_joints, 2))
    keypoints.flush()
    del keypoints
    output = os.path.join(workdir, "million_3d.npz")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "",
           "PYTHONPATH": REPO_ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "tfpose.predict", f"--model={export_dir}", f"--input={path}",
           f"--output={output}", f"--backend={backend}"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"predict failed ({proc.returncode}): {proc.stderr[-2000:]}")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: KiB
    with np.load(output) as out:
        shape = list(out["keypoints_3d"].shape)
        finite = bool(np.isfinite(out["keypoints_3d"]).all())
    return {"frames": frames, "joints_2d": num_joints, "backend": backend,
            "input_mib": round(os.path.getsize(path) / 2 ** 20, 1),
            "output_mib": round(os.path.getsize(output) / 2 ** 20, 1),
            "output_shape": shape, "all_finite": finite,
            "peak_rss_mib": round(peak_kib / 1024, 1), "wall_s": round(wall, 1),
            "stdout": proc.stdout.strip().splitlines()[-1:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="an export directory (default: a synthetic one)")
    parser.add_argument("--backend", default="tflite")
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--workdir", help="where the files go (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or tmp
        os.makedirs(workdir, exist_ok=True)
        export_dir = args.model or synthetic_export(workdir)
        print(json.dumps(measure(export_dir, workdir, args.frames, args.backend)))


if __name__ == "__main__":
    main()
