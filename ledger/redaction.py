"""The redaction service (DESIGN §6, the right to erasure): erase the payload
of one event for good, and read back what was erased, when, why and by whom.

Owns: turning ``redact`` into the one ``ledger.redacted`` event it means,
built under the append lock from the event it erases (its type, and the
non-personal ``subject`` of ``ledger.redaction_rules``), and reading
redactions from the events themselves, not from the read models. The rules,
the deletion of the payload row in the same transaction and the read-model
changes belong to the store (``ledger.store.redaction_projector``), so a raw
``append`` of a ``ledger.redacted`` event is checked and applied the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledger.errors import ValidationError
from ledger.events import PendingEvent, RecordedEvent, decode_payload
from ledger.redaction_rules import Redaction, redaction_subject
from ledger.store.redaction_projector import redaction_target
from ledger.verify import redaction_targets

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ledger.store import EventStore
    from ledger.store.registry_state import RegistryState

__all__ = ["RedactionCommands"]

_HINTS = {
    "reason": "say why the payload is erased, e.g. 'erasure request DSR-12'",
    "legal_basis": "name what requires the erasure, e.g. 'GDPR Art. 17'",
}


def _check_text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"redaction: {name} is empty: {_HINTS[name]}")
    return value


class RedactionCommands:
    """The redaction half of ``Ledger`` (a mixin: it needs ``store``,
    ``_who`` and ``RegistryCommands._run_plan``)."""

    store: EventStore

    def _who(self, actor: str | None) -> str:
        raise NotImplementedError

    if TYPE_CHECKING:  # RegistryCommands's, also in Ledger's bases

        def _run_plan(self, plan: Callable[[RegistryState], Sequence[PendingEvent]]) -> list[RecordedEvent]: ...

    def redact(self, seq: int, *, reason: str, legal_basis: str, actor: str | None = None) -> RecordedEvent:
        """Erase the payload of event ``seq`` for good: one ``ledger.redacted``
        event, appended in the transaction that deletes the payload row. The
        header, its payload digest, the chain and the Merkle tree stay as they
        are; ``verify`` reports the payload as redacted, read models show
        ``[redacted]``, and ``redaction_of(seq)`` says who erased it, when and why.

        Only admins redact, and only the payloads of
        ``ledger.redaction_rules.REDACTABLE_TYPES`` (the ledger needs every
        other payload to enforce its rules and rebuild its state); a refused
        call raises and changes nothing.
        """
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise ValidationError(f"redaction: the event to redact is a seq (a whole number >= 0), got {seq!r}")
        payload: dict[str, Any] = {
            "target_seq": seq,
            "reason": _check_text("reason", reason),
            "legal_basis": _check_text("legal_basis", legal_basis),
        }
        who = self._who(actor)

        def plan(state: RegistryState) -> list[PendingEvent]:
            head = state.integer("SELECT MAX(seq) FROM events")
            size = 0 if head is None else head + 1
            target = redaction_target(state.cursor, state.p, seq=size, actor=who, target_seq=seq)
            payload.update(target_type=target.type, subject=redaction_subject(target.type, target.payload))
            return [PendingEvent("ledger.redacted", payload, who)]

        return self._run_plan(plan)[0]

    def redaction_of(self, seq: int) -> Redaction | None:
        """How the payload of event ``seq`` was erased, or None when it was not
        (``NotFoundError`` when there is no event ``seq``)."""
        row = self.store.row(seq)
        if row[10] is not None:
            return None
        return next((r for r in self.redactions() if r.target_seq == seq), None)

    def redactions(self) -> list[Redaction]:
        """Every erased payload with the redaction that erased it (the first
        ``ledger.redacted`` event after it naming it, as ``verify`` counts),
        in target order; read from the events."""
        rows = {row[0]: row for row in self.store.redaction_rows()}
        found = []
        for target, seq in sorted(redaction_targets(rows.values()).items()):
            row, payload = rows[seq], decode_payload(rows[seq][10]) or {}
            target_row = self.store.row(target)
            if target_row[10] is not None:
                continue  # named, but its payload is still there: not erased
            subject = payload.get("subject")
            found.append(
                Redaction(
                    seq=row[0],
                    target_seq=target,
                    target_type=target_row[3],
                    subject=subject if isinstance(subject, dict) else None,
                    reason=str(payload.get("reason", "")),
                    legal_basis=str(payload.get("legal_basis", "")),
                    actor=row[6],
                    time=row[5],
                )
            )
        return found
