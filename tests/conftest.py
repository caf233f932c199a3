"""Generic fixtures shared by the test modules."""

from __future__ import annotations

import importlib.util
import pathlib
import shutil

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def load_script(path: str):
    """A script of the repository (``docs/x.py``, ``examples/x.py``) as a module, so its
    functions can be tested without running it."""
    file = REPO_ROOT / path
    spec = importlib.util.spec_from_file_location(file.stem, file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def make_synthetic_model_dir(model_dir: str, model: str = "baseline",
                             dataset: str = "human36m/sh", width: int = 64,
                             num_frames: int = 256, batch_size: int = 64, seed: int = 0) -> str:
    """Train a small ``model`` for one epoch on ``data.synthetic_frames``: a
    real model directory (config.json, ckpt/) without the real data."""
    from tfpose import data, training
    from tfpose.config import ExperimentConfig

    config = ExperimentConfig.from_flat(model=model, dataset=dataset, epochs=1,
                                        batch_size=batch_size, width=width, val_stride=0,
                                        seed=seed)
    training.fit(config, model_dir, train_frames=data.synthetic_frames(num_frames, dataset, seed),
                 val_frames=None, measure_hardware=False)
    return model_dir


@pytest.fixture(scope="session")
def synthetic_export(tmp_path_factory):
    """``get(kind="baseline", dataset="human36m/sh") -> (model_dir, export_dir)``:
    a width-64 ``kind`` trained one epoch on synthetic frames and exported.
    Made once per test session and shared by the export, serving, predict and
    bench tests."""
    root = tmp_path_factory.getbasetemp() / "tfpose_exports"

    def get(kind: str = "baseline", dataset: str = "human36m/sh"):
        model_dir = root / f"{kind}-{dataset.replace('/', '_')}"
        export_dir = model_dir / "export"
        if not (export_dir / "metadata.json").is_file():
            from tfpose import export

            shutil.rmtree(model_dir, ignore_errors=True)
            make_synthetic_model_dir(str(model_dir), kind, dataset)
            export.export_model_dir(str(model_dir), str(export_dir))
        return model_dir, export_dir

    return get
