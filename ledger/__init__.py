"""mlledger: a tamper-evident, hash-chained audit and lineage ledger for ML.

    import ledger
    with ledger.open() as lg:             # MLLEDGER_URI, or sqlite:///mlledger/ledger.db
        lg.append("experiment.created", {"experiment_id": "e1", "name": "credit-scoring"})
        assert lg.verify().ok

The service names (``open``, ``Ledger``, ...) load on first use, so that
importing the pure core (``ledger.encoding``, ``ledger.events``,
``ledger.verify``) does not pull in the database layer.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ledger.errors import (
    ConflictError,
    EncodingError,
    IntegrityError,
    LedgerError,
    NotFoundError,
    PolicyError,
    ProofError,
    SchemaVersionError,
    StorageError,
    ValidationError,
)

if TYPE_CHECKING:
    from ledger.api import DEFAULT_URI, Ledger, default_actor, default_uri, open  # noqa: A004
    from ledger.datasets import DataVersion
    from ledger.events import PendingEvent, RecordedEvent
    from ledger.fluent import (
        active_run,
        end_run,
        log_artifact,
        log_input,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        set_experiment,
        set_tag,
        set_tags,
        start_run,
    )
    from ledger.governance import Policy
    from ledger.registry_views import (
        DeploymentView,
        HistoryEntry,
        ModelVersionView,
        ModelView,
        PromotionDecision,
        RegistryView,
        TransitionRequestView,
    )
    from ledger.verify import Fault, VerifyReport

__all__ = [
    "DEFAULT_URI",
    "ConflictError",
    "DataVersion",
    "DeploymentView",
    "EncodingError",
    "Fault",
    "HistoryEntry",
    "IntegrityError",
    "Ledger",
    "LedgerError",
    "ModelVersionView",
    "ModelView",
    "NotFoundError",
    "PendingEvent",
    "Policy",
    "PolicyError",
    "PromotionDecision",
    "ProofError",
    "RecordedEvent",
    "RegistryView",
    "SchemaVersionError",
    "StorageError",
    "TransitionRequestView",
    "ValidationError",
    "VerifyReport",
    "active_run",
    "default_actor",
    "default_uri",
    "end_run",
    "log_artifact",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "open",
    "set_experiment",
    "set_tag",
    "set_tags",
    "start_run",
]
__version__ = "0.1.0"

_LAZY = {
    "DEFAULT_URI": "ledger.api",
    "Ledger": "ledger.api",
    "default_actor": "ledger.api",
    "default_uri": "ledger.api",
    "open": "ledger.api",
    "PendingEvent": "ledger.events",
    "RecordedEvent": "ledger.events",
    "Fault": "ledger.verify",
    "VerifyReport": "ledger.verify",
    "Policy": "ledger.governance",
    "DataVersion": "ledger.datasets",
    **dict.fromkeys(
        (
            "DeploymentView",
            "HistoryEntry",
            "ModelVersionView",
            "ModelView",
            "PromotionDecision",
            "RegistryView",
            "TransitionRequestView",
        ),
        "ledger.registry_views",
    ),
    **dict.fromkeys(
        (
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
        ),
        "ledger.fluent",
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ledger' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
