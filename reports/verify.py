"""Checking a report PDF: its embedded evidence offline, and against a ledger.

Owns ``verify_report_pdf`` and ``ReportCheck``. Offline, it takes the
evidence bundle out of the PDF (``reports.attachment``), checks that its
SHA-256 is the digest the report states and that the report states the
bundle's own checkpoint, then checks the bundle with the ledger's verifier
key (``ledger.bundle.check_bundle``: the checkpoint's signature, each cited
event's hash and payload digest, and their multiproof). Given a ledger, it also
checks that the bundle is that ledger's, that every cited event is in it
with the same hash, and that the ledger extends the report's checkpoint.

It proves the evidence, not the PDF's visible text: that the text is what the
ledger produced is shown by regenerating the report (same ledger and
checkpoint, same bytes) or by the PDF's SHA-256 (``pdf_sha256``) being the
one the ledger recorded when the report was made.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import ledger
from ledger.bundle import NOTE, BundleCheck, check_bundle, unzip_bundle
from ledger.checkpoint import VerifierKey, origin_for
from ledger.checkpoint import verifier_key as verifier_key_text
from ledger.errors import IntegrityError, ProofError
from reports.attachment import extract

__all__ = ["ReportCheck", "verify_report_pdf"]


@dataclass(frozen=True, slots=True)
class ReportCheck:
    """What a verified report shows: its embedded ``evidence`` checked
    (``ledger.bundle.BundleCheck``: the cited events about ``model`` version
    ``version`` are in ``origin``'s tree of ``tree_size`` events, whose root
    ``root`` a checkpoint signed by the verifier key commits to), the
    evidence's and the PDF's SHA-256; with ``against_ledger``, the events
    are in that ledger too, and it (``ledger_size`` events then) extends the
    checkpoint."""

    evidence: BundleCheck
    evidence_sha256: str
    pdf_sha256: str
    against_ledger: bool = False
    ledger_size: int | None = None

    @property
    def model(self) -> str:
        return self.evidence.model

    @property
    def version(self) -> int:
        return self.evidence.version

    @property
    def origin(self) -> str:
        return self.evidence.origin

    @property
    def tree_size(self) -> int:
        return self.evidence.tree_size

    @property
    def root(self) -> str:
        return self.evidence.root

    @property
    def events(self) -> int:
        return self.evidence.events

    @property
    def redacted(self) -> tuple[int, ...]:
        return self.evidence.redacted

    @property
    def bundled_key_matches(self) -> bool:
        return self.evidence.bundled_key_matches

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "origin": self.origin,
            "tree_size": self.tree_size,
            "root": self.root,
            "events": self.events,
            "redacted": list(self.redacted),
            "evidence_sha256": self.evidence_sha256,
            "pdf_sha256": self.pdf_sha256,
            "bundled_key_matches": self.bundled_key_matches,
            "against_ledger": self.against_ledger,
            "ledger_size": self.ledger_size,
        }


def verify_report_pdf(
    pdf_bytes: bytes, verifier_key: str | VerifierKey, *, ledger: ledger.Ledger | None = None
) -> ReportCheck:
    """Check the report ``pdf_bytes`` with the ledger's verifier key, and
    against ``ledger`` when one is given.

    Raises ``ValidationError`` when the PDF holds no readable evidence,
    ``SignatureError`` when its checkpoint is not signed by the key,
    ``ProofError`` when the evidence is not what the report states or an
    event fails its check, and ``IntegrityError`` when the ledger does not
    hold the cited events or does not extend the checkpoint.
    """
    embedded = extract(pdf_bytes)
    actual = hashlib.sha256(embedded.data).hexdigest()
    if actual != embedded.sha256:
        raise ProofError(
            f"report: the embedded evidence hashes to sha256:{actual[:16]}…, the report states "
            f"sha256:{embedded.sha256[:16]}…: the evidence was altered after the report was made"
        )
    files = unzip_bundle(embedded.data)
    checked = check_bundle(files, verifier_key)
    if (checked.tree_size, checked.root) != (embedded.tree_size, embedded.root):
        raise ProofError(
            f"report: it states checkpoint {embedded.tree_size} (root {embedded.root[:16]}…), its evidence is "
            f"proven against checkpoint {checked.tree_size} (root {checked.root[:16]}…)"
        )
    result = ReportCheck(checked, actual, hashlib.sha256(pdf_bytes).hexdigest())
    if ledger is None:
        return result
    size = _check_against(ledger, files, checked, verifier_key)
    return dataclasses.replace(result, against_ledger=True, ledger_size=size)


def _check_against(
    lg: ledger.Ledger, files: Mapping[str, bytes], checked: BundleCheck, verifier_key: str | VerifierKey
) -> int:
    """That ``lg`` is the bundle's ledger, holds each cited event with the
    same hash, and extends the bundle's checkpoint; returns its size."""
    own = origin_for(lg.ledger_id)
    if checked.origin != own:
        raise IntegrityError(f"report: its evidence is from the ledger {checked.origin}, this ledger is {own}")
    size = lg.size()
    cited = checked.hashes
    problems = [f"event {seq} is not in this ledger (it has {size} events)" for seq in sorted(cited) if seq >= size]
    present = sorted(seq for seq in cited if seq < size)
    if present:
        wanted = set(present)
        for row in lg.store.scan(present[0], present[-1] + 1):
            if row[0] in wanted and row[9] != cited[row[0]]:
                problems.append(
                    f"event {row[0]}: the report cites hash {cited[row[0]][:16]}…, this ledger holds {row[9][:16]}…"
                )
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise IntegrityError(f"report against the ledger: {count}: " + "; ".join(problems[:20]))
    if isinstance(verifier_key, VerifierKey):
        verifier_key = verifier_key_text(verifier_key.name, verifier_key.public_key)
    note = files[NOTE].decode("utf-8")  # check_bundle read it as UTF-8 already
    findings = lg.check_checkpoints(
        [("the report's checkpoint", note)], verifier_key, size=size, root=lg.merkle_root(size)
    )
    failed = [finding for finding in findings if not finding.ok]
    if failed or not findings:
        raise IntegrityError(f"report against the ledger: {failed[0] if failed else 'the checkpoint was not checked'}")
    return size
