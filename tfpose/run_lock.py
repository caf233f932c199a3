"""One training at a time per run directory.

Two ``train.py`` processes in one ``model_dir`` would interleave checkpoints,
``history.json`` and ``config.json`` and leave a run that looks whole but is
not (a queue that restarts a run still training does exactly this). The
chief holds an advisory ``flock`` on ``<model_dir>/train.lock`` while it
trains; the kernel releases it when the process ends however it ends, so a
killed run never leaves a stale lock and resumes as before. Local
directories only: a remote ``model_dir`` (``gs://...``) is not locked.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from typing import Iterator

try:
    import fcntl
except ImportError:  # not POSIX: no lock
    fcntl = None

LOCK_FILE = "train.lock"


class RunLocked(RuntimeError):
    """Another process is training in this run directory."""


def _holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        info = json.loads(os.read(fd, 4096).decode() or "{}")
    except ValueError:
        return "a process that did not say which"
    return (f"pid {info.get('pid', '?')} on {info.get('host', '?')}, "
            f"since {info.get('since', '?')}")


@contextlib.contextmanager
def hold(model_dir: str) -> Iterator[None]:
    """Hold the run directory's lock for the ``with`` block; :class:`RunLocked` if taken."""
    if fcntl is None or "://" in model_dir:
        yield
        return
    os.makedirs(model_dir, exist_ok=True)
    fd = os.open(os.path.join(model_dir, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLocked(f"{model_dir} is being trained by another process "
                            f"({_holder(fd)}); one training per run directory") from None
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "since": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                        time.gmtime())}).encode())
        yield
    finally:
        os.close(fd)  # releases the lock
