"""Files the ledger writes beside its database: where they live, and writing
one without ever replacing another.

Owns: the ledger's home directory (beside a SQLite file, else ./mlledger/),
under which the artifact store, the signing key and the demo's checkpoints
live by default, and ``write_new``: create a file whole, or leave an
existing one untouched. Evidence (keys, notes, proofs, bundles) is never
written over; callers decide what an existing file means.
"""

from __future__ import annotations

import os
from pathlib import Path

from ledger.errors import ValidationError

__all__ = ["ledger_home", "write_new", "write_once"]


def ledger_home(uri: str) -> Path:
    """The directory of a SQLite ledger's file, else ``./mlledger``."""
    if uri.startswith("sqlite:///") and uri != "sqlite:///:memory:":
        return Path(uri.removeprefix("sqlite:///")).parent
    return Path("mlledger")


def write_new(path: Path, data: bytes, *, mode: int = 0o644) -> bool:
    """Create ``path`` holding ``data`` (file ``mode``); False, with nothing
    written, when a file is there already. A failed write leaves no partial file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return False
    except OSError as e:
        raise ValidationError(f"cannot create {path}: {e.strerror}") from e
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except OSError as e:
        path.unlink(missing_ok=True)
        raise ValidationError(f"cannot write {path}: {e.strerror}") from e
    return True


def write_once(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` unless it holds something else already
    (``ValidationError``, nothing written): rerunning a command is harmless,
    replacing a file it wrote before is refused."""
    if write_new(path, data):
        return
    try:
        same = path.read_bytes() == data
    except OSError as e:
        raise ValidationError(f"cannot read {path}: {e.strerror}") from e
    if not same:
        raise ValidationError(f"{path} exists and holds something else; refusing to overwrite it")
