"""Where an artefact came from: the tfpose version and the source's git commit.

Exports, evaluation reports and training runs record both, so a number can be
traced back to the code that produced it.
"""

from __future__ import annotations

import os
from typing import Optional

import tfpose


def tfpose_version() -> str:
    """The installed tfpose's version (``"0+unknown"`` in a never-installed tree)."""
    return tfpose.__version__


def git_commit(start: Optional[str] = None) -> Optional[str]:
    """HEAD's commit of the repository holding ``start`` (default: this
    package), read from ``.git`` without starting a git process (git may be
    absent where models are exported or served); None outside a checkout."""
    d = os.path.abspath(start or os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        while True:
            git = os.path.join(d, ".git")
            if os.path.exists(git):
                break
            parent = os.path.dirname(d)
            if parent == d:
                return None
            d = parent
        if os.path.isfile(git):  # worktree / submodule: "gitdir: <path>"
            with open(git) as f:
                line = f.read().strip()
            if not line.startswith("gitdir:"):
                return None
            git = os.path.normpath(os.path.join(d, line.split(":", 1)[1].strip()))
        with open(os.path.join(git, "HEAD")) as f:
            head = f.read().strip()
        if not head.startswith("ref:"):  # detached HEAD: the commit itself
            return head or None
        ref = head.split(":", 1)[1].strip()
        common = git
        common_file = os.path.join(git, "commondir")
        if os.path.isfile(common_file):
            with open(common_file) as f:
                common = os.path.normpath(os.path.join(git, f.read().strip()))
        for base in (git, common):
            path = os.path.join(base, ref)
            if os.path.isfile(path):
                with open(path) as f:
                    return f.read().strip() or None
        packed = os.path.join(common, "packed-refs")
        if os.path.isfile(packed):
            with open(packed) as f:
                for line in f:
                    parts = line.strip().split(" ")
                    if len(parts) == 2 and parts[1] == ref:
                        return parts[0]
    except OSError:
        return None
    return None
