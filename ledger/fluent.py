"""The module-level tracking API in the style of ``mlflow``: one default
ledger per process (``MLLEDGER_URI`` or the embedded default, opened on first
use) and a stack of active runs.

    import ledger
    ledger.set_experiment("credit-scoring")
    with ledger.start_run(run_name="ridge"):
        ledger.log_param("alpha", 0.1)
        ledger.log_metric("rmse", 2.34, step=3)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ledger.api import Ledger
from ledger.errors import ValidationError
from ledger.tracking import ActiveRun, RunStatus

__all__ = [
    "active_run",
    "end_run",
    "log_artifact",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "set_experiment",
    "set_tag",
    "set_tags",
    "start_run",
]

_default: Ledger | None = None


def default_ledger() -> Ledger:
    """The process's default ledger, opened (or created) on first use."""
    global _default  # noqa: PLW0603 - one default ledger per process, as in mlflow
    if _default is None:
        _default = Ledger.open()
    return _default


def set_experiment(name: str) -> str:
    """Make ``name`` the experiment of new runs (created if new); returns its id."""
    return default_ledger().set_experiment(name)


def start_run(
    experiment: str | None = None,
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
    actor: str | None = None,
    parent_run_id: str | None = None,
    *,
    nested: bool = False,
) -> ActiveRun:
    """Start a run on the default ledger; use it in a ``with`` block."""
    return default_ledger().start_run(experiment, run_name, tags, actor, parent_run_id, nested=nested)


def active_run() -> ActiveRun | None:
    return default_ledger().active_run() if _default is not None else None


def _run() -> ActiveRun:
    run = active_run()
    if run is None:
        raise ValidationError("no active run: call ledger.start_run() first")
    return run


def end_run(status: RunStatus = "FINISHED") -> None:
    """End the innermost active run (no-op when there is none, as in mlflow)."""
    run = active_run()
    if run is not None:
        run.end(status)


def log_param(key: str, value: object) -> None:
    _run().log_param(key, value)


def log_params(params: Mapping[str, object]) -> None:
    _run().log_params(params)


def log_metric(key: str, value: float, step: int = 0, timestamp: int | None = None) -> None:
    _run().log_metric(key, value, step=step, timestamp=timestamp)


def log_metrics(metrics: Mapping[str, float], step: int = 0, timestamp: int | None = None) -> None:
    _run().log_metrics(metrics, step=step, timestamp=timestamp)


def set_tag(key: str, value: object) -> None:
    _run().set_tag(key, value)


def set_tags(tags: Mapping[str, object]) -> None:
    _run().set_tags(tags)


def log_input(
    name: str,
    version: str,
    digest: str,
    source: str | None = None,
    context: str | None = None,
    schema: Mapping[str, str] | Sequence[Mapping[str, str]] | None = None,
    num_rows: int | None = None,
) -> None:
    """Record a data version the active run read; an unregistered version is
    registered with it, a registered one must have this digest."""
    _run().log_input(name, version, digest, source, context, schema, num_rows)


def log_artifact(local_path: str, artifact_path: str | None = None) -> list[str]:
    return _run().log_artifact(local_path, artifact_path)
