"""Provenance reports: "everything about model version N", as data, text,
JSON and a verifiable PDF.

Two steps (DESIGN §1): *gather* reads the ledger into a ``ProvenanceReport``
of plain values, as of one signed checkpoint, together with the evidence
bundle it cites (``reports.provenance``); *render* writes that report as text
(``reports.text``), JSON (``ProvenanceReport.to_json``) or a PDF with the
evidence attached (``reports.pdf``). ``reports.verify`` checks a report PDF
offline and against a ledger. ``mlledger models show`` prints the text
view of a report gathered without signing (``gather(..., sign=False)``):
tied to the latest stored checkpoint covering it, else to the unsigned head.

    gathered = gather(lg, "credit-model", 3)            # report, evidence, evidence_zip
    pdf = render_pdf(gathered.report, gathered.evidence_zip, page_size="A4")
    check = verify_report_pdf(pdf, lg.verifier_key(), ledger=lg)

The names below load their module on first use, so importing ``reports``
does not load reportlab.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reports.model import NONE_RECORDED, ProvenanceReport
    from reports.pdf import PAGE_SIZES, render_pdf
    from reports.provenance import Gathered, attachment_name, gather, gather_provenance
    from reports.text import render_text
    from reports.verify import ReportCheck, verify_report_pdf

__all__ = [
    "NONE_RECORDED",
    "PAGE_SIZES",
    "Gathered",
    "ProvenanceReport",
    "ReportCheck",
    "attachment_name",
    "gather",
    "gather_provenance",
    "render_pdf",
    "render_text",
    "verify_report_pdf",
]

_HOMES = {
    "Gathered": "provenance",
    "attachment_name": "provenance",
    "gather": "provenance",
    "gather_provenance": "provenance",
    "NONE_RECORDED": "model",
    "ProvenanceReport": "model",
    "PAGE_SIZES": "pdf",
    "render_pdf": "pdf",
    "render_text": "text",
    "ReportCheck": "verify",
    "verify_report_pdf": "verify",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'reports' has no attribute {name!r}")
    return getattr(importlib.import_module(f"reports.{home}"), name)
