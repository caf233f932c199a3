"""Markdown tables for docs/RESULTS.md from evaluate.py's results.json files.

    python docs/results_tables.py docs/results/*.json
    python docs/results_tables.py --bars=docs/results/per_joint.png a.json b.json
    python docs/results_tables.py --ablation baseline_sh.json asn_sh_basic_ref.json ... asn_sh.json
    python docs/results_tables.py --noise repgan_gt*.json                    (RepGAN Table 3)
    python docs/results_tables.py --gan_ablation repgan_gt_{sep,syn}_*.json   (RepGAN Table 5)
    python docs/results_tables.py --time_to_accuracy[=curve.png] runs*.json   (recipe, hours,
        steps, protocol #1/#2; the figure: validation error against wall-clock hours)
    python docs/results_tables.py --seeds repgan_gt_seed*.json                (mean and spread)

``--bars`` draws ASN Fig. 5 (per-joint errors, hard | other joints) for the
given runs, which must share a 3D skeleton.

Reads only what evaluate.py wrote; the papers' numbers are typed in below
from the tables of the two papers (../shared/papers).
"""

import json
import sys

from tfpose.actions import H36M_ACTIONS as ACTIONS
SHORT = ("Direct", "Discuss", "Eat", "Greet", "Phone", "Photo", "Pose", "Purch", "Sit",
         "SitD", "Smoke", "Wait", "WalkD", "Walk", "WalkT")


def _row(values):
    return dict(zip(ACTIONS + ("Avg",), values))


# Papers' per-action rows, each keyed by the (model, trained_on, tested_on) of the runs it is
# printed beside. ASN Table 1 (protocol #1, SH 2D) reordered into ACTIONS order; RepGAN
# Tables 1-2 are already in that order.
SH, GT = "human36m/sh", "human36m/gt"
PAPER = {
    "Martinez (ASN Table 1, SH)": (("baseline", SH, SH), _row([
        52.99, 60.55, 62.08, 62.72, 86.10, 83.49, 57.96, 58.89, 81.70, 99.59, 69.17, 64.04, 67.49,
        50.72, 54.63, 67.48])),
    "ASN (ASN Table 1, SH)": (("asn", SH, SH), _row([
        51.77, 59.38, 59.55, 60.33, 84.15, 80.44, 56.22, 57.36, 79.73, 97.68, 67.07, 62.53, 65.25,
        48.76, 52.48, 65.51])),
    "RepGAN (Table 1, GT, #1)": (("repgan", GT, GT), _row([
        43.3, 52.9, 42.5, 48.7, 45.9, 59.8, 44.9, 45.9, 49.5, 55.9, 44.9, 49.6, 51.3, 43.0, 45.9,
        48.3])),
    "RepGAN (Table 2, GT, #2)": (("repgan", GT, GT), _row([
        32.1, 36.6, 30.1, 36.3, 31.4, 39.6, 33.4, 31.4, 34.5, 40.8, 33.5, 34.8, 36.1, 30.9, 34.7,
        34.4])),
    "RepGAN (Table 1, SH-SH, #1)": (("repgan", SH, SH), _row([
        93.7, 102.7, 95.8, 103.8, 117.9, 113.7, 93.7, 103.1, 111.5, 133.6, 104.4, 99.9, 106.5,
        94.1, 97.5, 104.8])),
    "RepGAN (Table 2, SH-SH, #2)": (("repgan", SH, SH), _row([
        70.8, 75.2, 73.4, 78.2, 88.0, 80.1, 70.3, 71.3, 86.3, 98.8, 82.4, 72.3, 79.6, 74.5, 79.1,
        78.7])),
    "RepGAN (Table 1, SH-SH-z, #1)": (("repgan", SH, SH), _row([
        43.9, 52.6, 46.4, 53.4, 64.9, 63.8, 48.0, 50.5, 60.0, 84.7, 52.5, 51.8, 56.2, 41.7, 45.6,
        54.4])),
    "RepGAN (Table 1, SH-GT, #1)": (("repgan", SH, GT), _row([
        57.9, 64.9, 60.1, 64.4, 68.0, 74.4, 62.5, 68.6, 67.5, 87.3, 59.9, 65.3, 63.1, 55.7, 61.6,
        65.4])),
    "RepGAN (Table 2, SH-GT, #2)": (("repgan", SH, GT), _row([
        41.5, 43.6, 39.9, 45.5, 46.4, 49.9, 44.4, 44.8, 46.5, 67.2, 44.2, 45.0, 45.4, 39.6, 43.9,
        45.9])),
}
# RepGAN Table 3 (protocol #2), printed with --noise: noise in training and test (top and
# bottom parts) and noise in training only, GT test (middle part).
PAPER_NOISE = {
    "RepGAN (Table 3, GT+N(0,5), #2)": _row([50.7, 51.6, 48.9, 55.1, 51.3, 57.5, 51.8, 49.3, 51.9,
                                             55.7, 51.8, 51.1, 54.4, 47.7, 51.9, 52.1]),
    "RepGAN (Table 3, GT+N(0,10), #2)": _row([72.3, 73.9, 71.6, 77.8, 74.3, 80.0, 74.6, 73.5, 75.4,
                                              83.7, 75.3, 75.7, 78.0, 73.7, 76.1, 75.7]),
    "RepGAN (Table 3, GT+N(0,5), z only)": _row([30.9, 32.8, 30.4, 35.4, 33.9, 37.6, 34.3, 30.6,
                                                 33.8, 36.7, 34.1, 33.1, 35.3, 29.1, 32.1, 33.3]),
    "RepGAN (Table 3, GT+N(0,10), z only)": _row([36.3, 38.7, 36.1, 42.2, 40.1, 44.8, 40.6, 38.7,
                                                  40.5, 47.9, 40.8, 41.1, 42.7, 38.2, 40.0, 40.6]),
    "RepGAN (Table 3, train N(0,5), test GT, #2)": _row([
        37.5, 38.2, 35.6, 42.9, 38.3, 46.4, 38.9, 34.9, 39.5, 41.9, 38.9, 38.1, 41.6, 33.7, 38.5,
        39.0]),
    "RepGAN (Table 3, train N(0,10), test GT, #2)": _row([
        42.2, 43.1, 40.7, 48.5, 45.4, 52.9, 45.9, 41.2, 45.6, 53.7, 45.2, 44.9, 47.5, 42.9, 46.7,
        45.8]),
}


def table(rows):
    head = "| | " + " | ".join(SHORT) + " | Avg |"
    sep = "|---|" + "---:|" * (len(SHORT) + 1)
    lines = [head, sep]
    for name, per_action in rows.items():
        cells = [f"{per_action[a]:.1f}" if a in per_action else "-" for a in ACTIONS + ("Avg",)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def bars(out, paths):
    from tfpose import skeleton, visualize

    errors, skel = {}, None
    for path in paths:
        with open(path) as f:
            r = json.load(f)
        names = list(r["per_joint"])
        skel = skeleton.by_joint_names(names)
        variant = _variant(r)
        label = r["model"] + (f" {variant}" if variant != "basic" else "")
        errors[label] = [r["per_joint"][n] for n in names]
    visualize.save_per_joint_bars(out, errors, skel, title="Per-joint error, protocol #1 (mm)")
    print(f"wrote {out}")


# ASN Table 2 (protocol #1, SH 2D, average over actions).
PAPER_ABLATION = {"basic": 67.48, "basic+ref": 68.66, "basic+ref+AM*": 66.78,
                  "basic+ref+AM": 66.15, "basic+ref+AM+REM": 65.51}


def _variant(result) -> str:
    """The ASN Table 2 row of a run: its model's ``variant`` argument; Martinez's network
    (the baseline, which has none) is the "basic" row."""
    from tfpose.config import ExperimentConfig
    from tfpose.models import registry

    model = ExperimentConfig.from_flat(asn_variant=result["train_config"]["asn_variant"]).model
    return registry.get(result["model"]).kwargs(model, "").get("variant", "basic")


def ablation(paths):
    """ASN Table 2: one row per variant (the baseline run is the "basic" row)."""
    ours = {}
    for path in paths:
        r = _load(path)
        variant = _variant(r)
        ours[variant] = (path.rsplit("/", 1)[-1], r)
    print("| variant | paper protocol #1 | ours protocol #1 | ours protocol #2 | hard joints "
          "| other joints | limb bone RMSE |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for variant, paper in PAPER_ABLATION.items():
        if variant not in ours:
            print(f"| {variant} | {paper:.2f} | not run | | | | |")
            continue
        name, r = ours[variant]
        p1 = r["protocols"]["protocol1"]["per_action"]["Avg"]
        p2 = r["protocols"]["protocol2"]["per_action"]["Avg"]
        print(f"| {variant} (`{name}`) | {paper:.2f} | {p1:.1f} | {p2:.1f} | "
              f"{r['hard_joints']:.1f} | {r['other_joints']:.1f} | "
              f"{r['bone_length_rmse']['avg']:.1f} |")


# RepGAN Table 5 (Human3.6M, GT 2D, protocol #1 N-MPJPE, average over actions).
PAPER_GAN_ABLATION = {("Sep", "kcs"): 50.6, ("Sep", "wkcs"): 49.9, ("Syn", "kcs"): 49.6,
                      ("Syn", "wkcs"): 48.3}


def gan_ablation(paths):
    """RepGAN Table 5: one row per (training strategy, critic input) read from train_config."""
    ours = {}
    for path in paths:
        r = _load(path)
        cfg = r["train_config"]
        ours.setdefault(("Syn" if cfg["synchronous"] else "Sep", cfg["kcs"]), []).append(
            (path.rsplit("/", 1)[-1], r))
    print("| strategy + critic input | paper protocol #1 | ours protocol #1 | ours protocol #2 "
          "| ours z only | epochs |")
    print("|---|---:|---:|---:|---:|---:|")

    def cell(runs, pick):
        values = [pick(r) for _, r in runs]
        mean = sum(values) / len(values)
        return f"{mean:.1f}" + (f" (+-{(max(values) - min(values)) / 2:.1f})"
                                if len(values) > 1 else "")

    for (strategy, kcs), paper in PAPER_GAN_ABLATION.items():
        label = f"{strategy} + {'wKCS' if kcs == 'wkcs' else 'KCS'}"
        if (strategy, kcs) not in ours:
            print(f"| {label} | {paper:.1f} | not run | | | |")
            continue
        runs = ours[(strategy, kcs)]
        names = ", ".join(f"`{n}`" for n, _ in runs)
        print(f"| {label} ({names}) | {paper:.1f} | "
              f"{cell(runs, lambda r: r['protocols']['protocol1']['per_action']['Avg'])} | "
              f"{cell(runs, lambda r: r['protocols']['protocol2']['per_action']['Avg'])} | "
              f"{cell(runs, lambda r: r['z_only']['Avg'])} | "
              f"{runs[0][1]['train_config']['epochs']} |")


def _load(path):
    """A results.json; its train_config flattened to flag names (files written before the
    configuration was split into parts are flat already)."""
    with open(path) as f:
        r = json.load(f)
    cfg = r.get("train_config") or {}
    if isinstance(cfg.get("model"), dict):
        from tfpose.config import ExperimentConfig

        r["train_config"] = ExperimentConfig.from_dict(cfg).to_flat()
    return r


def _tag(path, r):
    """Row label: model, train -> test data, file, and any noise in training or test."""
    tag = r["model"]
    if r.get("trained_on") and r["trained_on"] != r["dataset"]:
        tag += f" ({r['trained_on']} -> {r['dataset']}"
    else:
        tag += f" ({r['dataset']}"
    tag += f", {path.rsplit('/', 1)[-1]})"
    if r["train_config"].get("noise_std"):
        tag += f" train noise {r['train_config']['noise_std']:g}px"
    if r.get("noise_std"):
        tag += f" test noise {r['noise_std']:g}px"
    if r.get("validation"):  # evaluate.py --validation: the held-out subject, not S9/S11
        tag += f" on validation subjects {', '.join(r['subjects'])}"
    return tag


def time_to_accuracy(paths, figure=None):
    """One row per run: recipe, wall-clock hours, steps, protocols #1/#2, and the hardware;
    optionally the validation curves against wall-clock hours (from each run's history)."""
    print("| run | recipe | hours | steps | samples | protocol #1 | protocol #2 | hardware |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    curves = {}
    for path in paths:
        r = _load(path)
        t = r.get("training") or {}
        hw = (t.get("hardware") or [{}])[-1]
        hours = (t.get("wall_seconds") or float("nan")) / 3600
        p1 = r["protocols"]["protocol1"]["per_action"]["Avg"]
        p2 = r["protocols"]["protocol2"]["per_action"]["Avg"]
        machine = f"{hw.get('cpu', '?')}, {hw.get('cores', '?')} cores, " \
                  f"{hw.get('matmul_float32_gflops', '?')} GFLOP/s"
        name = path.rsplit("/", 1)[-1]
        print(f"| {name} | {t.get('recipe', '?')} | {hours:.2f} | {t.get('steps', '?')} | "
              f"{t.get('samples', '?')} | {p1:.1f} | {p2:.1f} | {machine} |")
        points = [(e["wall_seconds"] / 3600, v) for e in t.get("history", [])
                  for k, v in e.items() if k.startswith("val_")]
        if points:
            curves[name] = points
    if figure and curves:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6, 4), dpi=120)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(111)
        for name, points in curves.items():
            ax.plot(*zip(*points), marker="o", ms=3, label=name)
        ax.set_xlabel("wall-clock hours (2-core CPU)")
        ax.set_ylabel("validation protocol #1 (mm)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(figure)
        print(f"wrote {figure}")


def seeds(paths):
    """Runs that differ only in --seed: mean, spread (max - min) and each value."""
    import statistics

    results = [_load(p) for p in paths]
    for label in ("protocol1", "protocol2"):
        values = [r["protocols"][label]["per_action"]["Avg"] for r in results]
        metric = results[0]["protocols"][label]["metric"]
        print(f"{label} {metric}: mean {statistics.mean(values):.1f}, max - min "
              f"{max(values) - min(values):.1f} over {len(values)} seeds "
              f"({', '.join(f'{v:.1f}' for v in values)})")


def main(paths):
    if paths and paths[0].startswith("--time_to_accuracy"):
        figure = paths[0].split("=", 1)[1] if "=" in paths[0] else None
        return time_to_accuracy(paths[1:], figure)
    if paths and paths[0] == "--seeds":
        return seeds(paths[1:])
    if paths and paths[0] == "--ablation":
        return ablation(paths[1:])
    if paths and paths[0] == "--gan_ablation":
        return gan_ablation(paths[1:])
    if paths and paths[0].startswith("--bars="):
        return bars(paths[0].split("=", 1)[1], paths[1:])
    noise = bool(paths) and paths[0] == "--noise"  # RepGAN Table 3 layout
    if noise:
        paths = paths[1:]
    results = [(path, _load(path)) for path in paths]
    if noise:
        paper = dict(PAPER_NOISE)
    else:  # the papers' rows for the (model, training data, test data) of the given runs
        # (the papers tested on S9/S11: no paper row beside a held-out validation subject)
        runs = {(r["model"], r.get("trained_on", r["dataset"]), r["dataset"]) for _, r in results
                if not r.get("validation")}
        paper = {name: row for name, (key, row) in PAPER.items() if key in runs}
    rows = {}
    for path, r in results:
        tag = _tag(path, r)
        for label, block in r["protocols"].items():
            rows[f"{tag} {label} {block['metric']}"] = block["per_action"]
        if r.get("z_only"):
            rows[f"{tag} z only"] = r["z_only"]
        print(f"- {tag}: hard joints {r['hard_joints']:.1f} mm, other {r['other_joints']:.1f} mm, "
              f"bone RMSE avg {r['bone_length_rmse']['avg']:.1f} mm, 3DPCK {r['pck150']:.1f}, "
              f"AUC {r['auc']:.1f}; `{r['command_line']}`")
    print()
    print(table({**paper, **rows}))


if __name__ == "__main__":
    main(sys.argv[1:])
