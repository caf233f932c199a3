"""TFDS builders ``human36m`` (configs gt, sh) and ``humaneva`` (gt).

Importing this package registers both builders with TFDS. ``prepare`` is the
one-call entry point for training code: it finds the manual data, builds the
dataset once, and returns the builder to call ``as_dataset`` on.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from typing import Iterator, Optional, Sequence

import tensorflow_datasets as tfds

from tfds_human36m import human36m, humaneva
from tfds_human36m.human36m import Human36m, Human36mConfig
from tfds_human36m.humaneva import HumanEva, HumanEvaConfig
from tfds_human36m.manual_dir import ENV_VARS, ManualDataError, resolve_manual_dir

__all__ = ["Human36m", "Human36mConfig", "HumanEva", "HumanEvaConfig",
           "ManualDataError", "ENV_VARS", "builder", "prepare", "resolve_manual_dir"]

_BUILDERS = {"human36m": (Human36m, human36m.restricted_config),
             "humaneva": (HumanEva, humaneva.restricted_config)}


def builder(name: str, *, data_dir: Optional[str] = None,
            subjects: Optional[Sequence[str]] = None) -> tfds.core.DatasetBuilder:
    """The builder for ``"human36m/sh"``-style names, without preparing it.

    ``subjects`` selects a per-subject config (e.g. ``sh_S9``) that lives in
    its own directory, never mixing with the full build.
    """
    ds, _, config = name.partition("/")
    if ds not in _BUILDERS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(_BUILDERS)}")
    cls, restrict = _BUILDERS[ds]
    config = config or cls.DEFAULT_CONFIG_NAME
    known = [c.name for c in cls.BUILDER_CONFIGS]
    if config not in known:
        raise ValueError(f"unknown config {config!r} of {ds}; known: {', '.join(known)}")
    cfg = restrict(config, subjects) if subjects else config
    return cls(config=cfg, data_dir=data_dir)


def prepare(name: str, *, manual_dir: Optional[str] = None, data_dir: Optional[str] = None,
            subjects: Optional[Sequence[str]] = None) -> tfds.core.DatasetBuilder:
    """Build ``name`` (e.g. ``"human36m/sh"``, ``"humaneva/gt"``) unless it is
    already prepared under ``data_dir``, and return the prepared builder.

    manual_dir: explicit > ``$TFPOSE_H36M_DIR`` / ``$TFPOSE_HUMANEVA_DIR`` >
    ``<data_dir>/downloads/manual`` (see ``resolve_manual_dir``).
    """
    b = builder(name, data_dir=data_dir, subjects=subjects)
    if b.is_prepared():
        return b
    with _build_lock(os.fspath(b.data_dir)):
        # Another process may have finished the build while this one waited.
        b = builder(name, data_dir=data_dir, subjects=subjects)
        if not b.is_prepared():
            root = resolve_manual_dir(b.name, manual_dir, data_dir=str(b.data_dir_root))
            b.download_and_prepare(
                download_config=tfds.download.DownloadConfig(manual_dir=root))
    return b


@contextlib.contextmanager
def _build_lock(version_dir: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``<version_dir>.lock``, beside the dataset
    directory: processes preparing the same config build it one at a time,
    so TFDS never renames two ``incomplete.*`` builds onto one directory."""
    os.makedirs(os.path.dirname(version_dir), exist_ok=True)
    with open(version_dir + ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
