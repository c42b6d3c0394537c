"""The tracking API (issue 3) on a real SQLite file and a real PostgreSQL
database: run life cycle, every rule with its error text and an unchanged
ledger, projections, time travel, artifacts and the fluent API."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import ledger
from ledger import ConflictError, NotFoundError, ValidationError


@pytest.fixture
def lg(uri: str, tmp_path: Path) -> Any:
    with ledger.open(uri, artifact_root=tmp_path / "artifacts") as opened:
        yield opened


def _unchanged(lg: ledger.Ledger, before: Any) -> None:
    assert lg.head() == before
    assert lg.verify().ok


def test_a_run_records_everything_and_reads_back(lg: ledger.Ledger, tmp_path: Path) -> None:
    model = tmp_path / "model.pkl"
    model.write_bytes(b"weights")
    with lg.start_run(experiment="credit-scoring", run_name="ridge", tags={"team": "risk"}, actor="alice") as run:
        run.log_param("alpha", 0.1)
        run.log_params({"solver": "lbfgs", "max_iter": 100})
        run.log_metric("rmse", 2.5, step=1)
        run.log_metrics({"rmse": 2.34, "mae": 1.2}, step=2)
        run.log_metric("loss", float("nan"), step=3)
        run.log_metric("grad", float("inf"))
        run.set_tag("data_version", "v3")
        run.log_input(
            name="loans",
            version="2026-03",
            digest="sha256:" + "a" * 64,
            source="s3://bank/loans.parquet",
            context="training",
            schema={"amount": "float"},
            num_rows=1000,
        )
        assert run.log_artifact(str(model), artifact_path="model") == ["model/model.pkl"]
    view = lg.get_run(run.run_id)
    assert view.info.status == "FINISHED"
    assert view.info.user == "alice"
    assert view.info.run_name == "ridge"
    assert view.info.end_time is not None and view.info.end_time >= view.info.start_time
    assert view.params == {"alpha": "0.1", "max_iter": "100", "solver": "lbfgs"}
    assert view.metrics["rmse"] == 2.34 and view.metrics["mae"] == 1.2
    assert math.isnan(view.metrics["loss"]) and view.metrics["grad"] == math.inf
    assert view.tags == {"data_version": "v3", "team": "risk"}
    assert view.inputs[0]["name"] == "loans" and view.inputs[0]["schema"] == [{"name": "amount", "type": "float"}]
    assert view.artifacts[0]["path"] == "model/model.pkl" and view.artifacts[0]["size"] == 7
    assert view.info.environment is not None and view.info.environment["python"]
    history = lg.get_metric_history(run.run_id, "rmse")
    assert [(m.value, m.step) for m in history] == [(2.5, 1), (2.34, 2)]
    assert lg.verify().ok


def test_a_failing_body_marks_the_run_failed_and_propagates(lg: ledger.Ledger) -> None:
    with pytest.raises(RuntimeError, match="diverged"), lg.start_run(run_name="bad") as run:
        raise RuntimeError("diverged")
    assert lg.get_run(run.run_id).info.status == "FAILED"


def test_killed_and_nested_runs(lg: ledger.Ledger) -> None:
    with lg.start_run(run_name="search") as parent:
        with lg.start_run(run_name="trial-1", nested=True) as child:
            child.log_metric("rmse", 3.0)
        killed = lg.start_run(run_name="trial-2", nested=True)
        killed.end("KILLED")
    assert lg.get_run(child.run_id).info.parent_run_id == parent.run_id
    assert lg.get_run(killed.run_id).info.status == "KILLED"
    assert lg.get_run(parent.run_id).info.status == "FINISHED"


def test_a_nested_run_joins_its_parents_experiment(lg: ledger.Ledger) -> None:
    with lg.start_run("credit", run_name="search") as parent, lg.start_run(run_name="trial", nested=True) as child:
        pass
    with lg.start_run("credit", run_name="search") as parent2, lg.start_run("other", nested=True) as elsewhere:
        pass
    assert lg.get_run(child.run_id).info.experiment_id == lg.get_run(parent.run_id).info.experiment_id
    assert lg.get_run(elsewhere.run_id).info.experiment_id != lg.get_run(parent2.run_id).info.experiment_id


def test_nested_needs_an_active_run(lg: ledger.Ledger) -> None:
    with pytest.raises(ValidationError, match="nested=True needs an active run"):
        lg.start_run(nested=True)


def test_params_keep_their_first_value(lg: ledger.Ledger) -> None:
    with lg.start_run() as run:
        run.log_param("alpha", 0.1)
        before = lg.head()
        run.log_param("alpha", 0.1)  # the same value: a no-op, nothing appended
        assert lg.head() == before
        with pytest.raises(
            ConflictError, match=r"param 'alpha' of run '\w+' is already '0.1'; a param keeps its first value"
        ):
            run.log_params({"beta": 1, "alpha": 0.2})
        _unchanged(lg, before)
        assert lg.get_run(run.run_id).params == {"alpha": "0.1"}


def test_nothing_is_logged_into_a_finished_run(lg: ledger.Ledger, tmp_path: Path) -> None:
    with lg.start_run() as run:
        pass
    before = lg.head()
    for call in (
        lambda: run.log_metric("rmse", 1.0),
        lambda: run.log_param("alpha", 1),
        lambda: run.set_tag("late", "x"),
        run.end,
    ):
        with pytest.raises(ConflictError, match=r"run '\w+' is FINISHED: nothing can be logged into a finished run"):
            call()
    _unchanged(lg, before)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r: r.log_metric("rmse", "2.3"), "metric 'rmse' must be a number, got str"),
        (lambda r: r.log_metric("rmse", True), "metric 'rmse' must be a number, got bool"),
        (lambda r: r.log_metric("bad;key", 1.0), "metric name 'bad;key' is not valid"),
        (lambda r: r.log_param("", 1), "param name '' is not valid"),
        (lambda r: r.log_param("x" * 251, 1), "is not valid: use 1-250"),
        (lambda r: r.log_param("p", [1, 2]), "param 'p' must be a string, number or boolean, got list"),
        (lambda r: r.set_tag("mlledger.user", "mallory"), "names starting with 'mlledger.' are reserved"),
        (lambda r: r.log_input(name="d", version="1", digest="x", context="prod"), "context"),
        (lambda r: r.log_artifact("/no/such/file"), "no such file or directory"),
        (lambda r: r.log_artifact(__file__, artifact_path="../escape"), "'..'"),
        (lambda r: r.log_artifact(__file__, artifact_path="/abs"), "absolute"),
    ],
)
def test_bad_calls_are_clear_errors_and_append_nothing(lg: ledger.Ledger, call: Any, message: str) -> None:
    with lg.start_run() as run:
        before = lg.head()
        with pytest.raises(ValidationError, match=message):
            call(run)
        _unchanged(lg, before)


def test_unknown_runs_are_errors(lg: ledger.Ledger) -> None:
    lg.set_experiment("e")
    with pytest.raises(NotFoundError, match="run 'nope' does not exist"):
        lg.get_run("nope")
    before = lg.head()
    with pytest.raises(NotFoundError, match="run 'nope' does not exist"):
        lg.append("run.metrics_logged", {"run_id": "nope", "metrics": [{"key": "m", "value": 1.0, "timestamp": 1}]})
    with pytest.raises(NotFoundError, match="parent run 'ghost' does not exist"):
        lg.start_run(parent_run_id="ghost")
    _unchanged(lg, before)


def test_batch_calls_append_one_event(lg: ledger.Ledger) -> None:
    with lg.start_run() as run:
        before = lg.size()
        run.log_metrics({f"m{i}": float(i) for i in range(1000)}, step=1)
        run.log_params({f"p{i}": i for i in range(100)})
        assert lg.size() == before + 2


def test_state_as_of_a_seq_and_a_time(lg: ledger.Ledger) -> None:
    with lg.start_run() as run:
        run.log_metric("rmse", 3.0)
        checkpoint = lg.head()
        run.log_metric("rmse", 2.0, step=1)
    assert checkpoint is not None
    past = lg.get_run(run.run_id, as_of=checkpoint.seq)
    assert past.info.status == "RUNNING" and past.metrics == {"rmse": 3.0}
    assert lg.get_run(run.run_id, as_of=checkpoint.time).metrics == {"rmse": 3.0}
    assert [m.value for m in lg.get_metric_history(run.run_id, "rmse", as_of=checkpoint.seq)] == [3.0]
    assert lg.get_run(run.run_id).metrics == {"rmse": 2.0}


def test_rebuild_reproduces_the_read_models(lg: ledger.Ledger) -> None:
    with lg.start_run(tags={"a": "1"}) as run:
        run.log_metrics({"x": 1.0, "y": float("-inf")}, step=0)
        run.log_param("p", "v")
    before = lg.get_run(run.run_id)
    assert lg.rebuild() == 5
    assert lg.get_run(run.run_id) == before


def test_search_runs(lg: ledger.Ledger) -> None:
    for alpha, rmse, team in ((0.1, 2.0, "risk"), (0.1, 4.0, "risk"), (0.2, 1.0, "ops")):
        with lg.start_run(experiment="credit-scoring", tags={"team": team}) as run:
            run.log_param("alpha", alpha)
            run.log_metric("rmse", rmse)
    found = lg.search_runs(
        experiment="credit-scoring",
        filter="metrics.rmse < 3 and params.alpha = '0.1' and tags.team = 'risk'",
        order_by=["metrics.rmse ASC"],
    )
    assert [r.metrics["rmse"] for r in found] == [2.0]
    ordered = lg.search_runs(experiment="credit-scoring", order_by=["metrics.rmse DESC"])
    assert [r.metrics["rmse"] for r in ordered] == [4.0, 2.0, 1.0]
    with pytest.raises(ValidationError, match="position"):
        lg.search_runs(filter="metrics.rmse <<< 3")
    with pytest.raises(NotFoundError, match="no experiment named 'nope'"):
        lg.search_runs(experiment="nope")


def test_artifacts_are_content_addressed_and_verified(lg: ledger.Ledger, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")
    with lg.start_run() as run:
        assert sorted(run.log_artifact(str(folder), artifact_path="model")) == ["model/a.txt", "model/sub/b.txt"]
    assert lg.verify_artifacts() == []
    stored = lg.artifacts.object_path(lg.get_run(run.run_id).artifacts[0]["sha256"])
    stored.chmod(0o644)
    stored.write_text("tampered")
    problems = lg.verify_artifacts()
    assert [(p.path, p.kind) for p in problems] == [(f"{run.run_id}/model/a.txt", "modified")]


def test_fluent_api(uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ledger.fluent

    monkeypatch.setenv("MLLEDGER_URI", uri)
    monkeypatch.setattr(ledger.fluent, "_default", None)
    with pytest.raises(ValidationError, match=r"no active run: call ledger.start_run\(\) first"):
        ledger.log_metric("x", 1.0)
    ledger.set_experiment("fluent")
    with ledger.start_run(run_name="f") as run:
        ledger.log_param("a", 1)
        ledger.log_params({"b": 2})
        ledger.log_metric("m", 1.5)
        ledger.log_metrics({"n": 2.5})
        ledger.set_tag("t", "1")
        ledger.set_tags({"u": "2"})
        ledger.log_input(name="d", version="1", digest="sha256:x")
        assert ledger.active_run() is run
    assert ledger.active_run() is None
    view = ledger.fluent.default_ledger().get_run(run.run_id)
    assert view.params == {"a": "1", "b": "2"} and view.metrics == {"m": 1.5, "n": 2.5}
    ledger.fluent.default_ledger().close()


@pytest.mark.postgres
def test_postgres_records_the_session_user_server_side(pg_uri: str) -> None:
    from sqlalchemy.engine import make_url

    with ledger.open(pg_uri) as lg:
        with lg.start_run(actor="claimed-name") as run:
            pass
        view = lg.get_run(run.run_id)
        assert view.info.user == "claimed-name"
        assert view.info.db_user == make_url(pg_uri).username
        assert lg.get_run(run.run_id, as_of=view.info.end_seq).info.db_user == view.info.db_user
        lg.rebuild()
        assert lg.get_run(run.run_id).info.db_user == view.info.db_user


def test_cli_runs_and_experiments(uri: str, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    with ledger.open(uri) as lg:
        for rmse in (1.0, 3.0):
            with lg.start_run(experiment="cli", run_name=f"r{rmse:g}") as run:
                run.log_metric("rmse", rmse)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli.main", "--uri", uri, *args], capture_output=True, text=True, check=False
        )

    listed = cli("experiments", "list", "--json")
    assert listed.returncode == 0 and [e["name"] for e in json.loads(listed.stdout)] == ["cli"]
    found = cli("runs", "list", "--experiment", "cli", "--filter", "metrics.rmse < 2", "--json")
    runs = json.loads(found.stdout)
    assert [r["info"]["run_name"] for r in runs] == ["r1"]
    shown = cli("runs", "show", runs[0]["info"]["run_id"], "--json")
    assert json.loads(shown.stdout)["metrics"] == {"rmse": 1.0}
    text = cli("runs", "list", "--order-by", "metrics.rmse DESC")
    assert text.returncode == 0 and text.stdout.index("r3") < text.stdout.index("r1")
    bad = cli("runs", "list", "--filter", "metrics.rmse <")
    assert bad.returncode == 2 and "mlledger: error: invalid filter at position" in bad.stderr
    rebuilt = cli("rebuild")
    assert rebuilt.returncode == 0 and "rebuilt the read models from 7 tracking events" in rebuilt.stdout
    assert cli("verify", "--artifacts").returncode == 0


def test_threads_sharing_a_ledger_have_their_own_active_runs(lg: ledger.Ledger) -> None:
    import threading

    mine = lg.start_run(experiment="a")
    seen: dict[str, Any] = {}

    def other() -> None:
        lg.set_experiment("b")
        with lg.start_run() as theirs:
            seen["active"] = lg.active_run() is theirs
            seen["experiment"] = lg.get_run(theirs.run_id).info.experiment_id

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert seen["active"] is True
    assert lg.active_run() is mine
    assert seen["experiment"] == lg.tracking.experiment_id("b") != lg.get_run(mine.run_id).info.experiment_id
    mine.end()


def test_a_run_ended_elsewhere_leaves_the_active_stack(lg: ledger.Ledger) -> None:
    run = lg.start_run()
    lg.append("run.finished", {"run_id": run.run_id, "status": "KILLED"})
    with pytest.raises(ConflictError, match="is KILLED: nothing can be logged into a finished run"):
        run.end()
    assert lg.active_run() is None


def test_a_refused_params_event_changes_no_param(lg: ledger.Ledger) -> None:
    from ledger.events import PendingEvent, prepare

    with lg.start_run() as run:
        run.log_param("p", "0")
        event = PendingEvent("run.params_logged", {"run_id": run.run_id, "params": {"z": "4", "p": "other"}}, "me")
        lg.store.append([prepare(event)], lambda: "2030-01-01T00:00:00.000000Z", enforce_rules=False)
        assert lg.get_run(run.run_id).params == {"p": "0"}
    lg.rebuild()
    assert lg.get_run(run.run_id).params == {"p": "0"}


def test_an_artifact_digest_may_be_spelled_with_its_prefix(lg: ledger.Ledger) -> None:
    digest = "ab" * 32
    with lg.start_run() as run:
        for spelling in (digest, f"sha256:{digest}"):
            lg.append("run.artifact_logged", {"run_id": run.run_id, "path": "f", "sha256": spelling, "size": 1})
        assert lg.get_run(run.run_id).artifacts[0]["sha256"] == digest
