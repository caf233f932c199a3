"""Generic fixtures shared by the test modules."""

from __future__ import annotations

import pathlib

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
    """``<repo_root>/../shared/data`` (real H36M / HumanEva files); skip if absent."""
    path = REPO_ROOT.parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path}")
    return path


@pytest.fixture(scope="session")
def tfds_data_dir(shared_data, tmp_path_factory) -> pathlib.Path:
    """A TFDS data_dir with full builds of human36m/{sh,gt} and humaneva/gt from the real data.

    Built once per test session (about 20 s on 2 cores); tests that train on
    a few subjects filter these builds in memory.
    """
    import tfds_human36m

    data_dir = tmp_path_factory.mktemp("tfds")
    for name, sub in (("human36m/sh", "h36m"), ("human36m/gt", "h36m"), ("humaneva/gt", "humaneva")):
        tfds_human36m.prepare(name, manual_dir=str(shared_data / sub), data_dir=str(data_dir))
    return data_dir
