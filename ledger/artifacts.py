"""The content-addressed artifact store: files a run logs, kept by SHA-256.

This module owns the bytes of artifacts and the rules for their logical
paths. An object lives at ``<root>/sha256/<first 2 hex>/<64 hex>``, is
written to a temporary file under ``<root>/tmp``, fsynced and moved into
place with ``os.replace`` (so a crash leaves a stray temporary file, never a
partial object), and is made read-only. Identical content is stored once.

What an artifact *is* in the ledger (the ``run.artifact_logged`` event with
its logical path, digest and size) belongs to the tracking service; this
module knows no database and imports nothing from ``ledger`` but its errors.
``verify`` re-hashes objects against the records the ledger hands it.

Symbolic links are refused, both as ``local_path`` and inside a directory
tree: following them could copy files from outside the tree the user named
(or loop forever), and a link's target can change between the check and the
read. Files are opened with ``O_NOFOLLOW`` and checked with ``fstat`` on the
open descriptor, so a file swapped for a link or a FIFO meanwhile is refused
too. Pass the link's target instead. Other non-regular files (FIFOs, sockets,
devices) are refused as well; an empty directory stores nothing.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from ledger.errors import NotFoundError, StorageError, ValidationError

__all__ = [
    "MAX_ARTIFACT_PATH_LENGTH",
    "ArtifactProblem",
    "ArtifactStore",
    "StoredArtifact",
    "check_artifact_path",
]

MAX_ARTIFACT_PATH_LENGTH = 1024
CHUNK_SIZE = 1 << 20
OBJECT_MODE = 0o444
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
_DRIVE = re.compile(r"[A-Za-z]:")
# Not following links, and not blocking on a FIFO before fstat can refuse it.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


@dataclass(frozen=True, slots=True)
class StoredArtifact:
    """One stored file: its logical path, the SHA-256 of its bytes (hex), its size."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class ArtifactProblem:
    """A recorded artifact whose object is gone or no longer has the recorded bytes."""

    path: str
    sha256: str
    kind: Literal["missing", "modified"]
    detail: str


def check_artifact_path(path: str) -> str:
    """Return ``path`` if it is a safe logical artifact path, else raise ``ValidationError``.

    A logical path is relative, uses single forward slashes, has no ``.`` or
    ``..`` components, no NUL, and is at most 1024 characters long, so that
    every artifact has exactly one spelling and none can point outside the run.
    """
    shown = _show(path)
    if not path:
        raise ValidationError("artifact path '' is empty; give a relative path such as 'model/model.pkl'")
    if "\0" in path:
        raise ValidationError(f"artifact path {shown} contains a NUL character")
    if len(path) > MAX_ARTIFACT_PATH_LENGTH:
        raise ValidationError(
            f"artifact path {shown} is {len(path)} characters long; the limit is {MAX_ARTIFACT_PATH_LENGTH}"
        )
    if "\\" in path:
        raise ValidationError(f"artifact path {shown} contains a backslash; use forward slashes")
    if path.startswith("/") or _DRIVE.match(path):
        raise ValidationError(f"artifact path {shown} is absolute; use a relative path")
    parts = path.split("/")
    if "" in parts:
        raise ValidationError(f"artifact path {shown} has an empty component; separate names with a single '/'")
    if ".." in parts:
        raise ValidationError(f"artifact path {shown} has a '..' component; artifact paths may not leave the run")
    if "." in parts:
        raise ValidationError(f"artifact path {shown} has a '.' component; remove it")
    return path


def _show(path: str) -> str:
    text = repr(path)
    return text if len(text) <= 80 else text[:60] + "…" + text[-10:]


class ArtifactStore:
    """Content-addressed files under ``root`` (the ledger's artifact root)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._objects = self.root / "sha256"
        self._tmp = self.root / "tmp"

    def store(self, local_path: str | Path, artifact_path: str | None = None) -> list[StoredArtifact]:
        """Copy a file, or every file under a directory, into the store.

        Returns one record per file, sorted by logical path: ``artifact_path``
        joined with the file's path relative to ``local_path`` (for a single
        file, its name). Every logical path is checked before anything is
        copied.
        """
        if artifact_path is not None:
            check_artifact_path(artifact_path)
        plan = [(source, _join(artifact_path, relative)) for source, relative in _files(Path(local_path))]
        for _, logical in plan:
            check_artifact_path(logical)
        return [self._store_file(source, logical) for source, logical in sorted(plan, key=lambda item: item[1])]

    def object_path(self, sha256: str) -> Path:
        """Where the object with this digest (hex, optionally ``sha256:``-prefixed) lives."""
        digest = sha256.removeprefix("sha256:")
        if not _HEX_DIGEST.fullmatch(digest):
            raise ValidationError(f"{_show(sha256)} is not a SHA-256 digest (64 lowercase hex digits)")
        return self._objects / digest[:2] / digest

    def open(self, sha256: str) -> BinaryIO:
        """Open the stored object for reading; ``NotFoundError`` if it is not there."""
        path = self.object_path(sha256)
        try:
            return path.open("rb")
        except FileNotFoundError as e:
            raise NotFoundError(f"artifact object {sha256} is not in the store at {self.root}") from e

    def verify(self, artifacts: Iterable[tuple[str, str, int]]) -> list[ArtifactProblem]:
        """Re-hash the object of each ``(path, sha256, size)`` record; list what is missing or modified.

        An empty list means every object is intact. Objects shared by several
        paths are hashed once.
        """
        seen: dict[str, tuple[str, int] | str] = {}
        problems = []
        for path, sha256, size in artifacts:
            obj = self.object_path(sha256)
            if sha256 not in seen:
                seen[sha256] = _hash_object(obj)
            found = seen[sha256]
            if isinstance(found, str):
                problems.append(ArtifactProblem(path, sha256, "missing", f"{found}: {obj}"))
                continue
            actual, actual_size = found
            if actual != sha256.removeprefix("sha256:") or actual_size != size:
                detail = f"{obj} hashes to {actual} ({actual_size} bytes); recorded {sha256} ({size} bytes)"
                problems.append(ArtifactProblem(path, sha256, "modified", detail))
        return problems

    def _store_file(self, source: Path, logical: str) -> StoredArtifact:
        digest, size, temp = self._copy_to_temp(source)
        try:
            target = self.object_path(digest)
            if _hash_object(target) == (digest, size):
                return StoredArtifact(logical, digest, size)
            new_directory = not target.parent.is_dir()
            target.parent.mkdir(parents=True, exist_ok=True)
            _replace(temp, target)
            _fsync_directory(target.parent)
            if new_directory:
                _fsync_directory(self._objects)
        except OSError as e:
            raise StorageError(f"cannot store {source} in the artifact store at {self.root}: {e}") from e
        finally:
            _discard(temp)
        return StoredArtifact(logical, digest, size)

    def _copy_to_temp(self, source: Path) -> tuple[str, int, Path]:
        """Copy ``source`` to a fresh temporary file, hashing as it goes; the file is fsynced and read-only."""
        with _open_regular(source) as src:
            try:
                self._tmp.mkdir(parents=True, exist_ok=True)
                fd, name = tempfile.mkstemp(dir=self._tmp, prefix="incoming-")
            except OSError as e:
                raise StorageError(f"cannot write to the artifact store at {self.root}: {e}") from e
            temp = Path(name)
            try:
                with os.fdopen(fd, "wb") as dst:
                    digest, size = _copy(src, dst, source)
                    dst.flush()
                    os.fsync(dst.fileno())
                os.chmod(temp, OBJECT_MODE)
            except BaseException as e:
                _discard(temp)
                if isinstance(e, OSError):
                    raise StorageError(f"cannot store {source} in the artifact store at {self.root}: {e}") from e
                raise
        return digest, size, temp


def _join(prefix: str | None, relative: str) -> str:
    return relative if prefix is None else f"{prefix}/{relative}"


def _files(local_path: Path) -> list[tuple[Path, str]]:
    """The regular files to store, each with its path relative to ``local_path`` (forward slashes)."""
    try:
        info = local_path.lstat()
    except FileNotFoundError as e:
        raise ValidationError(f"no such file or directory: {local_path}") from e
    except OSError as e:
        raise ValidationError(f"cannot read {local_path}: {e.strerror}") from e
    if stat.S_ISLNK(info.st_mode):
        raise ValidationError(f"{local_path} is a symbolic link; artifacts are stored from real files, pass its target")
    if stat.S_ISDIR(info.st_mode):
        return list(_walk(local_path, ""))
    _require_regular(local_path, info.st_mode)
    return [(local_path, local_path.name)]


def _walk(directory: Path, prefix: str) -> Iterator[tuple[Path, str]]:
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError as e:
        raise ValidationError(f"cannot list directory {directory}: {e.strerror}") from e
    for entry in entries:
        path = Path(entry.path)
        try:
            mode = entry.stat(follow_symlinks=False).st_mode
        except OSError as e:
            raise ValidationError(f"cannot read {path}: {e.strerror}") from e
        if stat.S_ISLNK(mode):
            raise ValidationError(f"{path} is a symbolic link; artifacts are stored from real files, pass its target")
        if stat.S_ISDIR(mode):
            yield from _walk(path, prefix + entry.name + "/")
        else:
            _require_regular(path, mode)
            yield path, prefix + entry.name


def _require_regular(path: Path, mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise ValidationError(f"{path} is not a regular file (a FIFO, socket or device); it cannot be stored")


@contextlib.contextmanager
def _open_regular(source: Path) -> Iterator[BinaryIO]:
    """Open ``source`` without following a link, and refuse it unless it is still a regular file."""
    try:
        fd = os.open(source, _OPEN_FLAGS)
    except FileNotFoundError as e:
        raise ValidationError(f"no such file or directory: {source}") from e
    except OSError as e:
        if e.errno == errno.ELOOP:  # replaced by a link after the tree was listed
            raise ValidationError(f"{source} is a symbolic link; artifacts are stored from real files") from e
        raise ValidationError(f"cannot read {source}: {e.strerror}") from e
    with os.fdopen(fd, "rb") as src:
        _require_regular(source, os.fstat(fd).st_mode)
        yield src


def _copy(src: BinaryIO, dst: BinaryIO, source: Path) -> tuple[str, int]:
    hasher = hashlib.sha256()
    size = 0
    while True:
        try:
            chunk = src.read(CHUNK_SIZE)
        except OSError as e:
            raise ValidationError(f"cannot read {source}: {e.strerror}") from e
        if not chunk:
            return hasher.hexdigest(), size
        hasher.update(chunk)
        dst.write(chunk)
        size += len(chunk)


def _hash_object(path: Path) -> tuple[str, int] | str:
    """``(hex digest, size)`` of a stored object, or why it cannot be read."""
    hasher = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as f:
            while chunk := f.read(CHUNK_SIZE):
                hasher.update(chunk)
                size += len(chunk)
    except FileNotFoundError:
        return "object file does not exist"
    except OSError as e:
        return f"object file cannot be read ({e.strerror})"
    return hasher.hexdigest(), size


def _replace(temp: Path, target: Path) -> None:
    try:
        os.replace(temp, target)
    except PermissionError:
        # Windows will not replace a read-only file (a damaged object being repaired).
        os.chmod(target, 0o644)
        os.replace(temp, target)


def _discard(temp: Path) -> None:
    """Remove a temporary file if it is still there (a leftover is harmless, so failures are ignored)."""
    with contextlib.suppress(OSError):
        if temp.exists():
            os.chmod(temp, 0o600)  # Windows cannot delete a read-only file
            temp.unlink()


def _fsync_directory(directory: Path) -> None:
    """Make the new directory entry durable; not possible (nor needed) on Windows."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
