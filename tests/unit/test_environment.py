"""Environment capture inside and outside a real git work tree, validated by the model."""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest

from ledger import environment
from ledger.environment import KNOWN_PACKAGES, capture_environment
from ledger.payloads.tracking import Environment

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(repo: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args]
    return subprocess.run(command, cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def no_git_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GIT_DIR", "GIT_WORK_TREE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def outside_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_git_env: None) -> Path:
    if any((d / ".git").exists() for d in (tmp_path, *tmp_path.parents)):
        pytest.skip(f"{tmp_path} is inside a git work tree")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_git_env: None) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "--quiet")
    (repo / "train.py").write_text("print('train')\n")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "--quiet", "-m", "first")
    monkeypatch.chdir(repo)
    return repo


def test_outside_a_git_tree_there_is_no_commit(outside_git: Path) -> None:
    env = capture_environment()
    assert (env["git_commit"], env["git_dirty"]) == (None, None)
    assert Environment.model_validate(env).model_dump() == env


def test_the_fields_are_exactly_the_models(outside_git: Path) -> None:
    env = capture_environment()
    assert set(env) == set(Environment.model_fields)
    assert env["python"] == platform.python_version()
    assert env["python"].startswith(f"{sys.version_info.major}.{sys.version_info.minor}.")
    assert env["platform"] == platform.platform()
    assert env["host"] == socket.gethostname()


def test_packages_are_the_installed_known_ones_with_their_versions(outside_git: Path) -> None:
    packages = capture_environment()["packages"]
    assert set(packages) <= set(KNOWN_PACKAGES)
    assert packages["pydantic"] == metadata.version("pydantic")
    assert packages["mlledger"] == metadata.version("mlledger")
    for name in set(KNOWN_PACKAGES) - set(packages):
        with pytest.raises(metadata.PackageNotFoundError):
            metadata.version(name)


def test_capture_imports_none_of_the_libraries_it_reports(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from ledger.environment import KNOWN_PACKAGES, capture_environment\n"
        "found = capture_environment()['packages']\n"
        "modules = {'scikit-learn': 'sklearn', 'mlledger': None, 'pydantic': None, 'sqlalchemy': None}\n"
        "print(sorted(n for n in found if modules.get(n, n) in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_capture_outside_git_is_fast(outside_git: Path) -> None:
    capture_environment()  # first call pays for platform's one-time probes
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        capture_environment()
        timings.append(time.perf_counter() - start)
    assert min(timings) < 0.050, f"capture took {min(timings) * 1000:.1f} ms at best"


@needs_git
def test_a_clean_work_tree_gives_head_and_not_dirty(repo: Path) -> None:
    env = capture_environment()
    assert env["git_commit"] == _git(repo, "rev-parse", "HEAD")
    assert env["git_dirty"] is False
    Environment.model_validate(env)


@needs_git
def test_a_modified_file_makes_the_tree_dirty(repo: Path) -> None:
    (repo / "train.py").write_text("print('changed')\n")
    env = capture_environment()
    assert (env["git_commit"], env["git_dirty"]) == (_git(repo, "rev-parse", "HEAD"), True)
    Environment.model_validate(env)


@needs_git
def test_an_untracked_file_makes_the_tree_dirty(repo: Path) -> None:
    (repo / "notes.txt").write_text("new\n")
    assert capture_environment()["git_dirty"] is True


@needs_git
def test_a_subdirectory_of_the_work_tree_counts(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "src").mkdir()
    monkeypatch.chdir(repo / "src")  # an empty directory is invisible to git: still clean
    env = capture_environment()
    assert (env["git_commit"], env["git_dirty"]) == (_git(repo, "rev-parse", "HEAD"), False)


@needs_git
def test_a_repository_without_commits_gives_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_git_env: None
) -> None:
    _git(tmp_path, "init", "--quiet")
    monkeypatch.chdir(tmp_path)
    env = capture_environment()
    assert (env["git_commit"], env["git_dirty"]) == (None, None)


@needs_git
def test_status_leaves_the_index_alone(repo: Path) -> None:
    """A plain `git status` would rewrite the index to refresh stat data, racing the user's own git."""
    index = repo / ".git" / "index"
    later = time.time() + 10
    os.utime(repo / "train.py", (later, later))  # stat data changes, content does not
    before = index.read_bytes()
    assert capture_environment()["git_dirty"] is False
    assert index.read_bytes() == before


@needs_git
def test_no_git_on_the_path_gives_none(repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    env = capture_environment()
    assert (env["git_commit"], env["git_dirty"]) == (None, None)


@pytest.mark.skipif(os.name != "posix", reason="a shell-script stand-in for git")
def test_a_hanging_git_is_cut_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_git_env: None) -> None:
    (tmp_path / ".git").mkdir()
    fake = tmp_path / "bin" / "git"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexec /bin/sleep 30\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    monkeypatch.setattr(environment, "GIT_TIMEOUT_SECONDS", 0.2)
    monkeypatch.chdir(tmp_path)

    start = time.perf_counter()
    env = capture_environment()

    assert (env["git_commit"], env["git_dirty"]) == (None, None)
    assert time.perf_counter() - start < 2.0
