"""Payload models of every event type (DESIGN §7) and the table that maps an
event type to its model. ``schemas/`` is generated from these models.

Owns: what a valid payload of each type is, and each type's schema version.
Leaves encoding to ``ledger.encoding`` and the envelope to ``ledger.events``.
"""

from __future__ import annotations

from ledger.errors import ValidationError
from ledger.payloads.base import Payload
from ledger.payloads.governance import (
    KeyRegistered,
    LedgerRedacted,
    PolicySet,
    ReportGenerated,
    RoleGranted,
    RoleRevoked,
)
from ledger.payloads.registry import (
    AliasRemoved,
    AliasSet,
    ModelDeployed,
    ModelRegistered,
    ModelTagsSet,
    PromotionEvaluated,
    StageChanged,
    TransitionApproved,
    TransitionRejected,
    TransitionRequested,
    VersionCreated,
)
from ledger.payloads.tracking import (
    ArtifactLogged,
    DatasetVersionRegistered,
    ExperimentCreated,
    InputLogged,
    MetricsLogged,
    ParamsLogged,
    RunFinished,
    RunStarted,
    TagsSet,
)

__all__ = ["PAYLOAD_MODELS", "Payload", "payload_model"]

PAYLOAD_MODELS: dict[str, type[Payload]] = {
    model.TYPE: model
    for model in (
        ExperimentCreated,
        RunStarted,
        ParamsLogged,
        MetricsLogged,
        TagsSet,
        InputLogged,
        ArtifactLogged,
        RunFinished,
        DatasetVersionRegistered,
        ModelRegistered,
        VersionCreated,
        TransitionRequested,
        TransitionApproved,
        TransitionRejected,
        StageChanged,
        AliasSet,
        AliasRemoved,
        ModelTagsSet,
        ModelDeployed,
        PromotionEvaluated,
        KeyRegistered,
        RoleGranted,
        RoleRevoked,
        PolicySet,
        LedgerRedacted,
        ReportGenerated,
    )
}


def payload_model(event_type: str) -> type[Payload]:
    """The payload model of an event type; ValidationError when unknown."""
    try:
        return PAYLOAD_MODELS[event_type]
    except (KeyError, TypeError):
        raise ValidationError(
            f"unknown event type {event_type!r}; known types: " + ", ".join(sorted(PAYLOAD_MODELS))
        ) from None
