"""Helpers several integration test modules share: a real git repository
for a run to record its commit, and raw SQL reads of a ledger's tables."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

__all__ = ["git_repo", "stored"]


def git_repo(path: Path) -> str:
    """A new git repository at ``path`` with one commit; its sha."""
    path.mkdir()
    env = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@x"}
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "train"]):
        subprocess.run(["git", *args], cwd=path, check=True, env={**env, "PATH": "/usr/bin:/bin"})
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def stored(uri: str, sql: str) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` read straight from the database at ``uri``."""
    engine = create_engine(uri)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()
