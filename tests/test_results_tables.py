"""docs/results_tables.py: the tables in docs/RESULTS.md are printed from results.json files."""

import json

import pytest

from conftest import load_script

from tfpose.actions import H36M_ACTIONS as ACTIONS


@pytest.fixture(scope="module")
def tables():
    return load_script("docs/results_tables.py")


def _write(tmp_path, name, *, model, trained_on, dataset, p1, kcs="wkcs", synchronous=True,
           train_noise=0.0, test_noise=0.0, epochs=6):
    per_action = {a: p1 + i for i, a in enumerate(ACTIONS)}
    per_action["Avg"] = sum(per_action.values()) / len(ACTIONS)
    result = {
        "model": model, "dataset": dataset, "trained_on": trained_on, "noise_std": test_noise,
        "protocols": {"protocol1": {"metric": "n_mpjpe", "per_action": per_action},
                      "protocol2": {"metric": "p_mpjpe",
                                    "per_action": {k: v / 2 for k, v in per_action.items()}}},
        "z_only": {k: v / 4 for k, v in per_action.items()},
        "hard_joints": 1.0, "other_joints": 2.0, "bone_length_rmse": {"avg": 3.0},
        "pck150": 90.0, "auc": 50.0, "command_line": f"evaluate.py {name}",
        "train_config": {"kcs": kcs, "synchronous": synchronous, "noise_std": train_noise,
                         "epochs": epochs, "asn_variant": "basic+ref+AM+REM"},
    }
    path = tmp_path / name
    path.write_text(json.dumps(result))
    return str(path)


def test_paper_rows_follow_training_and_test_data(tables, tmp_path, capsys):
    sh_gt = _write(tmp_path, "repgan_sh_gt.json", model="repgan", trained_on="human36m/sh",
                   dataset="human36m/gt", p1=60.0)
    tables.main([sh_gt])
    out = capsys.readouterr().out
    assert "RepGAN (Table 1, SH-GT, #1)" in out and "RepGAN (Table 2, SH-GT, #2)" in out
    assert "SH-SH" not in out and "(Table 1, GT, #1)" not in out and "Martinez" not in out
    row = next(line for line in out.splitlines() if "protocol1 n_mpjpe" in line)
    assert "human36m/sh -> human36m/gt" in row
    assert row.split("|")[-2].strip() == f"{60.0 + 7:.1f}"  # the mean of 60..74
    assert any(line.startswith("| repgan") and "z only" in line for line in out.splitlines())


def test_validation_results_are_labelled_and_get_no_paper_row(tables, tmp_path, capsys):
    path = _write(tmp_path, "s8.json", model="repgan", trained_on="human36m/gt",
                  dataset="human36m/gt", p1=60.0)
    result = json.loads(open(path).read())
    result.update(validation=True, subjects=["S8"])
    open(path, "w").write(json.dumps(result))
    tables.main([path])
    out = capsys.readouterr().out
    assert "on validation subjects S8 protocol1 n_mpjpe" in out
    assert "RepGAN (Table 1" not in out


def test_noise_rows_name_training_and_test_noise(tables, tmp_path, capsys):
    path = _write(tmp_path, "n5.json", model="repgan", trained_on="human36m/gt",
                  dataset="human36m/gt", p1=80.0, train_noise=5.0, test_noise=5.0)
    tables.main(["--noise", path])
    out = capsys.readouterr().out
    assert "train noise 5px test noise 5px protocol2 p_mpjpe" in out
    assert "RepGAN (Table 3, train N(0,5), test GT, #2)" in out


def test_gan_ablation_reads_strategy_and_critic_input(tables, tmp_path, capsys):
    paths = [_write(tmp_path, f"{s}_{k}.json", model="repgan", trained_on="human36m/gt",
                    dataset="human36m/gt", p1=p1, kcs=k, synchronous=(s == "syn"))
             for s, k, p1 in (("sep", "kcs", 70.0), ("syn", "wkcs", 60.0))]
    tables.main(["--gan_ablation", *paths])
    rows = {line.split("|")[1].strip(): line for line in capsys.readouterr().out.splitlines()
            if line.startswith("| S")}
    assert "sep_kcs.json" in rows["Sep + KCS (`sep_kcs.json`)"]
    assert rows["Sep + KCS (`sep_kcs.json`)"].split("|")[3].strip() == "77.0"
    assert rows["Syn + wKCS (`syn_wkcs.json`)"].split("|")[3].strip() == "67.0"
    assert "not run" in rows["Syn + KCS"] and "not run" in rows["Sep + wKCS"]


def _nested(path, **flat):
    """Rewrite a results file the way this version writes train_config (in parts)."""
    from tfpose.config import ExperimentConfig

    r = json.loads(open(path).read())
    r["train_config"] = ExperimentConfig.from_flat(**flat).to_dict()
    return r


def test_time_to_accuracy_table_and_curve(tables, tmp_path, capsys):
    path = _write(tmp_path, "fast.json", model="baseline", trained_on="human36m/gt",
                  dataset="human36m/gt", p1=40.0)
    r = _nested(path, model="baseline", dataset="human36m/gt", lr_schedule="cosine")
    r["training"] = {"wall_seconds": 5400.0, "steps": 1000, "samples": 256000, "recipe": "r1",
                     "hardware": [{"cpu": "Xeon", "cores": 2, "matmul_float32_gflops": 400.0}],
                     "history": [{"epoch": 1, "wall_seconds": 1800.0, "val_mpjpe": 50.0},
                                 {"epoch": 2, "wall_seconds": 5400.0, "val_mpjpe": 45.0}]}
    (tmp_path / "fast.json").write_text(json.dumps(r))
    figure = tmp_path / "curve.png"
    tables.main([f"--time_to_accuracy={figure}", path])
    row = next(line for line in capsys.readouterr().out.splitlines() if "fast.json" in line)
    cells = [c.strip() for c in row.split("|")]
    assert cells[2:5] == ["r1", "1.50", "1000"] and cells[6] == f"{47.0:.1f}"
    assert "Xeon, 2 cores, 400.0 GFLOP/s" in row
    assert figure.stat().st_size > 1000


def test_seeds_and_table5_cells_give_mean_and_spread(tables, tmp_path, capsys):
    paths = []
    for seed, p1 in ((0, 50.0), (1, 53.0)):
        path = _write(tmp_path, f"s{seed}.json", model="repgan", trained_on="human36m/gt",
                      dataset="human36m/gt", p1=p1)
        (tmp_path / f"s{seed}.json").write_text(json.dumps(
            _nested(path, model="repgan", dataset="human36m/gt", seed=seed)))
        paths.append(path)
    tables.main(["--seeds", *paths])
    out = capsys.readouterr().out
    assert "protocol1 n_mpjpe: mean 58.5, max - min 3.0 over 2 seeds (57.0, 60.0)" in out
    tables.main(["--gan_ablation", *paths])
    row = next(line for line in capsys.readouterr().out.splitlines() if "Syn + wKCS" in line)
    assert row.split("|")[3].strip() == "58.5 (+-1.5)"


@pytest.fixture(scope="module")
def validation_record():
    return load_script("docs/validation_record.py")


def test_validation_record_keeps_the_run_and_its_curve_and_plots_it(validation_record, tmp_path):
    run = tmp_path / "val_run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({
        "command_line": "train.py --val_subjects=S8", "train_config": {"model": {"kind": "repgan"}},
        "hardware": [{"cpu": "x", "cores": 2}], "schedule": {"total_steps": 30}}))
    # Epoch keys as strings, out of order: the curve must come back in epoch order.
    (run / "history.json").write_text(json.dumps({
        "10": {"val_n_mpjpe": 60.0, "steps": 30}, "2": {"val_n_mpjpe": 80.0, "steps": 6},
        "1": {"val_n_mpjpe": 90.0, "steps": 3}}))
    out = tmp_path / "rec.json"
    assert validation_record.main(["write", str(run), str(out), "--note=paused once"]) == 0
    rec = json.loads(out.read_text())
    assert rec["command_line"] == "train.py --val_subjects=S8" and rec["note"] == "paused once"
    assert "never evaluated" in rec["purpose"]
    assert validation_record.validation_curve(rec) == ([1, 2, 10], [90.0, 80.0, 60.0],
                                                       "val_n_mpjpe")
    assert validation_record.validation_curve(rec, "steps")[0] == [3, 6, 30]
    assert validation_record._has_steps(rec)
    assert not validation_record._has_steps({"history": {"1": {"val_n_mpjpe": 1.0}}})
    figure = tmp_path / "curves.png"
    assert validation_record.main(["plot", str(figure), str(out)]) == 0
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (run / "history.json").write_text(json.dumps({"1": {"loss": 1.0}}))
    with pytest.raises(ValueError, match="no validation metric"):
        validation_record.validation_curve(validation_record.record(str(run)))
