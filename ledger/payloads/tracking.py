"""Payloads of the tracking events (DESIGN §7): experiments, runs, params,
metrics, tags, dataset inputs and artifacts, and registered data versions."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ledger.payloads.base import Digest, FiniteFloat, Name, Payload, Strict, Tags, Text

__all__ = [
    "ArtifactLogged",
    "Column",
    "DatasetRef",
    "DatasetVersionRegistered",
    "Environment",
    "ExperimentCreated",
    "InputLogged",
    "Metric",
    "MetricsLogged",
    "ParamsLogged",
    "RunFinished",
    "RunStarted",
    "TagsSet",
]

NonFinite = Literal["NaN", "Infinity", "-Infinity"]
NonNegative = Annotated[int, Field(ge=0)]
DataContext = Literal["training", "validation", "test"]


class ExperimentCreated(Payload):
    TYPE = "experiment.created"
    experiment_id: Name
    name: Name
    tags: Tags = {}


class Environment(Strict):
    """What the run's machine looked like, captured at run start."""

    python: str
    platform: str
    packages: dict[str, str] = {}
    git_commit: str | None = None
    git_dirty: bool | None = None
    host: str | None = None


class RunStarted(Payload):
    TYPE = "run.started"
    run_id: Name
    experiment_id: Name
    run_name: Text | None = None
    parent_run_id: Name | None = None
    tags: Tags = {}
    environment: Environment | None = None


class ParamsLogged(Payload):
    TYPE = "run.params_logged"
    run_id: Name
    params: dict[Annotated[str, Field(min_length=1, max_length=250, pattern=r"^[^\x00]+$")], Text]


class Metric(Strict):
    """One metric value; non-finite values are the strings of DESIGN §2."""

    key: Annotated[str, Field(min_length=1, max_length=250, pattern=r"^[^\x00]+$")]
    value: FiniteFloat | NonFinite
    step: int = 0
    timestamp: NonNegative  # milliseconds since the Unix epoch


class MetricsLogged(Payload):
    TYPE = "run.metrics_logged"
    run_id: Name
    metrics: Annotated[list[Metric], Field(min_length=1)]


class TagsSet(Payload):
    TYPE = "run.tags_set"
    run_id: Name
    tags: Tags


class Column(Strict):
    """One column of a dataset's schema."""

    name: str
    type: str


class InputLogged(Payload):
    TYPE = "run.input_logged"
    run_id: Name
    name: Name
    version: Name
    digest: Name
    source: Text | None = None
    context: DataContext | None = None
    columns: list[Column] | None = None
    num_rows: NonNegative | None = None


class ArtifactLogged(Payload):
    TYPE = "run.artifact_logged"
    run_id: Name
    path: Name
    sha256: Digest
    size: NonNegative


class RunFinished(Payload):
    TYPE = "run.finished"
    run_id: Name
    status: Literal["FINISHED", "FAILED", "KILLED"]
    error: str | None = None


class DatasetRef(Strict):
    """A data version another one was derived from."""

    name: Name
    version: Name


class DatasetVersionRegistered(Payload):
    TYPE = "dataset.version_registered"
    name: Name
    version: Name
    digest: Name
    source: Text | None = None  # Text: the read models store it (PostgreSQL text holds no NUL)
    derived_from: list[DatasetRef] = []
    transform: Text | None = None
    columns: list[Column] | None = None
    num_rows: NonNegative | None = None
