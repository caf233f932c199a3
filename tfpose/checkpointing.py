"""A run's checkpoints: saved by the chief, restored newest readable first.

``tf.train.CheckpointManager`` keeps the last three checkpoints of
``model_dir/ckpt``. TensorFlow writes a checkpoint's files first and records
them in the ``checkpoint`` state file last (write and rename), so a kill at
any moment leaves the newest *recorded* checkpoint whole. A recorded
checkpoint damaged later (a truncated or corrupted file) is skipped with a
warning naming it, and the previous one is restored. A full disk stops
training with a one-line error naming the checkpoint that is still intact.

Under ``MultiWorkerMirroredStrategy`` every worker calls save (saving may run
collectives), but only the chief writes to the run's directory; the others
write to a throwaway local directory (as ``tf.distribute`` expects), removed
when the saver goes away.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from typing import List, Optional

import tensorflow as tf
from absl import logging
from google.protobuf import message as protobuf_message

PREFIX = "ckpt"  # files are ckpt-<global step>.index / .data-*
# What reading a damaged checkpoint raises: TensorFlow's errors, and the
# reader's C++ errors as Python ones (a short read is an IndexError).
UNREADABLE = (tf.errors.OpError, ValueError, AssertionError, IndexError, KeyError, RuntimeError,
              protobuf_message.DecodeError)


class CheckpointError(RuntimeError):
    """No checkpoint can be read, or one cannot be written."""


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's checkpoints (True off a cluster)."""
    return bool(strategy.extended.should_checkpoint)


def step_of(path: str) -> int:
    """The global step in a checkpoint prefix (``.../ckpt-1234``; -1 if it has none)."""
    match = re.search(r"-(\d+)$", path)
    return int(match.group(1)) if match else -1


def recorded(directory: str) -> List[str]:
    """Checkpoint prefixes of ``directory``, newest first, as its state file records them.

    Without a readable state file: every ``ckpt-N.index`` found, highest N first."""
    try:
        state = tf.train.get_checkpoint_state(directory)
    except (tf.errors.OpError, ValueError) as e:  # a garbled state file (text proto)
        logging.warning("checkpoint state file of %s is unreadable (%s); looking for "
                        "checkpoint files instead", directory, _first_line(e))
        state = None
    if state is not None and state.all_model_checkpoint_paths:
        paths = list(state.all_model_checkpoint_paths)
        if state.model_checkpoint_path and state.model_checkpoint_path not in paths:
            paths.append(state.model_checkpoint_path)
        # Relative entries are relative to the directory (a moved run still loads).
        paths = [p if os.path.isabs(p) or "://" in p else os.path.join(directory, p)
                 for p in paths]
        return paths[::-1]
    found = [f[:-len(".index")] for f in tf.io.gfile.glob(os.path.join(directory,
                                                                     PREFIX + "-*.index"))]
    return sorted(found, key=step_of, reverse=True)


def _first_line(error: BaseException) -> str:
    """The error's first line without TensorFlow's op decorations."""
    text = getattr(error, "message", None) or str(error) or type(error).__name__
    line = next((line.strip() for line in text.splitlines() if line.strip()), text)
    return re.sub(r"\{\{[^}]*\}\}\s*|\s*\[Op:\w+\]", "", line).strip() or line


def _damaged_file(prefix: str) -> str:
    """The file of an unreadable checkpoint to blame: its index, else its data."""
    try:
        tf.train.load_checkpoint(prefix)  # reads the index only
    except UNREADABLE:
        return os.path.basename(prefix) + ".index"
    data = tf.io.gfile.glob(prefix + ".data-*")
    return ", ".join(os.path.basename(f) for f in data) or os.path.basename(prefix) + ".data-*"


def _restore(checkpoint: tf.train.Checkpoint, prefix: str, expect_partial: bool) -> None:
    status = checkpoint.restore(prefix)
    if expect_partial:
        status.expect_partial()
    else:
        status.assert_existing_objects_matched()


def restore_newest(checkpoint: tf.train.Checkpoint, directory: str,
                   expect_partial: bool = False) -> Optional[str]:
    """Restore the newest readable checkpoint of ``directory`` into ``checkpoint``.

    Returns its prefix, or None when the directory holds none. An unreadable
    checkpoint (truncated, corrupted, missing file) is skipped with a warning;
    when none can be read, :class:`CheckpointError` names each one and why.
    Every variable is assigned again by the checkpoint that finally loads, so
    a restore that failed halfway leaves nothing behind. ``expect_partial``:
    the checkpoint may hold objects ``checkpoint`` lacks (inference)."""
    bad: List[str] = []
    for path in recorded(directory):
        try:
            _restore(checkpoint, path, expect_partial)
        except UNREADABLE as e:
            reason = f"{_damaged_file(path)}: {_first_line(e)}"
            logging.warning("checkpoint %s is unreadable (%s); trying the one before it",
                            path, reason)
            bad.append(f"{path} ({reason})")
            continue
        if bad:
            logging.warning("restored %s instead of the newer, unreadable %s", path,
                            ", ".join(b.split(" (")[0] for b in bad))
        return path
    if bad:
        raise CheckpointError(f"no readable checkpoint in {directory}: " + "; ".join(bad))
    return None


def restore_numbered(checkpoint: tf.train.Checkpoint, directory: str, number: int,
                     expect_partial: bool = False) -> str:
    """Restore checkpoint ``number`` (its global step) of ``directory``; returns its prefix.

    To look at an earlier point of a run than its newest checkpoint (a run keeps its
    last three). A number it does not keep, or a damaged checkpoint, is a one-line
    :class:`CheckpointError` naming what the directory keeps or the damaged file."""
    prefix = os.path.join(directory, f"{PREFIX}-{int(number)}")
    if not tf.io.gfile.exists(prefix + ".index"):
        kept = sorted(step_of(p) for p in recorded(directory))
        raise CheckpointError(f"{directory} keeps no checkpoint {number} (it keeps "
                              f"{', '.join(map(str, kept)) if kept else 'none'})")
    try:
        _restore(checkpoint, prefix, expect_partial)
    except UNREADABLE as e:
        raise CheckpointError(f"checkpoint {prefix} is unreadable ({_damaged_file(prefix)}: "
                              f"{_first_line(e)})") from e
    return prefix


def wall_seconds_of(prefix: str) -> Optional[float]:
    """The training wall time a checkpoint of ``train.py`` records (summed over the run's
    segments up to it); None where it records none."""
    try:
        return float(tf.train.load_checkpoint(prefix).get_tensor(
            "wall_seconds/.ATTRIBUTES/VARIABLE_VALUE"))
    except UNREADABLE:
        return None


def is_disk_full(error: BaseException) -> bool:
    """Whether a write failed for want of space (OS error or TensorFlow's report of one)."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = _first_line(error) if isinstance(error, (OSError, tf.errors.OpError)) else ""
    return "No space left on device" in text or "Disk quota exceeded" in text


class Saver:
    """Numbered checkpoints of a run: the chief's in ``directory``, others' thrown away."""

    def __init__(self, checkpoint: tf.train.Checkpoint, directory: str, chief: bool = True,
                 max_to_keep: int = 3):
        self.directory = directory
        # A worker's copy is identical to the chief's; it exists only because saving
        # is a collective step. The TemporaryDirectory is removed with the saver.
        self._scratch = None if chief else tempfile.TemporaryDirectory(
            prefix="tfpose-worker-ckpt-")
        self.write_directory = directory if chief else self._scratch.name
        self.manager = tf.train.CheckpointManager(
            checkpoint, self.write_directory, max_to_keep=max_to_keep if chief else 1,
            checkpoint_name=PREFIX)

    @property
    def latest(self) -> Optional[str]:
        """The run's newest recorded checkpoint (in ``directory``, whoever saves)."""
        return tf.train.latest_checkpoint(self.directory)

    def save(self, number: int) -> str:
        """Write checkpoint ``number`` (the global step); on a full disk, remove what
        was half written and raise a one-line :class:`CheckpointError`."""
        prefix = os.path.join(self.write_directory, f"{PREFIX}-{number}")
        try:
            return self.manager.save(checkpoint_number=number)
        except (OSError, tf.errors.OpError) as e:
            if not is_disk_full(e):
                raise
            intact = tf.train.latest_checkpoint(self.write_directory)
            if intact != prefix:
                self._remove(prefix)
            raise CheckpointError(
                f"no space left writing checkpoint {prefix} ({_first_line(e)}); the previous "
                f"checkpoint {intact or '(none: this was the first)'} is intact") from e

    @staticmethod
    def _remove(prefix: str) -> None:
        """Files of a checkpoint that was never recorded (TF writes via ``<prefix>_temp``)."""
        for path in tf.io.gfile.glob(prefix + ".*") + tf.io.gfile.glob(prefix + "_temp*"):
            try:
                if tf.io.gfile.isdir(path):
                    tf.io.gfile.rmtree(path)
                else:
                    tf.io.gfile.remove(path)
            except tf.errors.OpError as e:
                logging.warning("could not remove the partial checkpoint file %s: %s", path,
                                _first_line(e))

    def close(self) -> None:
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None
