"""Data versions as first-class citizens (issue 6), on a real SQLite file and
a real PostgreSQL database: ``register_dataset_version`` and its readers,
every rule with its error text and an unchanged ledger, ``log_input``
linking a run to a registered version or registering it in the same batch,
derived chains, redaction of a registration (live, rebuilt and as of any
moment alike), the schema 6 migration, replays of chains written past the
rules, writers racing for one version, and the ``datasets`` commands
through click's ``CliRunner``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text

import ledger
from cli.main import main
from ledger import ConflictError, NotFoundError, ValidationError
from ledger.datasets import DataVersion, DataVersionRef
from ledger.events import PendingEvent, prepare
from ledger.redaction_rules import REDACTED
from tests.integration.support import stored
from tests.property.test_rebuild import _dump

A, B, C = ("sha256:" + c * 64 for c in "abc")
ADMIN = "dpo"
DATA_TABLES = ("dataset_versions", "dataset_parents")


@pytest.fixture
def lg(uri: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ledger.Ledger]:
    monkeypatch.setenv("MLLEDGER_ACTOR", "alice")
    monkeypatch.setenv("MLLEDGER_CAPTURE_ENV", "0")
    with ledger.open(uri) as opened:
        yield opened


def _snapshot(lg: ledger.Ledger) -> tuple[Any, ...]:
    """What a refused call must leave as it was: size, head hash and read models."""
    head = lg.head()
    return lg.size(), head.hash if head else None, _dump(lg.store.engine)


def _refused(lg: ledger.Ledger, error: type[Exception], message: str, call: Callable[[], Any]) -> None:
    before = _snapshot(lg)
    with pytest.raises(error) as caught:
        call()
    assert str(caught.value) == message
    assert _snapshot(lg) == before


def _back_to_schema_5(uri: str) -> None:
    """Make the closed ledger at ``uri`` what schema 5 left: no data-version tables."""
    engine = create_engine(uri)
    with engine.begin() as conn:
        for table in DATA_TABLES:
            conn.execute(text(f"DROP TABLE {table}"))
        conn.execute(text("UPDATE ledger_meta SET value = '5' WHERE key = 'schema_version'"))
    engine.dispose()


def _rebuilds_the_same(lg: ledger.Ledger) -> None:
    """The live read models equal an as-of replay at the head and a rebuild."""
    live = _dump(lg.store.engine)
    assert _dump(lg.store.read_models_as_of(lg.size())) == live
    lg.rebuild()
    assert _dump(lg.store.engine) == live


def _chain(lg: ledger.Ledger) -> tuple[DataVersion, DataVersion, DataVersion]:
    """raw@2026-03 -> clean@1 -> (clean@1, labels@7) -> train@1."""
    raw = lg.register_dataset_version("raw", "2026-03", digest=A, source="s3://bank/raw/2026-03.parquet")
    clean = lg.register_dataset_version(
        "clean", "1", digest=B, derived_from=["raw@2026-03"], transform="dedupe; drop PII", actor="bob"
    )
    lg.register_dataset_version("labels", "7", digest=A)
    train = lg.register_dataset_version(
        "train", "1", digest=C, derived_from=[("clean", "1"), {"name": "labels", "version": "7"}], transform="join"
    )
    return raw, clean, train


# -- registering and reading -----------------------------------------------------------


def test_a_registered_version_reads_back_as_its_event_says(lg: ledger.Ledger) -> None:
    found = lg.register_dataset_version(
        "loans",
        "2026-03",
        digest=A,
        source="s3://bank/loans/2026-03.parquet",
        schema={"amount": "float", "defaulted": "int"},
        num_rows=10_000,
        transform="monthly extract",
    )
    event = lg.event(found.seq)
    assert (event.type, event.actor, event.time) == ("dataset.version_registered", "alice", found.time)
    assert event.payload == {
        "name": "loans",
        "version": "2026-03",
        "digest": A,
        "source": "s3://bank/loans/2026-03.parquet",
        "derived_from": [],
        "transform": "monthly extract",
        "columns": [{"name": "amount", "type": "float"}, {"name": "defaulted", "type": "int"}],
        "num_rows": 10_000,
    }
    assert found == DataVersion(
        name="loans",
        version="2026-03",
        digest=A,
        source="s3://bank/loans/2026-03.parquet",
        transform="monthly extract",
        columns=({"name": "amount", "type": "float"}, {"name": "defaulted", "type": "int"}),
        num_rows=10_000,
        derived_from=(),
        seq=0,
        actor="alice",
        time=event.time,
    )
    assert str(found.ref) == "loans@2026-03"
    assert not found.redacted
    assert lg.dataset_version("loans", "2026-03") == found
    assert lg.dataset_versions() == [found]
    assert lg.dataset_versions("loans") == [found]
    assert lg.dataset_versions("other") == []
    assert found.to_json()["columns"] == [{"name": "amount", "type": "float"}, {"name": "defaulted", "type": "int"}]
    assert lg.verify().ok


def test_the_same_content_again_appends_nothing_and_returns_the_version(lg: ledger.Ledger) -> None:
    _, _, train = _chain(lg)
    before = _snapshot(lg)
    # A retried call, by anyone, with the parents in another order and spelled otherwise.
    again = lg.register_dataset_version(
        "train",
        "1",
        digest=C,
        derived_from=[DataVersionRef("labels", "7"), "clean@1"],
        transform="join",
        actor="someone-else",
    )
    assert again == train
    assert again.derived_from == (DataVersionRef("clean", "1"), DataVersionRef("labels", "7"))
    assert _snapshot(lg) == before


def test_derived_from_spellings(lg: ledger.Ledger) -> None:
    parent = lg.register_dataset_version("team@corp/loans", "v1", digest=A)  # "@" in a name: split at the last
    spellings: list[Any] = [
        "team@corp/loans@v1",
        ["team@corp/loans@v1"],
        [("team@corp/loans", "v1")],
        [["team@corp/loans", "v1"]],
        [{"name": "team@corp/loans", "version": "v1"}],
        parent,
        [parent],
        [parent.ref],
    ]
    for index, spelling in enumerate(spellings):
        child = lg.register_dataset_version("child", str(index), digest=B, derived_from=spelling)
        assert child.derived_from == (DataVersionRef("team@corp/loans", "v1"),), spelling


def test_a_derived_chain_and_its_parents_rows(lg: ledger.Ledger) -> None:
    raw, clean, train = _chain(lg)
    assert clean.derived_from == (raw.ref,)
    assert (clean.transform, clean.actor) == ("dedupe; drop PII", "bob")
    assert [str(ref) for ref in train.derived_from] == ["clean@1", "labels@7"]
    assert [v.ref for v in lg.dataset_versions()] == [raw.ref, clean.ref, ("labels", "7"), train.ref]
    assert stored(
        lg.uri,
        "SELECT seq, position, name, version, parent_name, parent_version FROM dataset_parents ORDER BY seq, position",
    ) == [
        (clean.seq, 0, "clean", "1", "raw", "2026-03"),
        (train.seq, 0, "train", "1", "clean", "1"),
        (train.seq, 1, "train", "1", "labels", "7"),
    ]
    _rebuilds_the_same(lg)


def test_as_of_a_seq_a_time_or_a_datetime(lg: ledger.Ledger) -> None:
    raw, clean, train = _chain(lg)
    assert [v.ref for v in lg.dataset_versions(as_of=raw.seq)] == [raw.ref]
    assert lg.dataset_versions(as_of=clean.seq) == [raw, clean]
    assert lg.dataset_versions("train", as_of=train.seq - 1) == []
    assert lg.dataset_version("train", "1", as_of=train.seq) == train
    assert lg.dataset_version("clean", "1", as_of=clean.time) == clean
    assert lg.dataset_version("clean", "1", as_of=datetime.fromisoformat(clean.time.replace("Z", "+00:00"))) == clean
    _refused(
        lg,
        NotFoundError,
        f"data version train@1 is not registered as of event {clean.seq}",
        lambda: lg.dataset_version("train", "1", as_of=clean.seq),
    )
    # A time before the first event: refused by each reader, in the same words.
    before_first = "as_of '2000-01-01T00:00:00Z' is before the ledger's first event"
    _refused(
        lg, ValidationError, before_first, lambda: lg.dataset_version("raw", "2026-03", as_of="2000-01-01T00:00:00Z")
    )
    _refused(lg, ValidationError, before_first, lambda: lg.dataset_versions(as_of="2000-01-01T00:00:00Z"))
    _refused(
        lg,
        ValidationError,
        "as_of '2000-01-01T00:00:00.000000Z' is before the ledger's first event",
        lambda: lg.dataset_versions("raw", as_of=datetime(2000, 1, 1, tzinfo=UTC)),
    )
    _refused(
        lg,
        ValidationError,
        f"as_of 99 is not an event of this ledger (its events are 0..{train.seq})",
        lambda: lg.dataset_versions(as_of=99),
    )
    _refused(lg, NotFoundError, "data version nope@1 is not registered", lambda: lg.dataset_version("nope", "1"))
    _refused(
        lg,
        ValidationError,
        "a data version's version is a string, got int 1",
        lambda: lg.dataset_version("train", 1),  # type: ignore[arg-type]
    )


# -- the rules: each refusal names what it refused, appends nothing ------------------------


RULES: list[tuple[str, type[Exception], str, Callable[[ledger.Ledger], Any]]] = [
    (
        "another digest",
        ConflictError,
        f"data version clean@1 is already registered (event 1) with digest {B!r} (refused {C!r}): "
        "a data version never changes, register new content under a new version",
        lambda lg: lg.register_dataset_version(
            "clean", "1", digest=C, derived_from=["raw@2026-03"], transform="dedupe; drop PII"
        ),
    ),
    (
        "other content",
        ConflictError,
        "data version clean@1 is already registered (event 1) with transform 'dedupe; drop PII' (refused 'dedupe'); "
        "num_rows None (refused 5); derived_from [raw@2026-03] (refused []): a data version never changes, "
        "register new content under a new version",
        lambda lg: lg.register_dataset_version("clean", "1", digest=B, transform="dedupe", num_rows=5),
    ),
    (
        "an unregistered parent",
        NotFoundError,
        "data version clean@2 derives from raw@2026-04, which is not registered: register raw@2026-04 first",
        lambda lg: lg.register_dataset_version("clean", "2", digest=C, derived_from=["raw@2026-03", "raw@2026-04"]),
    ),
    (
        "itself",
        ValidationError,
        "data version clean@2 cannot be derived from itself",
        lambda lg: lg.register_dataset_version("clean", "2", digest=C, derived_from=["clean@2"]),
    ),
    (
        "a parent twice",
        ValidationError,
        "data version clean@2 names raw@2026-03 twice in derived_from",
        lambda lg: lg.register_dataset_version(
            "clean", "2", digest=C, derived_from=["raw@2026-03", ("raw", "2026-03")]
        ),
    ),
    (
        "a parent not spelled as one",
        ValidationError,
        "derived_from item 'raw' is not a data version: expected NAME@VERSION, a (name, version) pair of strings "
        "or a {name, version} mapping",
        lambda lg: lg.register_dataset_version("clean", "2", digest=C, derived_from=["raw"]),
    ),
    (
        "a malformed schema",
        ValidationError,
        "schema column 'amount' is not a {name, type} mapping (a schema is {column: type} or [{name, type}, ...])",
        lambda lg: lg.register_dataset_version("clean", "2", digest=C, schema=["amount"]),
    ),
    (
        "an empty digest",
        ValidationError,
        "digest: String should have at least 1 character (got '')",
        lambda lg: lg.register_dataset_version("clean", "2", digest=""),
    ),
    (
        "NUL in the source",
        ValidationError,
        "source: text may not contain NUL (U+0000) (got 's3://a\\x00b')",
        lambda lg: lg.register_dataset_version("clean", "2", digest=C, source="s3://a\x00b"),
    ),
    (
        "a raw second registration, even the same",
        ConflictError,
        "data version raw@2026-03 is already registered (event 0); a data version is registered once",
        lambda lg: lg.append(
            "dataset.version_registered",
            {"name": "raw", "version": "2026-03", "digest": A, "source": "s3://bank/raw/2026-03.parquet"},
        ),
    ),
    (
        "a raw registration with an unregistered parent",
        NotFoundError,
        "data version clean@2 derives from raw@1999, which is not registered: register raw@1999 first",
        lambda lg: lg.append(
            "dataset.version_registered",
            {"name": "clean", "version": "2", "digest": C, "derived_from": [{"name": "raw", "version": "1999"}]},
        ),
    ),
    (
        "a raw registration derived from itself",
        ValidationError,
        "data version clean@2 cannot be derived from itself",
        lambda lg: lg.append(
            "dataset.version_registered",
            {"name": "clean", "version": "2", "digest": C, "derived_from": [{"name": "clean", "version": "2"}]},
        ),
    ),
]


@pytest.mark.parametrize(("error", "message", "call"), [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_each_rule_refuses_with_its_message_and_appends_nothing(
    lg: ledger.Ledger, error: type[Exception], message: str, call: Callable[[ledger.Ledger], Any]
) -> None:
    _chain(lg)
    _refused(lg, error, message, lambda: call(lg))


# -- log_input: link to a registered version, or register it ---------------------------------


def test_log_input_registers_an_unknown_version_in_the_same_batch(lg: ledger.Ledger) -> None:
    with lg.start_run(actor="carol") as run:
        size = lg.size()
        run.log_input("loans", "v1", A, source="s3://x", context="training", schema={"a": "int"}, num_rows=3)
        events = list(lg.events(size))
        assert [e.type for e in events] == ["dataset.version_registered", "run.input_logged"]
        assert {e.actor for e in events} == {"carol"}
        assert events[0].time == events[1].time  # one batch, one transaction
        assert events[0].payload == {
            "name": "loans",
            "version": "v1",
            "digest": A,
            "source": "s3://x",
            "derived_from": [],
            "transform": None,
            "columns": [{"name": "a", "type": "int"}],
            "num_rows": 3,
        }
        # Registered now: a second input of it is linked, one event.
        run.log_input("loans", "v1", A, context="test")
        assert lg.size() == size + 3
    found = lg.dataset_version("loans", "v1")
    assert (found.seq, found.actor, found.source, found.num_rows) == (size, "carol", "s3://x", 3)
    assert [(i["name"], i["version"], i["context"]) for i in lg.get_run(run.run_id).inputs] == [
        ("loans", "v1", "training"),
        ("loans", "v1", "test"),
    ]
    _rebuilds_the_same(lg)


def test_log_input_links_to_a_registered_version(lg: ledger.Ledger) -> None:
    _, clean, _ = _chain(lg)
    with lg.start_run() as run:
        size = lg.size()
        run.log_input("clean", "1", B, source="a copy elsewhere", context="training")
        assert [e.type for e in lg.events(size)] == ["run.input_logged"]
    assert lg.dataset_version("clean", "1") == clean  # the input's own fields change nothing there
    assert lg.get_run(run.run_id).inputs[0]["source"] == "a copy elsewhere"


def test_log_input_with_another_digest_is_refused(lg: ledger.Ledger) -> None:
    _, clean, _ = _chain(lg)
    with lg.start_run() as run:
        message = (
            f"run {run.run_id!r} input clean@1: digest {C!r} does not match data version clean@1, registered by "
            f"event {clean.seq} with digest {B!r}; log the version that was read, or register this data as a new "
            "version"
        )
        _refused(lg, ConflictError, message, lambda: run.log_input("clean", "1", C))
        payload = {"run_id": run.run_id, "name": "clean", "version": "1", "digest": C}
        _refused(lg, ConflictError, message, lambda: lg.append("run.input_logged", payload))  # the store's rule too


def test_log_input_into_a_finished_run_registers_nothing(lg: ledger.Ledger) -> None:
    with lg.start_run() as run:
        pass
    _refused(
        lg,
        ConflictError,
        f"run {run.run_id!r} is FINISHED: nothing can be logged into a finished run",
        lambda: run.log_input("loans", "v1", A),
    )
    assert lg.dataset_versions() == []


def test_log_input_refuses_bad_arguments_before_registering(lg: ledger.Ledger) -> None:
    with lg.start_run() as run:
        _refused(
            lg,
            ValidationError,
            "context: Input should be 'training', 'validation' or 'test' (got 'prod')",
            lambda: run.log_input("loans", "v1", A, context="prod"),
        )
        _refused(
            lg,
            ValidationError,
            "schema must be {column: type} or [{name, type}, ...], got int",
            lambda: run.log_input("loans", "v1", A, schema=5),  # type: ignore[arg-type]
        )
    assert lg.dataset_versions() == []


# -- a registration after inputs that named its version ---------------------------------------


def _logged_before(lg: ledger.Ledger, run_id: str, name: str, version: str, digest: str) -> int:
    """A raw input of an unregistered version (as a ledger older than schema 6
    holds them): nothing registers it. Returns its seq."""
    payload = {"run_id": run_id, "name": name, "version": version, "digest": digest}
    seq = lg.append("run.input_logged", payload).seq
    assert lg.dataset_versions(name) == []
    return seq


def _other_input(name: str, digest: str, run_id: str, seq: int, logged: str) -> str:
    return (
        f"data version {name} cannot be registered with digest {digest!r}: run {run_id!r} logged {name} as an "
        f"input by event {seq} with digest {logged!r}; register {name} with the digest that run read, or register "
        "this data as a new version"
    )


def test_a_registration_must_have_the_digest_of_earlier_inputs(lg: ledger.Ledger) -> None:
    with lg.start_run() as run:
        same = _logged_before(lg, run.run_id, "d", "2", "sha256:11")
        other = _logged_before(lg, run.run_id, "d", "2", "sha256:33")  # inputs are not checked against each other
        message = _other_input("d@2", "sha256:22", run.run_id, same, "sha256:11")
        _refused(lg, ConflictError, message, lambda: lg.register_dataset_version("d", "2", digest="sha256:22"))
        raw = {"name": "d", "version": "2", "digest": "sha256:22"}
        _refused(lg, ConflictError, message, lambda: lg.append("dataset.version_registered", raw))  # the store's rule
        # log_input registers an unregistered version from its own arguments: the same rule refuses it.
        _refused(lg, ConflictError, message, lambda: run.log_input("d", "2", "sha256:22"))
        # The first input that differs is named, whichever digest is offered.
        message = _other_input("d@2", "sha256:11", run.run_id, other, "sha256:33")
        _refused(lg, ConflictError, message, lambda: lg.register_dataset_version("d", "2", digest="sha256:11"))
    assert lg.dataset_versions() == []
    _rebuilds_the_same(lg)


def test_a_registration_with_the_digest_of_earlier_inputs_is_accepted(lg: ledger.Ledger) -> None:
    with lg.start_run() as run:
        _logged_before(lg, run.run_id, "d", "2", "sha256:11")
        _logged_before(lg, run.run_id, "e", "2", "sha256:99")  # another version's input is not compared
        found = lg.register_dataset_version("d", "2", digest="sha256:11", source="s3://d/2")
        run.log_input("d", "2", "sha256:11")
    assert (found.digest, found.source) == ("sha256:11", "s3://d/2")
    assert [i["digest"] for i in lg.get_run(run.run_id).inputs] == ["sha256:11", "sha256:99", "sha256:11"]
    _rebuilds_the_same(lg)


def test_a_redacted_earlier_input_is_not_compared(lg: ledger.Ledger) -> None:
    lg.claim_admin(actor=ADMIN)
    with lg.start_run() as run:
        erased = _logged_before(lg, run.run_id, "d", "2", "sha256:11")
        kept = _logged_before(lg, run.run_id, "d", "3", "sha256:11")
    lg.redact(erased, reason="erasure request DSR-9", legal_basis="GDPR Art. 17", actor=ADMIN)
    assert lg.register_dataset_version("d", "2", digest="sha256:22").digest == "sha256:22"
    # The redaction of one input leaves the others compared.
    _refused(
        lg,
        ConflictError,
        _other_input("d@3", "sha256:22", run.run_id, kept, "sha256:11"),
        lambda: lg.register_dataset_version("d", "3", digest="sha256:22"),
    )
    _rebuilds_the_same(lg)


def test_an_input_from_a_schema_5_ledger_is_compared_after_the_migration(lg: ledger.Ledger) -> None:
    with lg.start_run() as run:
        seq = _logged_before(lg, run.run_id, "loans", "2026-03", "sha256:11")
    uri = lg.uri
    lg.close()
    _back_to_schema_5(uri)
    with ledger.open(uri) as migrated:
        _refused(
            migrated,
            ConflictError,
            _other_input("loans@2026-03", "sha256:22", run.run_id, seq, "sha256:11"),
            lambda: migrated.register_dataset_version("loans", "2026-03", digest="sha256:22"),
        )
        assert migrated.register_dataset_version("loans", "2026-03", digest="sha256:11").seq == migrated.size() - 1


def test_a_registration_past_the_rule_replays_as_written(lg: ledger.Ledger) -> None:
    """An import (``enforce_rules=False``) or an older chain may hold a
    registration whose digest differs from an earlier input's: a rebuild, an
    as-of replay and a migration keep it, as the ledger says."""
    with lg.start_run() as run:
        _logged_before(lg, run.run_id, "d", "2", "sha256:11")
    registration = PendingEvent("dataset.version_registered", {"name": "d", "version": "2", "digest": "sha256:22"}, "x")
    lg.store.append([prepare(registration)], lg._clock, enforce_rules=False)
    assert lg.dataset_version("d", "2").digest == "sha256:22"
    _rebuilds_the_same(lg)
    before, uri = _dump(lg.store.engine), lg.uri
    lg.close()
    _back_to_schema_5(uri)
    with ledger.open(uri) as migrated:
        assert _dump(migrated.store.engine) == before
        assert migrated.dataset_version("d", "2").digest == "sha256:22"
        assert migrated.verify().ok


def test_the_fluent_log_input_links_and_registers(uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import ledger.fluent

    monkeypatch.setenv("MLLEDGER_URI", uri)
    monkeypatch.setenv("MLLEDGER_CAPTURE_ENV", "0")
    monkeypatch.setattr(ledger.fluent, "_default", None)
    lg = ledger.fluent.default_ledger()
    try:
        lg.register_dataset_version("loans", "v1", digest=A)
        with ledger.start_run():
            ledger.log_input("loans", "v1", A)
            ledger.log_input("loans", "v2", B, schema=[{"name": "a", "type": "int"}])
            with pytest.raises(ConflictError, match=r"input loans@v2: digest .* does not match data version loans@v2"):
                ledger.log_input("loans", "v2", C)
        assert [(v.version, v.columns) for v in lg.dataset_versions("loans")] == [
            ("v1", None),
            ("v2", ({"name": "a", "type": "int"},)),
        ]
    finally:
        lg.close()


# -- redaction ---------------------------------------------------------------------------


def test_a_redacted_registration_keeps_its_name_and_version(lg: ledger.Ledger) -> None:
    lg.claim_admin(actor=ADMIN)
    raw, clean, train = _chain(lg)
    with lg.start_run() as run:
        run.log_input("clean", "1", B, context="training")
    redaction = lg.redact(clean.seq, reason="erasure request DSR-7", legal_basis="GDPR Art. 17", actor=ADMIN)
    assert redaction.payload is not None
    assert redaction.payload["subject"] == {"name": "clean", "version": "1"}
    erased = lg.dataset_version("clean", "1")
    assert erased == DataVersion(
        name="clean",
        version="1",
        digest=REDACTED,
        source=None,
        transform=None,
        columns=None,
        num_rows=None,
        derived_from=(),
        seq=clean.seq,
        actor="bob",
        time=clean.time,
        redacted_by=redaction.seq,
    )
    assert erased.redacted
    # Its children still derive from it; its parents and inputs are untouched.
    assert lg.dataset_version("train", "1").derived_from == train.derived_from
    assert lg.dataset_version("raw", "2026-03") == raw
    assert lg.get_run(run.run_id).inputs[0]["digest"] == B
    assert stored(lg.uri, f"SELECT COUNT(*) FROM dataset_parents WHERE seq = {clean.seq}") == [(0,)]
    # As of any moment, even before the erasure, it reads as redacted.
    assert lg.dataset_version("clean", "1", as_of=clean.seq) == erased
    assert lg.verify().redacted == (clean.seq,)
    _rebuilds_the_same(lg)
    assert lg.dataset_version("clean", "1") == erased
    # Its digest cannot be compared any more: a new input or registration of it is refused.
    with lg.start_run() as later:
        _refused(
            lg,
            ConflictError,
            f"run {later.run_id!r} input clean@1: data version clean@1 (event {clean.seq}) was redacted by event "
            f"{redaction.seq}, so digest {B!r} cannot be checked against it; register the data under a new version",
            lambda: later.log_input("clean", "1", B),
        )
    _refused(
        lg,
        ConflictError,
        f"data version clean@1 is already registered (event {clean.seq}) and that registration was redacted by "
        f"event {redaction.seq}: its content cannot be compared any more; register the data under a new version",
        lambda: lg.register_dataset_version("clean", "1", digest=B, derived_from=["raw@2026-03"]),
    )
    # A new version may still derive from it: its name and version are known.
    assert lg.register_dataset_version("clean", "2", digest=C, derived_from=["clean@1"]).derived_from == (clean.ref,)
    _rebuilds_the_same(lg)


# -- replays: migration, and chains written past the rules ----------------------------------


def test_migrating_a_schema_5_ledger_fills_the_data_versions(lg: ledger.Ledger) -> None:
    lg.claim_admin(actor=ADMIN)
    _, clean, _ = _chain(lg)
    with lg.start_run() as run:
        run.log_input("fresh", "1", A)
    lg.redact(clean.seq, reason="erasure", legal_basis="GDPR Art. 17", actor=ADMIN)
    versions, before = lg.dataset_versions(), _dump(lg.store.engine)
    uri = lg.uri
    lg.close()
    _back_to_schema_5(uri)
    with pytest.raises(ledger.StorageError, match="has schema version 5, this mlledger uses 6"):
        ledger.open(uri, create=False)
    with ledger.open(uri) as migrated:
        assert migrated.dataset_versions() == versions
        assert _dump(migrated.store.engine) == before
        assert stored(uri, "SELECT value FROM ledger_meta WHERE key = 'schema_version'") == [("6",)]
        assert migrated.verify().ok


def test_a_chain_written_past_the_rules_replays_what_it_says(lg: ledger.Ledger) -> None:
    """An import (``enforce_rules=False``), like a ledger written before the
    rules: a replay records each registration as it says, keeping the first
    of a version, and each input as logged."""

    def imported(event_type: str, payload: dict[str, Any]) -> None:
        lg.store.append([prepare(PendingEvent(event_type, payload, "old-code"))], lg._clock, enforce_rules=False)

    imported(
        "dataset.version_registered",
        {
            "name": "child",
            "version": "1",
            "digest": B,
            "derived_from": [{"name": "parent", "version": "1"}, {"name": "parent", "version": "1"}],
        },
    )
    imported("dataset.version_registered", {"name": "parent", "version": "1", "digest": A})
    imported("dataset.version_registered", {"name": "parent", "version": "1", "digest": C})  # the first stays
    with lg.start_run() as run:
        imported("run.input_logged", {"run_id": run.run_id, "name": "parent", "version": "1", "digest": C})
    assert [(v.ref, v.digest, v.derived_from) for v in lg.dataset_versions()] == [
        (("child", "1"), B, (DataVersionRef("parent", "1"), DataVersionRef("parent", "1"))),
        (("parent", "1"), A, ()),
    ]
    assert [i["digest"] for i in lg.get_run(run.run_id).inputs] == [C]
    _rebuilds_the_same(lg)
    assert lg.verify().ok


# -- writers racing for one version -----------------------------------------------------------


def test_threads_registering_one_version_at_once(lg: ledger.Ledger) -> None:
    """Eight threads, each registering loans@v1 once with its digest and once
    more with the content all of them share: one digest wins, the others are
    refused; the shared content lands once."""
    digests = ["sha256:" + f"{i:x}" * 64 for i in range(8)]
    start = threading.Barrier(len(digests), timeout=60)
    won: list[str] = []
    refused: list[str] = []
    shared: list[DataVersion] = []
    errors: list[BaseException] = []

    def write(digest: str) -> None:
        try:
            start.wait()
            try:
                lg.register_dataset_version("loans", "v1", digest=digest)
                won.append(digest)
            except ConflictError as e:
                refused.append(str(e))
            start.wait()
            shared.append(lg.register_dataset_version("shared", "v1", digest=A, source="s3://x"))
        except BaseException as e:  # reported below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=write, args=(digest,), daemon=True) for digest in digests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(won) == 1 and len(refused) == len(digests) - 1
    assert all(message.startswith("data version loans@v1 is already registered (event 0)") for message in refused)
    assert [e.type for e in lg.events()] == ["dataset.version_registered"] * 2
    assert lg.dataset_version("loans", "v1").digest == won[0]
    assert len(shared) == len(digests) and all(version == shared[0] for version in shared)
    assert lg.verify().ok


# -- the command line -------------------------------------------------------------------


def _cli(uri: str, *args: str) -> Result:
    result = CliRunner().invoke(main, ["--uri", uri, *args], prog_name="mlledger")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


def test_cli_datasets_register_list_and_show(lg: ledger.Ledger) -> None:
    uri = lg.uri
    first = _cli(uri, "datasets", "register", "raw", "2026-03", "--digest", A, "--source", "s3://raw")
    assert (first.exit_code, first.output) == (0, "registered raw@2026-03 (event 0)\n")
    args = ("datasets", "register", "clean", "1", "--digest", B, "--derived-from", "raw@2026-03")
    args += ("--transform", "dedupe", "--column", "amount=float", "--num-rows", "12", "--actor", "bob")
    assert _cli(uri, *args).output == "registered clean@1 (event 1)\n"
    again = _cli(uri, *args)
    assert (again.exit_code, again.output) == (
        0,
        "clean@1 is registered already with this content (event 1): nothing appended\n",
    )
    shown = json.loads(_cli(uri, *args, "--json").output)
    assert shown == lg.dataset_version("clean", "1").to_json()
    assert (shown["derived_from"], shown["columns"], shown["actor"]) == (
        [{"name": "raw", "version": "2026-03"}],
        [{"name": "amount", "type": "float"}],
        "bob",
    )

    before = _snapshot(lg)
    refused = _cli(uri, "datasets", "register", "clean", "2", "--digest", C, "--derived-from", "raw@1999")
    assert refused.exit_code == 2
    assert refused.output == (
        "mlledger: error: data version clean@2 derives from raw@1999, which is not registered: register raw@1999 first\n"
    )
    conflict = _cli(uri, "datasets", "register", "raw", "2026-03", "--digest", C, "--source", "s3://raw")
    assert conflict.exit_code == 2
    assert f"data version raw@2026-03 is already registered (event 0) with digest {A!r}" in conflict.output
    bad = _cli(uri, "datasets", "register", "x", "1", "--digest", C, "--column", "amount")
    assert bad.exit_code == 2
    assert "'amount' is not NAME=TYPE" in bad.output
    assert _snapshot(lg) == before

    listed = _cli(uri, "datasets", "list").output.splitlines()
    assert listed[0].split() == ["SEQ", "NAME", "VERSION", "DIGEST", "DERIVED", "FROM", "ACTOR", "TIME"]
    assert listed[1].split()[:6] == ["0", "raw", "2026-03", "sha256:aaaaaaaaaaaaaaa…", "-", "alice"]
    assert listed[2].split()[:6] == ["1", "clean", "1", "sha256:bbbbbbbbbbbbbbb…", "raw@2026-03", "bob"]
    assert [v["version"] for v in json.loads(_cli(uri, "datasets", "list", "raw", "--json").output)] == ["2026-03"]
    assert json.loads(_cli(uri, "datasets", "list", "--as-of", "0", "--json").output) == [
        lg.dataset_version("raw", "2026-03").to_json()
    ]
    assert _cli(uri, "datasets", "list", "nothing").output == "no data versions registered for 'nothing'\n"

    text_view = _cli(uri, "datasets", "show", "clean", "1").output
    assert text_view.splitlines() == [
        "data version: clean@1",
        f"digest:       {B}",
        "source:       -",
        "derived from: raw@2026-03",
        "transform:    dedupe",
        "schema:       amount float",
        "rows:         12",
        f"registered:   event 1 by bob at {lg.dataset_version('clean', '1').time}",
    ]
    missing = _cli(uri, "datasets", "show", "clean", "1", "--as-of", "0")
    assert (missing.exit_code, missing.output) == (
        2,
        "mlledger: error: data version clean@1 is not registered as of event 0\n",
    )
    before = _snapshot(lg)
    for command in (("show", "clean", "1"), ("list",), ("list", "clean", "--json")):
        too_early = _cli(uri, "datasets", *command, "--as-of", "2000-01-01T00:00:00Z")
        assert (too_early.exit_code, too_early.stdout, too_early.stderr) == (
            2,
            "",
            "mlledger: error: as_of '2000-01-01T00:00:00Z' is before the ledger's first event\n",
        )
    # --as-of is a seq when it is a whole number, else a time (once a traceback: '--5' is not a number).
    not_a_seq = _cli(uri, "datasets", "list", "--as-of=--5")
    assert (not_a_seq.exit_code, not_a_seq.stderr) == (
        2,
        "mlledger: error: as_of '--5' is neither a seq nor an RFC 3339 time\n",
    )
    negative = _cli(uri, "datasets", "list", "--as-of=-1")
    assert (negative.exit_code, negative.stderr) == (
        2,
        "mlledger: error: as_of -1 is not an event of this ledger (its events are 0..1)\n",
    )
    assert _snapshot(lg) == before
    assert json.loads(_cli(uri, "datasets", "show", "clean", "1", "--json").output)["seq"] == 1

    lg.claim_admin(actor=ADMIN)
    redaction = lg.redact(1, reason="erasure", legal_basis="GDPR Art. 17", actor=ADMIN)
    erased = _cli(uri, "datasets", "show", "clean", "1").output.splitlines()
    assert erased[1] == f"digest:       {REDACTED}"
    assert erased[-1] == f"redacted:     by event {redaction.seq} (`mlledger event {redaction.seq}` says why)"


def test_cli_register_without_a_ledger_says_so(tmp_path: Path) -> None:
    result = _cli(f"sqlite:///{tmp_path / 'none.db'}", "datasets", "list")
    assert result.exit_code == 2
    assert "no ledger at" in result.output and "mlledger init" in result.output
