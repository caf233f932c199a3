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
