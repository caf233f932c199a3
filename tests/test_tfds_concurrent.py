"""Two processes building the same TFDS config at once end with one complete dataset."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

_BUILD = textwrap.dedent("""
    import sys
    import tfds_human36m
    b = tfds_human36m.prepare("humaneva/gt", manual_dir=sys.argv[1], data_dir=sys.argv[2])
    print(sum(s.num_examples for s in b.info.splits.values()))
""")


def _build_once(manual_dir: str, data_dir: str) -> int:
    import tfds_human36m

    b = tfds_human36m.prepare("humaneva/gt", manual_dir=manual_dir, data_dir=data_dir)
    return sum(s.num_examples for s in b.info.splits.values())


def test_two_processes_preparing_humaneva_leave_one_complete_dataset(shared_data, tmp_path):
    manual = str(shared_data / "humaneva")
    reference = _build_once(manual, str(tmp_path / "reference"))
    data_dir = tmp_path / "shared_data_dir"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    procs = [subprocess.Popen([sys.executable, "-c", _BUILD, manual, str(data_dir)],
                              cwd=str(REPO_ROOT), env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0, err[-3000:]
        assert int(out.strip().splitlines()[-1]) == reference

    leftovers = [str(p) for p in data_dir.rglob("*") if "incomplete" in p.name]
    assert not leftovers, leftovers
    versions = [p for p in (data_dir / "humaneva" / "gt").iterdir() if p.is_dir()]
    assert [v.name for v in versions] == ["1.0.0"]

    import tensorflow_datasets as tfds

    import tfds_human36m

    b = tfds_human36m.builder("humaneva/gt", data_dir=str(data_dir))
    assert b.is_prepared()
    counts = {name: sum(1 for _ in b.as_dataset(split=name))
              for name in b.info.splits.keys()}
    assert sum(counts.values()) == reference
    assert counts == {name: s.num_examples for name, s in b.info.splits.items()}
    del tfds
