"""The evidence bundle inside the report PDF: embedding it, and finding it again.

Owns the one machine-readable part of a report PDF. ``embed`` adds the
bundle's zip to a reportlab canvas as a PDF embedded file (ISO 32000-1
§7.11.4): an ``/EmbeddedFile`` stream, stored as it is (a zip is compressed
already, so no filter), named in the catalog's ``/EmbeddedFiles`` name tree
through a file specification (``/AFRelationship /Supplement``), so every PDF
reader lists it as an attachment and ``pdfdetach`` saves it. The stream's
dictionary also states what the report says of its evidence, in keys of our
own: ``/MLLedgerFormat``, ``/MLLedgerSHA256`` (hex), ``/MLLedgerTreeSize``
and ``/MLLedgerRoot`` (hex).

``extract`` reads that stream back from the PDF's bytes with the standard
library alone (reportlab cannot read PDFs, and pypdf is not a runtime
dependency): it finds each stream dictionary holding ``/MLLedgerFormat``,
takes ``/Length`` bytes after its ``stream`` keyword, and refuses a file with
none, or with two that differ (an incremental update that added other
evidence). An update that only appends, such as a digital signature, leaves
the stream where it was, so a signed report still verifies. A PDF rewritten
by another program (object streams, recompressed) is not found this way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from reportlab.pdfbase.pdfdoc import (  # type: ignore[import-untyped]
    PDFArray,
    PDFDictionary,
    PDFName,
    PDFStream,
    PDFString,
)

from ledger.errors import ValidationError

__all__ = ["MARKER", "Embedded", "embed", "extract"]

MARKER: Final = "mlledger-report-evidence/1"
# A stream dictionary of ours: no nested dictionaries, so no "<" or ">" inside.
_STREAM: Final = re.compile(
    rb"<<([^<>]*?/MLLedgerFormat\s*\(" + re.escape(MARKER.encode()) + rb"\)[^<>]*)>>\s*stream\r?\n"
)
_LENGTH: Final = re.compile(rb"/Length\s+(\d+)\b")
_SHA256: Final = re.compile(rb"/MLLedgerSHA256\s*\(([0-9a-f]{64})\)")
_TREE_SIZE: Final = re.compile(rb"/MLLedgerTreeSize\s+(\d+)\b")
_ROOT: Final = re.compile(rb"/MLLedgerRoot\s*\(([0-9a-f]{64})\)")


@dataclass(frozen=True, slots=True)
class Embedded:
    """The evidence found in a report PDF, and what the PDF states about it."""

    data: bytes
    sha256: str  # hex, as stated
    tree_size: int
    root: str  # hex, as stated


def embed(canvas: Any, data: bytes, *, name: str, description: str, sha256: str, tree_size: int, root: str) -> Any:
    """Attach ``data`` (the evidence zip) to the document of ``canvas`` as
    ``name``; returns the reference of its file specification (for a
    ``/FileAttachment`` annotation)."""
    doc = canvas._doc
    stream = PDFStream(
        PDFDictionary(
            {
                "Type": PDFName("EmbeddedFile"),
                "Subtype": "/application#2Fzip",  # PDFName would not escape the "/"
                "MLLedgerFormat": PDFString(MARKER),
                "MLLedgerSHA256": PDFString(sha256),
                "MLLedgerTreeSize": tree_size,
                "MLLedgerRoot": PDFString(root),
            }
        ),
        content=data,
        filters=None,  # stored as it is: a zip is compressed already, and extract reads it raw
    )
    stream_ref = doc.Reference(stream)
    spec = PDFDictionary(
        {
            "Type": PDFName("Filespec"),
            "F": PDFString(name),
            "UF": PDFString(name),
            "Desc": PDFString(description),
            "EF": PDFDictionary({"F": stream_ref, "UF": stream_ref}),
            "AFRelationship": PDFName("Supplement"),
        }
    )
    spec_ref = doc.Reference(spec)
    doc.Catalog.Names = PDFDictionary(
        {"EmbeddedFiles": PDFDictionary({"Names": PDFArray([PDFString(name), spec_ref])})}
    )
    return spec_ref


def annotate(canvas: Any, spec_ref: Any, rect: tuple[float, float, float, float], contents: str) -> None:
    """A paperclip (``/FileAttachment`` annotation) over ``rect`` of the current page, opening the attachment."""
    annotation = PDFDictionary(
        {
            "Type": PDFName("Annot"),
            "Subtype": PDFName("FileAttachment"),
            "Rect": PDFArray([round(v, 2) for v in rect]),
            "FS": spec_ref,
            "Contents": PDFString(contents),
            "Name": PDFName("Paperclip"),
            "F": 4,  # print the icon
        }
    )
    canvas._addAnnotation(annotation)


def extract(pdf: bytes) -> Embedded:
    """The evidence embedded by ``embed`` in ``pdf``; ``ValidationError``
    saying why when there is none, or more than one that differ."""
    if not pdf.startswith(b"%PDF-"):
        raise ValidationError("not a PDF file (it does not start with %PDF-)")
    found: dict[bytes, Embedded] = {}
    for match in _STREAM.finditer(pdf):
        found.setdefault(*_read(pdf, match))
    if not found:
        raise ValidationError(
            "the PDF holds no mlledger evidence: not a report made by mlledger, or rewritten by another program "
            "(extract the attachment with a PDF reader and run `mlledger evidence verify` on it)"
        )
    if len(found) > 1:
        raise ValidationError(
            f"the PDF holds {len(found)} different evidence attachments (one was added after the report was made)"
        )
    return next(iter(found.values()))


def _read(pdf: bytes, match: re.Match[bytes]) -> tuple[bytes, Embedded]:
    header = match.group(1)
    length, sha256, size, root = (pattern.search(header) for pattern in (_LENGTH, _SHA256, _TREE_SIZE, _ROOT))
    if length is None or sha256 is None or size is None or root is None:
        raise ValidationError("the PDF's evidence attachment lacks its /Length or what the report states about it")
    start = match.end()
    end = start + int(length.group(1))
    if not re.match(rb"\s*endstream", pdf[end : end + 20]):
        raise ValidationError(
            f"the PDF's evidence attachment is damaged: {int(length.group(1))} bytes from offset {start} are not "
            "followed by endstream (bytes were inserted or removed)"
        )
    data = pdf[start:end]
    return data + header, Embedded(data, sha256.group(1).decode(), int(size.group(1)), root.group(1).decode())
