"""The artifact store on real files: addressing, layout, refusals, crash safety, verify."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from ledger.artifacts import (
    CHUNK_SIZE,
    ArtifactProblem,
    ArtifactStore,
    StoredArtifact,
    check_artifact_path,
)
from ledger.errors import NotFoundError, ValidationError

POSIX = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes, links and FIFOs")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _objects(root: Path) -> list[Path]:
    return sorted(p for p in (root / "sha256").rglob("*") if p.is_file())


def _make_writable_and_write(path: Path, data: bytes) -> None:
    path.chmod(0o644)
    path.write_bytes(data)


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "artifacts")


# -- storing ---------------------------------------------------------------


def test_a_file_is_stored_under_its_sha256(store: ArtifactStore, tmp_path: Path) -> None:
    source = _write(tmp_path / "model.pkl", b"weights")
    digest = _sha(b"weights")

    assert store.store(source) == [StoredArtifact("model.pkl", digest, 7)]
    obj = store.root / "sha256" / digest[:2] / digest
    assert store.object_path(digest) == obj
    assert obj.read_bytes() == b"weights"
    with store.open(digest) as f:
        assert f.read() == b"weights"


def test_a_file_goes_under_the_artifact_path(store: ArtifactStore, tmp_path: Path) -> None:
    source = _write(tmp_path / "model.pkl", b"weights")
    [stored] = store.store(str(source), "models/best")
    assert stored.path == "models/best/model.pkl"


def test_an_empty_file_is_stored(store: ArtifactStore, tmp_path: Path) -> None:
    [stored] = store.store(_write(tmp_path / "empty", b""))
    assert stored == StoredArtifact("empty", _sha(b""), 0)
    assert store.object_path(stored.sha256).read_bytes() == b""


@POSIX
def test_objects_are_read_only(store: ArtifactStore, tmp_path: Path) -> None:
    [stored] = store.store(_write(tmp_path / "a.txt", b"a"))
    assert stat.S_IMODE(store.object_path(stored.sha256).stat().st_mode) == 0o444


def test_the_same_content_is_one_object(store: ArtifactStore, tmp_path: Path) -> None:
    first = store.store(_write(tmp_path / "a.txt", b"same"))
    second = store.store(_write(tmp_path / "elsewhere" / "b.txt", b"same"), "copies")
    again = store.store(tmp_path / "a.txt")

    assert first[0].sha256 == second[0].sha256 == again[0].sha256
    assert [s.path for s in first + second + again] == ["a.txt", "copies/b.txt", "a.txt"]
    assert _objects(store.root) == [store.object_path(first[0].sha256)]


def test_an_intact_object_is_not_rewritten(store: ArtifactStore, tmp_path: Path) -> None:
    [stored] = store.store(_write(tmp_path / "a.txt", b"same"))
    before = store.object_path(stored.sha256).stat()
    store.store(tmp_path / "a.txt")
    after = store.object_path(stored.sha256).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_storing_again_repairs_a_damaged_object(store: ArtifactStore, tmp_path: Path) -> None:
    [stored] = store.store(_write(tmp_path / "a.txt", b"good"))
    obj = store.object_path(stored.sha256)
    _make_writable_and_write(obj, b"evil")

    store.store(tmp_path / "a.txt")

    assert obj.read_bytes() == b"good"
    assert store.verify([(stored.path, stored.sha256, stored.size)]) == []


def test_a_directory_is_stored_recursively_with_forward_slashes(store: ArtifactStore, tmp_path: Path) -> None:
    tree = tmp_path / "out"
    _write(tree / "model.pkl", b"m")
    _write(tree / "plots" / "roc.png", b"r")
    _write(tree / "plots" / "deep" / "er" / "pr.png", b"p")
    _write(tree / "README", b"m")  # same bytes as model.pkl
    (tree / "empty_dir").mkdir()

    stored = store.store(tree, "run-output")

    assert stored == [
        StoredArtifact("run-output/README", _sha(b"m"), 1),
        StoredArtifact("run-output/model.pkl", _sha(b"m"), 1),
        StoredArtifact("run-output/plots/deep/er/pr.png", _sha(b"p"), 1),
        StoredArtifact("run-output/plots/roc.png", _sha(b"r"), 1),
    ]
    assert len(_objects(store.root)) == 3
    assert [s.path for s in store.store(tree)] == ["README", "model.pkl", "plots/deep/er/pr.png", "plots/roc.png"]


def test_an_empty_directory_stores_nothing(store: ArtifactStore, tmp_path: Path) -> None:
    (tmp_path / "nothing").mkdir()
    assert store.store(tmp_path / "nothing") == []


def test_a_missing_local_file_is_refused(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"no such file or directory: .*does-not-exist"):
        store.store(tmp_path / "does-not-exist")


def test_a_big_file_is_hashed_in_chunks_like_hashlib(store: ArtifactStore, tmp_path: Path) -> None:
    data = os.urandom(20 * CHUNK_SIZE + 1)  # 20 MiB and a byte: a partial last chunk
    source = _write(tmp_path / "big.bin", data)

    tracemalloc.start()
    try:
        [stored] = store.store(source)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert stored == StoredArtifact("big.bin", hashlib.sha256(data).hexdigest(), len(data))
    assert store.object_path(stored.sha256).read_bytes() == data
    assert peak < 4 * CHUNK_SIZE, f"peak {peak} bytes: the file was not streamed"


# -- crash safety ------------------------------------------------------------


def test_no_temporary_file_is_left_after_a_store(store: ArtifactStore, tmp_path: Path) -> None:
    _write(tmp_path / "d" / "a", b"a")
    _write(tmp_path / "d" / "b", b"a")
    store.store(tmp_path / "d")
    store.store(tmp_path / "d")
    assert list((store.root / "tmp").iterdir()) == []
    assert sorted(p.name for p in store.root.iterdir()) == ["sha256", "tmp"]


def test_a_failed_copy_leaves_neither_object_nor_temporary_file(
    store: ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _write(tmp_path / "a.txt", b"a" * 100)

    def fail(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(KeyboardInterrupt):
        store.store(source)
    assert _objects(store.root) == []
    assert list((store.root / "tmp").iterdir()) == []


def test_a_process_killed_before_the_rename_leaves_no_object(store: ArtifactStore, tmp_path: Path) -> None:
    """A hard exit (no cleanup runs) after the bytes are written but before os.replace."""
    source = _write(tmp_path / "a.txt", b"payload" * 1000)
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from ledger.artifacts import ArtifactStore\n"
        "os.fsync = lambda fd: os._exit(9)\n"
        "ArtifactStore(Path(sys.argv[1])).store(sys.argv[2])\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(store.root), str(source)], check=False)

    assert result.returncode == 9
    assert _objects(store.root) == []
    [leftover] = (store.root / "tmp").iterdir()  # a stray temporary file, never a partial object
    assert leftover.name.startswith("incoming-")
    [stored] = store.store(source)
    assert store.verify([(stored.path, stored.sha256, stored.size)]) == []


# -- refused paths -----------------------------------------------------------

REFUSED = [
    ("/etc/x", r"artifact path '/etc/x' is absolute; use a relative path"),
    ("C:/x", r"artifact path 'C:/x' is absolute; use a relative path"),
    ("a/../b", r"artifact path 'a/\.\./b' has a '\.\.' component; artifact paths may not leave the run"),
    ("..", r"artifact path '\.\.' has a '\.\.' component"),
    ("a//b", r"artifact path 'a//b' has an empty component; separate names with a single '/'"),
    ("a/", r"artifact path 'a/' has an empty component"),
    ("./a", r"artifact path '\./a' has a '\.' component; remove it"),
    ("", r"artifact path '' is empty"),
    ("a\\b", r"artifact path 'a\\\\b' contains a backslash; use forward slashes"),
    ("a\0b", r"artifact path 'a\\x00b' contains a NUL character"),
    ("x" * 1025, r"artifact path 'x{59}…x{9}' is 1025 characters long; the limit is 1024"),
]


@pytest.mark.parametrize(("path", "message"), REFUSED)
def test_check_artifact_path_refuses(path: str, message: str) -> None:
    with pytest.raises(ValidationError, match=f"^{message}"):
        check_artifact_path(path)


@pytest.mark.parametrize(("path", "message"), REFUSED)
def test_store_refuses_a_bad_artifact_path_before_copying(
    store: ArtifactStore, tmp_path: Path, path: str, message: str
) -> None:
    source = _write(tmp_path / "a.txt", b"a")
    with pytest.raises(ValidationError, match=f"^{message}"):
        store.store(source, path)
    assert not store.root.exists()


@pytest.mark.parametrize("path", ["a", "a/b/c.txt", ".hidden/x", "a..b/...", "x" * 1024, "résumé/データ.csv"])
def test_check_artifact_path_accepts(path: str) -> None:
    assert check_artifact_path(path) == path


def test_a_prefix_that_makes_a_path_too_long_is_refused(store: ArtifactStore, tmp_path: Path) -> None:
    source = _write(tmp_path / "model.pkl", b"m")
    with pytest.raises(ValidationError, match="is 1034 characters long; the limit is 1024"):
        store.store(source, "p" * 1024)


@POSIX
def test_a_bad_file_name_in_a_directory_refuses_the_whole_store(store: ArtifactStore, tmp_path: Path) -> None:
    _write(tmp_path / "d" / "fine.txt", b"f")
    _write(tmp_path / "d" / "sub" / "back\\slash", b"b")
    with pytest.raises(ValidationError, match=r"artifact path 'out/sub/back\\\\slash' contains a backslash"):
        store.store(tmp_path / "d", "out")
    assert not store.root.exists()


# -- links and special files -----------------------------------------------


@POSIX
def test_a_symbolic_link_is_refused(store: ArtifactStore, tmp_path: Path) -> None:
    target = _write(tmp_path / "real.txt", b"r")
    (tmp_path / "link.txt").symlink_to(target)
    with pytest.raises(ValidationError, match=r"link\.txt is a symbolic link; .* pass its target"):
        store.store(tmp_path / "link.txt")


@POSIX
@pytest.mark.parametrize("kind", ["file", "directory", "dangling"])
def test_a_symbolic_link_inside_a_directory_is_refused(store: ArtifactStore, tmp_path: Path, kind: str) -> None:
    _write(tmp_path / "d" / "real.txt", b"r")
    outside = {"file": _write(tmp_path / "secret", b"s"), "directory": tmp_path, "dangling": tmp_path / "gone"}[kind]
    (tmp_path / "d" / "sub").mkdir()
    (tmp_path / "d" / "sub" / "link").symlink_to(outside)
    with pytest.raises(ValidationError, match=r"sub/link is a symbolic link"):
        store.store(tmp_path / "d")
    assert not store.root.exists()


@POSIX
def test_a_fifo_is_refused_without_blocking(store: ArtifactStore, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(ValidationError, match="pipe is not a regular file"):
        store.store(tmp_path / "pipe")


# -- reading and verifying ---------------------------------------------------


def test_object_path_accepts_a_prefixed_digest_and_refuses_a_bad_one(store: ArtifactStore) -> None:
    digest = _sha(b"x")
    assert store.object_path(f"sha256:{digest}") == store.object_path(digest)
    with pytest.raises(ValidationError, match="'ABC' is not a SHA-256 digest"):
        store.object_path("ABC")
    with pytest.raises(ValidationError, match="is not a SHA-256 digest"):
        store.object_path("../" + digest[3:])


def test_opening_an_absent_object_is_not_found(store: ArtifactStore) -> None:
    with pytest.raises(NotFoundError, match=f"artifact object {_sha(b'x')} is not in the store"):
        store.open(_sha(b"x"))


def _records(stored: list[StoredArtifact]) -> list[tuple[str, str, int]]:
    return [(s.path, s.sha256, s.size) for s in stored]


def test_verify_finds_nothing_wrong_with_intact_objects(store: ArtifactStore, tmp_path: Path) -> None:
    _write(tmp_path / "d" / "a", b"a")
    _write(tmp_path / "d" / "b" / "c", b"c")
    assert store.verify(_records(store.store(tmp_path / "d"))) == []
    assert store.verify([]) == []


def test_verify_reports_a_deleted_object_as_missing(store: ArtifactStore, tmp_path: Path) -> None:
    _write(tmp_path / "d" / "a", b"a")
    _write(tmp_path / "d" / "b", b"b")
    stored = store.store(tmp_path / "d")
    store.object_path(stored[1].sha256).unlink()

    [problem] = store.verify(_records(stored))

    assert (problem.path, problem.sha256, problem.kind) == ("b", _sha(b"b"), "missing")
    assert problem.detail.startswith("object file does not exist: ")


@pytest.mark.parametrize("new_bytes", [b"tampered", b"B"], ids=["other-size", "same-size"])
def test_verify_reports_a_rewritten_object_as_modified(store: ArtifactStore, tmp_path: Path, new_bytes: bytes) -> None:
    _write(tmp_path / "d" / "a", b"a")
    _write(tmp_path / "d" / "b", b"b")
    stored = store.store(tmp_path / "d")
    _make_writable_and_write(store.object_path(stored[0].sha256), new_bytes)

    assert store.verify(_records(stored)) == [
        ArtifactProblem(
            "a",
            _sha(b"a"),
            "modified",
            f"{store.object_path(_sha(b'a'))} hashes to {_sha(new_bytes)} ({len(new_bytes)} bytes); "
            f"recorded {_sha(b'a')} (1 bytes)",
        )
    ]


def test_verify_reports_every_path_of_a_shared_object(store: ArtifactStore, tmp_path: Path) -> None:
    stored = store.store(_write(tmp_path / "a", b"same")) + store.store(_write(tmp_path / "b", b"same"), "x")
    store.object_path(stored[0].sha256).unlink()
    assert [(p.path, p.kind) for p in store.verify(_records(stored))] == [("a", "missing"), ("x/b", "missing")]


def test_verify_reports_a_wrong_recorded_size(store: ArtifactStore, tmp_path: Path) -> None:
    [stored] = store.store(_write(tmp_path / "a", b"abc"))
    [problem] = store.verify([(stored.path, f"sha256:{stored.sha256}", 4)])
    assert problem.kind == "modified"
    assert problem.detail.endswith(f"(3 bytes); recorded sha256:{stored.sha256} (4 bytes)")
