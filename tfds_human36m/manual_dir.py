"""Where the manually downloaded files live, and strict readers for them.

Both datasets are licence-gated, so TFDS cannot download them: users point
the builders at files they already have (argument, environment variable or
TFDS's default folder; both builders share this lookup through
``ManualDirFromEnv``). The readers turn every way those
files can be wrong into one error type whose message names the file and
what was expected, so a bad copy fails the build early and clearly.
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

ENV_VARS = {"human36m": "TFPOSE_H36M_DIR", "humaneva": "TFPOSE_HUMANEVA_DIR"}


class ManualDataError(ValueError):
    """The manual_dir, or a file in it, is missing or not in the expected layout."""


def default_data_dir() -> str:
    """TFDS's data_dir (``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``)."""
    from tensorflow_datasets.core import constants

    return os.path.expanduser(constants.get_default_data_dir())


def resolve_manual_dir(dataset_name: str, manual_dir: Optional[str] = None,
                       data_dir: Optional[str] = None) -> str:
    """The manual_dir to build ``dataset_name`` from.

    Order: the explicit ``manual_dir``; then ``$TFPOSE_H36M_DIR`` /
    ``$TFPOSE_HUMANEVA_DIR``; then TFDS's default ``<data_dir>/downloads/manual``
    (its ``<dataset_name>/`` subfolder when that exists, so both datasets can
    sit under one data_dir). The path is returned even if it does not exist:
    the builder reports that with instructions.
    """
    name = dataset_name.split("/")[0]
    if name not in ENV_VARS:
        raise ValueError(f"unknown dataset {dataset_name!r}; known: {', '.join(ENV_VARS)}")
    if manual_dir:
        return os.path.abspath(os.path.expanduser(os.fspath(manual_dir)))
    env = os.environ.get(ENV_VARS[name])
    if env:
        return os.path.abspath(os.path.expanduser(env))
    base = os.path.join(os.fspath(data_dir) if data_dir else default_data_dir(),
                        "downloads", "manual")
    sub = os.path.join(base, name)
    return os.path.abspath(sub if os.path.isdir(sub) else base)


def with_env_manual_dir(dataset_name: str, download_config=None):
    """``download_config`` (a ``tfds.download.DownloadConfig``, or a new one)
    with manual_dir taken from ``ENV_VARS[dataset_name]`` when it has none."""
    import tensorflow_datasets as tfds

    download_config = download_config or tfds.download.DownloadConfig()
    env = os.environ.get(ENV_VARS[dataset_name])
    if not download_config.manual_dir and env:
        download_config = download_config.replace(manual_dir=env)
    return download_config


def manual_dir_of(dl_manager) -> str:
    """``dl_manager.manual_dir``, with TFDS's bare assertion ("missing or
    empty") turned into a ManualDataError."""
    try:
        return dl_manager.manual_dir
    except AssertionError as e:
        raise ManualDataError(str(e)) from e


class ManualDirFromEnv:
    """Builder mixin: ``download_and_prepare`` falls back to the dataset's
    environment variable (``ENV_VARS``) when no manual_dir is given."""

    def download_and_prepare(self, *, download_dir=None, download_config=None, **kwargs):
        download_config = with_env_manual_dir(self.name, download_config)
        return super().download_and_prepare(
            download_dir=download_dir, download_config=download_config, **kwargs)


def require_dir(path: str, what: str) -> str:
    if not os.path.isdir(path):
        raise ManualDataError(f"{what} {path} does not exist or is not a folder")
    return path


def require_file(path: str, what: str) -> str:
    if not os.path.isfile(path):
        raise ManualDataError(f"{what} {path} is missing")
    return path


def _from_h5(path: str, dataset: str, get):
    """``get(h5py_dataset)``, every failure a ManualDataError naming the file."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if dataset not in f:
                raise ManualDataError(f"{path}: no dataset {dataset!r} (has {sorted(f)})")
            return get(f[dataset])
    except ManualDataError:
        raise
    except Exception as e:  # truncated / not HDF5 / permissions
        raise ManualDataError(f"cannot read HDF5 file {path}: {e}") from e


def h5_shape(path: str, dataset: str) -> tuple:
    """Shape of ``dataset`` in an h5 file, without reading its data (cheap
    enough to check every file before the build writes anything)."""
    return _from_h5(path, dataset, lambda d: tuple(d.shape))


def read_h5(path: str, dataset: str) -> np.ndarray:
    """Whole dataset as an array; a truncated body fails here, naming the file."""
    return _from_h5(path, dataset, lambda d: d[()])


def read_npz_dict(path: str, key: str) -> dict:
    """A pickled dict stored under ``key`` of an npz file (VideoPose3D layout)."""
    require_file(path, "file")
    try:
        with np.load(path, allow_pickle=True) as npz:
            if key not in npz.files:
                raise ManualDataError(f"{path}: no array {key!r} (has {npz.files})")
            value = npz[key].item()
    except ManualDataError:
        raise
    except Exception as e:  # bad zip, truncated member, unpickling error
        raise ManualDataError(f"cannot read npz file {path}: {type(e).__name__}: {e}") from e
    if not isinstance(value, dict):
        raise ManualDataError(f"{path}: {key!r} should hold a dict, got {type(value).__name__}")
    return value
