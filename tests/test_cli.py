"""tfpose.cli's quiet start-up: what it mutes, and what it must not swallow."""

import subprocess
import sys

SCRIPT = """
import os, sys
from tfpose import cli
with cli._stderr_captured():
    os.write(2, b"muted start-up line\\n")
os.write(2, b"after the block\\n")
if sys.argv[1] == "fail":
    with cli._stderr_captured():
        os.write(2, b"the reason it failed\\n")
        raise ImportError("broken install")
"""


def _run(mode: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True,
                          timeout=60)


def test_captured_stderr_is_discarded_and_restored():
    proc = _run("ok")
    assert proc.returncode == 0, proc.stderr
    assert "muted start-up line" not in proc.stderr
    assert "after the block" in proc.stderr  # file descriptor 2 is back


def test_captured_stderr_is_replayed_when_the_block_fails():
    proc = _run("fail")
    assert proc.returncode != 0
    assert "the reason it failed" in proc.stderr and "ImportError: broken install" in proc.stderr
    assert "muted start-up line" not in proc.stderr
