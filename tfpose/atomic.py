"""Files written whole or not at all: write to a temporary name, then rename.

A kill (or a full disk) mid-write leaves the previous file intact, never a
half-written one that a resumed run or a reader would choke on.
"""

from __future__ import annotations

import json

import tensorflow as tf


def write_json(path: str, payload, indent: int = 1) -> None:
    tmp = path + ".tmp"
    try:
        with tf.io.gfile.GFile(tmp, "w") as f:
            json.dump(payload, f, indent=indent)
        tf.io.gfile.rename(tmp, path, overwrite=True)
    except BaseException:
        if tf.io.gfile.exists(tmp):
            tf.io.gfile.remove(tmp)
        raise


def replace_dir(complete: str, final: str) -> None:
    """Put the finished folder ``complete`` at ``final`` in one rename, replacing what was
    there: readers see the old folder or the new one, never a half-written one."""
    import os
    import shutil
    import uuid

    old = None
    if os.path.lexists(final):
        parent, name = os.path.split(os.path.abspath(final))
        old = os.path.join(parent, f".{name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(final, old)
    os.rename(complete, final)
    if old:
        shutil.rmtree(old, ignore_errors=True)
