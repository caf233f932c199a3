"""Kill trials: SIGKILL training at random moments, resume, compare with an uninterrupted run.

    PYTHONPATH=. python docs/kill_trials.py [--kills=20] [--models=baseline,asn,repgan]
        [--out=docs/results/kill_trials.json] [--seed=0]

For each model (small, on ``data.synthetic_frames``, two epochs with
validation, a checkpoint every 4 steps): one uninterrupted run, then the
same run killed ``--kills`` times and resumed after each kill, then resumed to
the end. The final weights (raw and weight-averaged) must equal the
uninterrupted run's. Two kinds of kill:

* at a random moment: the parent sends SIGKILL once the run reaches a random
  global step (sorted over the kills, so they spread over the whole run) plus
  a random delay of up to four steps' time: steps, epoch ends with validation
  and history writes, and checkpoint writes all get hit;
* inside a checkpoint write (about one kill in four): the training process
  SIGKILLs itself during its first or second save of the segment, at a random
  delay within the save's duration, or, if the files are written before the
  delay ends, between writing the files and recording them in the
  ``checkpoint`` state file.

A kill counts as "during a checkpoint write" when the process died between
starting and finishing a save (its own markers say so), whatever sent it.
Prints a table and writes it, with every kill's details, as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ("baseline", "asn", "repgan")
FRAMES, VAL_FRAMES, EPOCHS = 1280, 256, 2
# Each model with the switches that make resuming hard (augmentation randomness,
# weight averages, annealed rates, several critic updates per step).
SETTINGS = {
    "baseline": dict(dataset="human36m/sh", batch_size=64, flip=True, noise_std=3.0),
    "asn": dict(dataset="human36m/sh", batch_size=64, ema_decay=0.99, lr_schedule="cosine",
                warmup_steps=5),
    "repgan": dict(dataset="human36m/gt", batch_size=32, critic_steps=2, ema_decay=0.9),
}
COMMON = dict(epochs=EPOCHS, width=32, seed=7, checkpoint_every=4, steps_per_call=2,
              val_stride=1)
CHILD_TIMEOUT_S = 900
RTOL, ATOL = 1e-5, 1e-6


def total_steps(model: str) -> int:
    s = SETTINGS[model]
    return EPOCHS * (FRAMES // (s["batch_size"] * s.get("critic_steps", 1)))


# --------------------------------------------------------------------------
# The training process


def child(args) -> None:
    """Train (or resume) ``args.model`` in ``args.model_dir``; print markers on stdout;
    write the final weights to ``final_weights.npz`` when the run is complete."""
    import threading

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.experimental.enable_op_determinism()
    from tfpose import data, training
    from tfpose.config import ExperimentConfig

    def mark(*words):
        print(" ".join(str(w) for w in words), flush=True)

    def die(where):
        mark("KILLED_IN_SAVE", where)
        os.kill(os.getpid(), signal.SIGKILL)

    saves = [0]
    real_save = tf.train.CheckpointManager.save

    def save(self, checkpoint_number=None, **kw):
        saves[0] += 1
        start = time.perf_counter()
        mark("SAVE_BEGIN", checkpoint_number)
        if saves[0] == args.kill_in_save:
            threading.Timer(args.kill_delay, die, ("writing-files",)).start()
            # Runs once the files are written, before the state file records them.
            kw["options"] = tf.train.CheckpointOptions(experimental_write_callbacks=[
                lambda save_path: die("files-written-not-recorded")])
        path = real_save(self, checkpoint_number, **kw)
        mark("SAVE_END", checkpoint_number, f"{time.perf_counter() - start:.4f}")
        return path

    tf.train.CheckpointManager.save = save
    real_make_train_function = training.make_train_function

    ready, steps = [], [0]

    def make_train_function(*a, **kw):
        train_calls = real_make_train_function(*a, **kw)

        def marked(iterator, n):
            logs = train_calls(iterator, n)
            steps[0] += int(n)
            mark("STEPS", steps[0])  # steps done by this process
            if not ready:  # the first call traced the step: training runs from here
                ready.append(time.perf_counter())
                mark("READY")
            return logs
        return marked

    training.make_train_function = make_train_function
    s = SETTINGS[args.model]
    config = ExperimentConfig.from_flat(model=args.model, **s, **COMMON)
    frames = data.synthetic_frames(FRAMES, s["dataset"], seed=1)
    val = data.synthetic_frames(VAL_FRAMES, s["dataset"], seed=2)
    training.fit(config, args.model_dir, train_frames=frames, val_frames=val,
                 measure_hardware=False)
    mark("DONE", f"{time.perf_counter() - ready[0]:.3f}" if ready else "0")
    weights = {}
    for averaged in (False, True):
        task = training.restore_task(args.model_dir, averaged=averaged)
        for i, v in enumerate(task.model.weights):
            weights[f"{'averaged' if averaged else 'raw'}_{i}"] = v.numpy()
    np.savez(os.path.join(args.model_dir, "final_weights.npz"), **weights)


# --------------------------------------------------------------------------
# The parent


_LIVE: set = set()  # training processes not waited for yet (killed if the parent stops)


class Segment:
    """One training process: started, maybe killed, its markers read back."""

    def __init__(self, model: str, model_dir: str, log_prefix: str,
                 kill_in_save: int = 0, kill_delay: float = 0.0):
        cmd = [sys.executable, os.path.abspath(__file__), "--child", f"--model={model}",
               f"--model_dir={model_dir}", f"--kill_in_save={kill_in_save}",
               f"--kill_delay={kill_delay}"]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
               "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.out_path, self.err_path = log_prefix + ".out", log_prefix + ".err"
        self._out, self._err = open(self.out_path, "w"), open(self.err_path, "w")
        self.start = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=self._err, env=env, cwd=REPO)
        _LIVE.add(self.proc)

    def lines(self) -> List[str]:
        with open(self.out_path) as f:
            return f.read().splitlines()

    def steps_done(self) -> int:
        """Training steps this process has taken (-1: its loop has not started)."""
        done = [int(line.split()[1]) for line in self.lines() if line.startswith("STEPS")]
        return done[-1] if done and "READY" in self.lines() else -1

    def wait_steps(self, steps: int, timeout: float) -> bool:
        """Until the process has taken ``steps`` steps (False: it ended first)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.steps_done() >= steps:
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.01)
        raise TimeoutError(f"{self.out_path}: not {steps} steps in {timeout:.0f} s")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)

    def wait(self, timeout: float = CHILD_TIMEOUT_S) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self.kill()
            self.proc.wait()
            _LIVE.discard(self.proc)
            self._out.close()
            self._err.close()

    def died_in_save(self) -> bool:
        marks = [line.split()[0] for line in self.lines() if line.startswith("SAVE_")]
        return bool(marks) and marks[-1] == "SAVE_BEGIN"

    def killed_where(self) -> Optional[str]:
        return next((line.split()[1] for line in self.lines()
                     if line.startswith("KILLED_IN_SAVE")), None)

    def training_seconds(self) -> float:
        """From the start of the training loop to the end of fit."""
        return next(float(line.split()[1]) for line in self.lines() if line.startswith("DONE"))

    def save_seconds(self) -> List[float]:
        return [float(line.split()[2]) for line in self.lines() if line.startswith("SAVE_END")]

    def stderr_tail(self, n: int = 3000) -> str:
        with open(self.err_path) as f:
            return f.read()[-n:]

    def fallbacks(self) -> int:
        """Damaged checkpoints this process skipped on restore (a kill should leave none)."""
        with open(self.err_path) as f:
            return len(re.findall(r"checkpoint \S+ is unreadable", f.read()))


def recorded_step(model_dir: str) -> int:
    """Global step of the newest recorded checkpoint (0: none), from the state file."""
    path = os.path.join(model_dir, "ckpt", "checkpoint")
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        match = re.search(r'^model_checkpoint_path: ".*-(\d+)"', f.read(), re.M)
    return int(match.group(1)) if match else 0


def _max_difference(a_path: str, b_path: str):
    a, b = np.load(a_path), np.load(b_path)
    if sorted(a.files) != sorted(b.files):
        return float("inf"), False
    diff = max(float(np.abs(a[k] - b[k]).max()) if a[k].size else 0.0 for k in a.files)
    close = all(np.allclose(a[k], b[k], rtol=RTOL, atol=ATOL) for k in a.files)
    return diff, close


def run_trial(model: str, kills: int, workdir: str, seed: int = 0,
              save_kill_share: float = 0.25, log=print) -> Dict:
    """The uninterrupted run, ``kills`` killed segments and the final resume of one model."""
    rng = np.random.default_rng(seed)
    base = os.path.join(workdir, model)
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(os.path.join(base, "logs"))
    reference, trial = os.path.join(base, "uninterrupted"), os.path.join(base, "killed")
    started = time.monotonic()

    ref = Segment(model, reference, os.path.join(base, "logs", "uninterrupted"))
    if ref.wait() != 0:
        raise RuntimeError(f"{model}: the uninterrupted run failed:\n{ref.stderr_tail()}")
    train_seconds = ref.training_seconds()
    save_seconds = float(np.median(ref.save_seconds() or [0.05]))
    steps = total_steps(model)
    step_seconds = train_seconds / steps

    n_save = max(1, int(round(kills * save_kill_share))) if kills else 0
    in_save = set(rng.choice(kills, size=min(n_save, kills), replace=False).tolist())
    # Random kills: at sorted random global steps of the run, each plus a random
    # delay of up to a few steps' time (a save, validation or history write may
    # be under way then).
    targets = iter(np.sort(rng.integers(1, steps - 3, kills)))
    events, crashes = [], []
    for i in range(kills):
        target = int(next(targets))
        before = recorded_step(trial)
        progress = before / steps
        prefix = os.path.join(base, "logs", f"segment-{i + 1:02d}")
        if i in in_save:
            nth = 1 if progress > 0.8 else int(rng.integers(1, 3))
            delay = float(rng.uniform(0.0, save_seconds))
            seg = Segment(model, trial, prefix, kill_in_save=nth, kill_delay=delay)
            kind = f"in save {nth}"
        else:
            seg = Segment(model, trial, prefix)
            kind = f"at step {target}"
            delay = float(rng.uniform(0.0, 4 * step_seconds))
            if seg.wait_steps(max(target - before, 1), CHILD_TIMEOUT_S):
                time.sleep(delay)
                seg.kill()
        code = seg.wait()
        event = {"kill": i + 1, "kind": kind, "delay_s": round(delay, 4),
                 "checkpoint_step_before": before, "checkpoint_step_after": recorded_step(trial),
                 "killed": code == -signal.SIGKILL, "during_checkpoint_write": False,
                 "damaged_checkpoints_skipped": seg.fallbacks()}
        if code == -signal.SIGKILL:
            event["during_checkpoint_write"] = seg.died_in_save()
            event["where"] = seg.killed_where() or (
                "checkpoint write" if seg.died_in_save() else
                "after fit returned" if any(line.startswith("DONE") for line in seg.lines())
                else "training")
        elif code == 0:
            event["where"] = "run finished before the kill"
        else:
            crashes.append(f"segment {i + 1} exited with {code}:\n{seg.stderr_tail()}")
            event["where"] = f"crashed (exit {code})"
        events.append(event)
        log(f"  {model} kill {i + 1}/{kills}: {kind:11s} ckpt step {before:3d} -> "
            f"{event['checkpoint_step_after']:3d}  {event['where']}")
        if code == 0 or crashes:
            break

    final = Segment(model, trial, os.path.join(base, "logs", "final"))
    code = final.wait()
    if code != 0:
        crashes.append(f"final resume exited with {code}:\n{final.stderr_tail()}")
    diff, close = (float("inf"), False)
    weights = os.path.join(trial, "final_weights.npz")
    if code == 0 and os.path.exists(weights):
        diff, close = _max_difference(os.path.join(reference, "final_weights.npz"), weights)
    with open(os.path.join(trial, "history.json")) as f:
        history = json.load(f)
    made = sum(e["killed"] for e in events)
    during = sum(e["during_checkpoint_write"] for e in events if e["killed"])
    skipped = sum(e["damaged_checkpoints_skipped"] for e in events) + final.fallbacks()
    passed = (close and not crashes and made == kills and sorted(history) ==
              [str(e) for e in range(1, EPOCHS + 1)] and skipped == 0)
    return {"model": model, "kills": made, "kills_requested": kills,
            "kills_during_checkpoint_write": during, "max_weight_difference": diff,
            "damaged_checkpoints_skipped": skipped, "passed": bool(passed),
            "total_steps": steps, "uninterrupted_training_seconds": round(train_seconds, 2),
            "seconds": round(time.monotonic() - started, 1), "events": events,
            "crashes": crashes}


def table(results: List[Dict]) -> str:
    rows = ["| model | kills | kills during checkpoint writes | max weight difference | "
            "pass |", "|---|---:|---:|---:|---|"]
    for r in results:
        rows.append(f"| {r['model']} | {r['kills']} | {r['kills_during_checkpoint_write']} | "
                    f"{r['max_weight_difference']:.3g} | {'pass' if r['passed'] else 'FAIL'} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="Kills per model.")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(REPO, "docs", "results",
                                                      "kill_trials.json"))
    parser.add_argument("--workdir", default=None, help="Keep the runs here (default: a "
                        "temporary directory, removed at the end).")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--model_dir", help=argparse.SUPPRESS)
    parser.add_argument("--kill_in_save", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--kill_delay", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0
    models = [m for m in args.models.split(",") if m]
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        parser.error(f"unknown models {', '.join(unknown)}; expected {', '.join(MODELS)}")
    workdir = args.workdir or tempfile.mkdtemp(prefix="tfpose-kill-trials-")
    started = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("kill_trials.py: terminated"))
    try:
        results = [run_trial(m, args.kills, workdir, seed=args.seed + i)
                   for i, m in enumerate(models)]
    finally:
        for proc in list(_LIVE):
            proc.kill()
            proc.wait()
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(table(results))
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                 resource.RUSAGE_CHILDREN)]
    report = {"command": " ".join(["python", "docs/kill_trials.py"] + (argv or sys.argv[1:])),
              "seconds": round(time.monotonic() - started, 1),
              "cpu_seconds": round(sum(u.ru_utime + u.ru_stime for u in usage), 1),
              "cpus": os.cpu_count(), "results": results}
    print(f"{report['seconds']:.0f} s, {report['cpu_seconds']:.0f} CPU-s on {os.cpu_count()} "
          "CPUs")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    for r in results:
        for crash in r["crashes"]:
            print(f"{r['model']}: {crash}", file=sys.stderr)
    return 0 if all(r["passed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
