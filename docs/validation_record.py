"""Commit a validation run's curve without its weights, and draw such curves.

A validation run (``--val_subjects``, e.g. S8 held out of training) chooses a
recipe and is never evaluated on S9/S11, so what is worth keeping in git is
its command, configuration, hardware and per-epoch history:

    python docs/validation_record.py write /work/runs/val_repgan_gt_alt \
        docs/results/validation/repgan_gt_alt_S8.json --note="..."
    python docs/validation_record.py plot docs/results/figures/repgan_val.png \
        docs/results/validation/repgan_gt_*_S8.json

Curves are drawn against training steps where every record gives them (runs
with different epoch lengths stay comparable), else against epochs.
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

PURPOSE = ("recipe selection on a validation subject (held out of training); never evaluated "
           "on S9/S11")


def record(model_dir: str, note: str = "") -> dict:
    """The committed form of a validation run: command, settings, hardware and history."""
    with open(os.path.join(model_dir, "config.json")) as f:
        run = json.load(f)
    with open(os.path.join(model_dir, "history.json")) as f:
        history = json.load(f)
    out = {"purpose": PURPOSE, "command_line": run.get("command_line"),
           "resume_command_lines": run.get("resume_command_lines", []),
           "train_config": run.get("train_config"), "hardware": run.get("hardware"),
           "schedule": run.get("schedule"), "history": history}
    if note:
        out["note"] = note
    return out


def validation_curve(rec: dict, x: str = "epoch"):
    """(epochs or steps, values, metric name) of a record's validation metric."""
    history = rec["history"]
    epochs = sorted(history, key=int)
    names = [k for k in history[epochs[0]] if k.startswith("val_")]
    if not names:
        raise ValueError("the record's history has no validation metric (val_*)")
    xs = [int(e) for e in epochs] if x == "epoch" else [history[e][x] for e in epochs]
    return xs, [history[e][names[0]] for e in epochs], names[0]


def _has_steps(rec: dict) -> bool:
    return all("steps" in entry for entry in rec["history"].values())


def plot(figure: str, paths) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    records = []
    for path in paths:
        with open(path) as f:
            records.append(json.load(f))
    x = "steps" if all(_has_steps(rec) for rec in records) else "epoch"
    metric = None
    for path, rec in zip(paths, records):
        xs, values, metric = validation_curve(rec, x)
        ax.plot(xs, values, marker="o", ms=3, label=os.path.basename(path))
    ax.set_xlabel("training steps" if x == "steps" else "epoch")
    ax.set_ylabel(f"validation {metric} (mm)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(figure)
    print(f"wrote {figure}")


def main(argv) -> int:
    if len(argv) >= 3 and argv[0] == "write":
        note = next((a.split("=", 1)[1] for a in argv[3:] if a.startswith("--note=")), "")
        from tfpose import cli

        cli.quiet_tensorflow()  # tfpose.atomic imports TensorFlow
        from tfpose import atomic

        atomic.write_json(argv[2], record(argv[1], note))
        print(f"wrote {argv[2]}")
        return 0
    if len(argv) >= 3 and argv[0] == "plot":
        plot(argv[1], argv[2:])
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
