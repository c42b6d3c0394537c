"""What the machine looked like when a run started: Python, platform, the
versions of known ML libraries, the git commit of the working directory and
whether it had uncommitted changes, and the host name.

This module owns gathering those facts, fast (it runs at every run start);
the shape they are recorded in is ``ledger.payloads.tracking.Environment``,
and recording them in a ``run.started`` event is the tracking service's job.
Library versions come from installed metadata: the libraries themselves are
never imported.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["GIT_TIMEOUT_SECONDS", "KNOWN_PACKAGES", "capture_environment"]

KNOWN_PACKAGES = (
    "numpy",
    "pandas",
    "scikit-learn",
    "scipy",
    "torch",
    "tensorflow",
    "keras",
    "jax",
    "xgboost",
    "lightgbm",
    "catboost",
    "statsmodels",
    "transformers",
    "mlledger",
    "pydantic",
    "sqlalchemy",
)
GIT_TIMEOUT_SECONDS = 2.0
# status must not take the index lock: the user may be running git meanwhile.
_GIT_HEAD = ("git", "rev-parse", "--verify", "HEAD")
_GIT_STATUS = ("git", "--no-optional-locks", "status", "--porcelain")


def capture_environment() -> dict[str, Any]:
    """The fields of ``Environment`` for this process and its working directory."""
    git_commit, git_dirty = _git_state(os.getcwd())
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": _package_versions(),
        "git_commit": git_commit,
        "git_dirty": git_dirty,
        "host": socket.gethostname(),
    }


def _package_versions() -> dict[str, str]:
    versions = {}
    for name in KNOWN_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _git_state(cwd: str) -> tuple[str | None, bool | None]:
    """``(HEAD commit, has uncommitted or untracked changes)``, or ``(None, None)`` if that cannot be told."""
    if not _may_be_in_work_tree(Path(cwd)):
        return None, None
    # The two commands run side by side: each costs a process start, and the
    # run start waits for the slower one only.
    deadline = time.monotonic() + GIT_TIMEOUT_SECONDS
    try:
        head = _start(_GIT_HEAD, cwd)
    except OSError:  # no git on PATH, or cwd vanished
        return None, None
    try:
        status = _start(_GIT_STATUS, cwd)
    except OSError:
        _stop(head)
        return None, None
    commit, changes = _output(head, deadline), _output(status, deadline)
    if commit is None or changes is None:
        return None, None
    return commit.strip(), bool(changes.strip())


def _may_be_in_work_tree(cwd: Path) -> bool:
    """False when git surely has no work tree here, so the common case spawns nothing."""
    if "GIT_DIR" in os.environ or "GIT_WORK_TREE" in os.environ:
        return True
    return any((directory / ".git").exists() for directory in (cwd, *cwd.parents))


def _start(argv: tuple[str, ...], cwd: str) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 -- a fixed argv, no shell
        argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )


def _output(process: subprocess.Popen[str], deadline: float) -> str | None:
    """The standard output of a successful command, or None if it failed or ran past the deadline."""
    try:
        out, _ = process.communicate(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        _stop(process)
        return None
    return out if process.returncode == 0 else None


def _stop(process: subprocess.Popen[str]) -> None:
    process.kill()
    process.communicate()
