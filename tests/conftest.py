"""Shared fixtures: a fresh ledger URI on each backend.

``uri`` runs a test on a real SQLite file and on a real PostgreSQL database
(a new database per test). PostgreSQL needs ``MLLEDGER_TEST_PG_URI``: an
admin URI of a role with CREATEDB, e.g. the one ``bash .ci/start-postgres``
prints. Without it those tests skip with the reason; with ``CI=true`` a
skipped PostgreSQL test fails the run instead.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

PG_ENV = "MLLEDGER_TEST_PG_URI"
IN_CI = os.environ.get("CI", "").lower() == "true"
PG_MISSING = (
    f"PostgreSQL tests need a server: set {PG_ENV}=postgresql+psycopg://USER:PASSWORD@HOST/postgres "
    "(a role with CREATEDB); `bash .ci/start-postgres` starts one and prints it"
)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if IN_CI and report.skipped and item.get_closest_marker("postgres") is not None:
        report.outcome = "failed"
        report.longrepr = f"PostgreSQL test skipped in CI (CI=true): {report.longrepr}"
    return report


@pytest.fixture(autouse=True)
def _signing_key_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PostgreSQL ledger's default signing key lives in ./mlledger/keys: keep
    every test's key in its own tmp_path instead (beside a SQLite file there,
    which is where the SQLite default puts it too)."""
    monkeypatch.setenv("MLLEDGER_KEY_FILE", str(tmp_path / "keys" / "ledger.key"))


def _libpq(uri: str) -> str:
    return make_url(uri).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def pg_uri() -> Iterator[str]:
    """A URI of a brand-new PostgreSQL database, dropped after the test."""
    admin = os.environ.get(PG_ENV)
    if not admin:
        pytest.skip(PG_MISSING)
    import psycopg

    name = f"mlledger_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(_libpq(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin).set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    finally:
        _drop_database(admin, name)


def _drop_database(admin: str, name: str) -> None:
    """DROP ... WITH (FORCE), retried: it cannot end a backend of another role
    (an autovacuum worker busy in the new database), which soon leaves."""
    import psycopg

    for attempt in range(20):
        try:
            with psycopg.connect(_libpq(admin), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectInUse):
            if attempt == 19:
                raise
            time.sleep(0.25)


@pytest.fixture
def sqlite_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def uri(request: pytest.FixtureRequest) -> str:
    """A fresh ledger URI, once per backend."""
    fixture = "sqlite_uri" if request.param == "sqlite" else "pg_uri"
    return str(request.getfixturevalue(fixture))
