"""The provenance report (issue 7): gathered from a real ledger, rendered as a
PDF whose text states the facts of every section, the same bytes twice,
A4 and US Letter, with its evidence attached; ``verify_report_pdf`` passes on
it, offline and against its ledger, and fails when a byte of the evidence
changes, against another ledger, or against a ledger that lacks a cited
event. A version with no approvals, no data inputs or redacted payloads
still renders and says so. SQLite throughout, and PostgreSQL for the
hand-built ledger.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pypdf
import pytest
import sqlalchemy

import ledger
from cli.demo import DemoResult, run_demo
from ledger.bundle import check_bundle, unzip_bundle
from ledger.errors import IntegrityError, NotFoundError, ProofError, SignatureError, ValidationError
from ledger.keys import generate_private_key
from reports import Gathered, gather, render_pdf, render_text, verify_report_pdf
from reports.attachment import extract
from reports.model import NONE_RECORDED
from reports.series import MAX_POINTS, downsample
from reports.text import SECTIONS, number

REPO = Path(__file__).resolve().parents[2]
MODEL = "credit-model"
SHA = "sha256:" + "d" * 64


# -- fixtures ------------------------------------------------------------------------


def _setup(uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ledger.Ledger:
    """A ledger with its signing key and artifacts under ``tmp_path``."""
    key_file = tmp_path / "keys" / "ledger.key"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLLEDGER_KEY_FILE", str(key_file))
    monkeypatch.setenv("MLLEDGER_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    lg = ledger.open(uri)
    lg.setup_signing_key(key_file)
    return lg


class Demo:
    """The demo's ledger, what the story left, and each version's report and PDF."""

    def __init__(self, lg: ledger.Ledger, result: DemoResult) -> None:
        self.lg = lg
        self.result = result
        self.gathered: dict[int, Gathered] = {}
        self.pdfs: dict[int, bytes] = {}
        self.seconds: dict[int, float] = {}
        for version in (1, 2, 3, 4):
            started = time.perf_counter()
            self.gathered[version] = gather(lg, MODEL, version)
            self.pdfs[version] = render_pdf(self.gathered[version].report, self.gathered[version].evidence_zip)
            self.seconds[version] = time.perf_counter() - started


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    tmp_path = tmp_path_factory.mktemp("demo")
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        _setup(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path, monkeypatch) as lg,
    ):
        yield Demo(lg, run_demo(lg, lambda line: None, tmp_path / "work"))


def pdf_text(pdf: bytes) -> str:
    """The PDF's text (pypdf), with runs of white space made one space."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


def squeezed(text: str) -> str:
    """``text`` without white space: long hashes wrap across lines."""
    return re.sub(r"\s+", "", text)


# -- what the PDF says ------------------------------------------------------------------


def test_each_demo_version_states_the_facts_of_every_section(demo: Demo) -> None:
    lg = demo.lg
    stages = {1: "Staging", 2: "Archived", 3: "Production", 4: "None"}
    for version, pdf in demo.pdfs.items():
        report = demo.gathered[version].report
        text, tight = pdf_text(pdf), squeezed(pdf_text(pdf))
        cover = report.cover
        found = lg.get_model_version(MODEL, version)
        run = lg.get_run(found.run_id)

        # 1. cover
        assert f"{MODEL} — version {version}" in text
        assert f"Stage {stages[version]}" in text and cover.stage == stages[version]
        assert f"{cover.checkpoint.size} events, signed {cover.checkpoint.time}" in text
        assert cover.checkpoint.root in tight and cover.ledger_id in text
        assert cover.checkpoint.key_id in text
        assert "intact:" in text and cover.verification.ok
        assert cover.evidence_digest in tight
        assert cover.evidence_digest == "sha256:" + hashlib.sha256(demo.gathered[version].evidence_zip).hexdigest()
        for number_, title in enumerate(SECTIONS[1:], 2):
            assert f"{number_}. {title}" in text, title
        # 2. identity
        assert "team-credit-risk" in text and str(found.description) in text
        assert f"Business objective {NONE_RECORDED}" in text and f"Risk tier {NONE_RECORDED}" in text
        assert squeezed(found.artifact_digest) in tight
        # 3. changes
        if version == 1:
            assert "version 1 is the model's first version" in text
        else:
            assert f"version {version - 1} version {version}" in text  # the comparison's column heads
            prior = lg.get_run(lg.get_model_version(MODEL, version - 1).run_id)
            for key in ("auc", "logloss"):
                assert f"{key} {number(prior.metrics[key])} {number(run.metrics[key])}" in text
        # 4. data
        for item in run.inputs:
            assert f"{item['name']}@{item['version']}" in text and item["digest"] in tight
            assert f"{item['num_rows']:,}" in text
        assert f"loans@{run.inputs[0]['version'][:7]}" in text  # the parent month, upstream of the split
        # 5. run
        assert run.run_id in tight and "credit-scoring" in text and "alice" in text
        assert "3." in text and "Python" in text
        # 6. params and metrics
        for key, value in run.params.items():
            assert key in text and value in text
        for key, value in run.metrics.items():
            assert f"{key} {number(value)}" in text
        # 7. artifacts
        for artifact in run.artifacts:
            assert artifact["path"] in text and artifact["sha256"] in tight
        assert "matches" in text
        # 10. stages: each history line of the version's stage and alias events
        for event in report.stage_events:
            assert f"{event.seq} " in text
        # 13. cited events
        assert f"Cited events ({len(report.cited)})" in text
        assert {c.seq for c in report.cited} >= set(demo.gathered[version].evidence.seqs)
        # 14. how to verify
        assert squeezed(cover.verifier_key) in tight and "mlledger report verify" in text
        assert squeezed(cover.checkpoint.note.splitlines()[-1]) in tight

    # 5. the search of version 2's run; 8. promotions; 9. approvals; 11. deployments
    second = pdf_text(demo.pdfs[2])
    assert "one of 5 trials nested in search run" in second and "best_run_id=" in second
    third, fourth, first = pdf_text(demo.pdfs[3]), pdf_text(demo.pdfs[4]), pdf_text(demo.pdfs[1])
    assert "candidate won" in third and "candidate lost" in fourth
    assert "No promote_if_better comparison involved this version." in first
    assert "approved by bob (roles: approver)" in second
    assert "valid: Ed25519 signature by erin's key" in third
    assert "rejected by bob" in fourth
    assert "No transition was requested for this version." in first
    assert "scoring-api" in third and "live" in third
    assert "No deployment recorded." in first
    assert "No payload about this version was erased." in third
    print({version: f"{seconds:.2f} s" for version, seconds in demo.seconds.items()})


def test_text_and_json_views_hold_the_same_report(demo: Demo) -> None:
    report = demo.gathered[3].report
    text = render_text(report)
    for number_, title in enumerate(SECTIONS, 1):
        assert f"{number_}. {title}" in text
    assert report.cover.evidence_digest in text and report.run.run_id in text
    assert "signature: valid: Ed25519" in text
    data = json.loads(json.dumps(report.to_json(), allow_nan=False))
    assert data["format"] == "mlledger-provenance-report/1"
    assert data["cover"]["verification"]["ok"] is True
    assert data["cover"]["checkpoint"]["size"] == report.cover.checkpoint.size
    assert [c["seq"] for c in data["cited"]] == [c.seq for c in report.cited]
    assert data["lineage"]["root"] == f"model:{MODEL}/3"
    assert set(data) >= {
        "identity",
        "changes",
        "data",
        "run",
        "search",
        "params",
        "metrics",
        "artifacts",
        "promotions",
        "approvals",
        "stage_events",
        "intervals",
        "deployments",
        "redactions",
    }


def test_the_same_ledger_and_checkpoint_give_the_same_bytes(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    again = gather(demo.lg, MODEL, 3)
    assert again.report == demo.gathered[3].report and again.evidence_zip == demo.gathered[3].evidence_zip
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # reportlab reads it: it must not matter
    assert render_pdf(again.report, again.evidence_zip) == demo.pdfs[3]
    reader = pypdf.PdfReader(io.BytesIO(demo.pdfs[3]))
    checkpoint_time = demo.gathered[3].report.cover.checkpoint.time
    stamp = checkpoint_time[:19].replace("-", "").replace("T", "").replace(":", "")
    assert reader.metadata is not None and reader.metadata["/CreationDate"] == f"D:{stamp}+00'00'"
    assert reader.metadata["/Author"] == "mlledger"


def test_another_process_gathers_and_renders_the_same_bytes(demo: Demo) -> None:
    script = f"""
import sys
sys.path.insert(0, {str(REPO)!r})
import ledger
from reports import gather, render_pdf
with ledger.open({demo.lg.uri!r}, create=False) as lg:
    gathered = gather(lg, "credit-model", 2)
    sys.stdout.buffer.write(render_pdf(gathered.report, gathered.evidence_zip))
"""
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True)
    assert child.stdout == demo.pdfs[2]


@pytest.mark.parametrize(("page_size", "width", "height"), [("A4", 595.28, 841.89), ("letter", 612.0, 792.0)])
def test_a4_and_letter_pages_carry_a_header_and_page_numbers(
    demo: Demo, page_size: str, width: float, height: float
) -> None:
    gathered = demo.gathered[3]
    pdf = render_pdf(gathered.report, gathered.evidence_zip, page_size=page_size)  # type: ignore[arg-type]
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    pages = len(reader.pages)
    assert pages >= 4
    checkpoint = gathered.report.cover.checkpoint
    for index, page in enumerate(reader.pages, 1):
        assert math.isclose(float(page.mediabox.width), width, abs_tol=0.5)
        assert math.isclose(float(page.mediabox.height), height, abs_tol=0.5)
        text = re.sub(r"\s+", " ", page.extract_text())
        assert f"Provenance report: {MODEL} version 3" in text
        assert f"checkpoint {checkpoint.size} · root {checkpoint.root[:16]}" in text
        assert f"Page {index} of {pages}" in text
    assert [item.title for item in reader.outline] == [f"{i}. {title}" for i, title in enumerate(SECTIONS, 1)]
    with pytest.raises(ValidationError, match="page size 'A5'"):
        render_pdf(gathered.report, gathered.evidence_zip, page_size="A5")  # type: ignore[arg-type]


def test_without_verify_the_cover_says_nothing_was_rechecked(demo: Demo) -> None:
    gathered = gather(demo.lg, MODEL, 3, verify=False)
    verification = gathered.report.cover.verification
    assert not verification.checked and verification.chain_ok is None
    assert gathered.evidence_zip == demo.gathered[3].evidence_zip
    text = pdf_text(render_pdf(gathered.report, gathered.evidence_zip))
    assert "not re-checked when the report was made" in text and "intact" not in text


def test_a_pdf_renders_only_with_the_evidence_it_was_gathered_with(demo: Demo) -> None:
    with pytest.raises(ValidationError, match="render a report with the evidence it was gathered with"):
        render_pdf(demo.gathered[3].report, demo.gathered[2].evidence_zip)


# -- the evidence inside ---------------------------------------------------------------------


def test_the_evidence_is_an_attachment_any_pdf_reader_lists(demo: Demo) -> None:
    gathered = demo.gathered[3]
    reader = pypdf.PdfReader(io.BytesIO(demo.pdfs[3]))
    assert reader.attachments == {f"{MODEL}-v3-evidence.zip": [gathered.evidence_zip]}
    checked = check_bundle(unzip_bundle(gathered.evidence_zip), demo.lg.verifier_key())
    assert checked.events == len(gathered.report.cited)
    annotations = [a.get_object() for page in reader.pages for a in page.get("/Annots", [])]
    assert any(a["/Subtype"] == "/FileAttachment" for a in annotations)


def test_verify_passes_offline_and_against_its_ledger(demo: Demo) -> None:
    pdf, report = demo.pdfs[3], demo.gathered[3].report
    offline = verify_report_pdf(pdf, demo.lg.verifier_key())
    assert (offline.model, offline.version, offline.tree_size) == (MODEL, 3, report.cover.checkpoint.size)
    assert offline.root == report.cover.checkpoint.root and offline.events == len(report.cited)
    assert "sha256:" + offline.evidence_sha256 == report.cover.evidence_digest
    assert offline.pdf_sha256 == hashlib.sha256(pdf).hexdigest()
    assert not offline.against_ledger and offline.bundled_key_matches
    online = verify_report_pdf(pdf, demo.lg.verifier_key(), ledger=demo.lg)
    assert online.against_ledger and online.ledger_size == demo.lg.size()


def test_the_extractor_needs_no_pdf_library(demo: Demo, tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(demo.pdfs[3])
    script = f"""
import sys
sys.modules["pypdf"] = None  # importing it would fail
sys.path.insert(0, {str(REPO)!r})
from reports.verify import verify_report_pdf
check = verify_report_pdf(open({str(path)!r}, "rb").read(), {demo.lg.verifier_key()!r})
print(check.events)
"""
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert child.stdout.strip() == str(len(demo.gathered[3].report.cited))


def _evidence_offset(pdf: bytes) -> int:
    start = pdf.index(b"PK\x03\x04")
    assert extract(pdf).data == pdf[start : start + len(extract(pdf).data)]
    return start


@pytest.mark.parametrize("where", [0, 100, -30])
def test_one_changed_byte_of_the_embedded_evidence_fails(demo: Demo, where: int) -> None:
    pdf = demo.pdfs[3]
    start, size = _evidence_offset(pdf), len(demo.gathered[3].evidence_zip)
    at = start + (where % size)
    altered = pdf[:at] + bytes([pdf[at] ^ 0x01]) + pdf[at + 1 :]
    with pytest.raises(ProofError, match="the evidence was altered after the report was made"):
        verify_report_pdf(altered, demo.lg.verifier_key())


def test_a_changed_stated_digest_or_a_cut_attachment_fails(demo: Demo) -> None:
    pdf, digest = demo.pdfs[3], demo.gathered[3].report.cover.evidence_digest.removeprefix("sha256:")
    other = ("0" if digest[0] != "0" else "1") + digest[1:]
    with pytest.raises(ProofError, match="the evidence was altered"):
        verify_report_pdf(pdf.replace(digest.encode(), other.encode()), demo.lg.verifier_key())
    start = _evidence_offset(pdf)
    with pytest.raises(ValidationError, match="not followed by endstream"):
        verify_report_pdf(pdf[: start + 10] + pdf[start + 11 :], demo.lg.verifier_key())
    with pytest.raises(ValidationError, match="holds no mlledger evidence"):
        verify_report_pdf(pdf.replace(b"/MLLedgerFormat", b"/MLLedgerFormax"), demo.lg.verifier_key())
    with pytest.raises(ValidationError, match="not a PDF file"):
        verify_report_pdf(b"PK" + pdf, demo.lg.verifier_key())


def test_a_second_attachment_added_later_fails(demo: Demo) -> None:
    """An incremental update appending other evidence: readers would show it, so verification refuses."""
    other = demo.pdfs[2]
    start = other.rindex(b"<<", 0, other.index(b"/MLLedgerFormat"))
    end = other.index(b"endstream", start)
    with pytest.raises(ValidationError, match="2 different evidence attachments"):
        verify_report_pdf(
            demo.pdfs[3] + b"\n99 0 obj\n" + other[start:end] + b"endstream\nendobj\n", demo.lg.verifier_key()
        )


def test_another_key_fails(demo: Demo) -> None:
    from ledger.checkpoint import verifier_key

    stranger = verifier_key(f"mlledger/{demo.lg.ledger_id}", generate_private_key().public_key())
    with pytest.raises(SignatureError):
        verify_report_pdf(demo.pdfs[3], stranger)


def test_verify_fails_against_another_ledger(demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with _setup(f"sqlite:///{tmp_path / 'other.db'}", tmp_path, monkeypatch) as other:
        other.append("experiment.created", {"experiment_id": "e1", "name": "x", "tags": {}}, actor="alice")
        with pytest.raises(IntegrityError, match=f"from the ledger mlledger/{demo.lg.ledger_id}, this ledger is"):
            verify_report_pdf(demo.pdfs[3], demo.lg.verifier_key(), ledger=other)


# -- hand-built ledgers ----------------------------------------------------------------------


def _sparse(lg: ledger.Ledger, tmp_path: Path) -> dict[str, Any]:
    """Version 1: a run with no data inputs, no approval, nothing around it.
    Version 2: a run whose param, one metric batch, an input and a tag were
    erased, and which read one data digest for training and for test."""
    lg.claim_admin(actor="carol")
    model_dir = tmp_path / "model"
    model_dir.mkdir(exist_ok=True)
    (model_dir / "weights.txt").write_text("0.1 0.2\n", encoding="utf-8")
    quiet = {"actor": "alice", "capture_environment": False}
    with lg.start_run("credit", "bare", **quiet) as bare:
        bare.log_metric("rmse", 1.5)
        bare.log_artifact(str(model_dir), "model")
    lg.register_model(MODEL, bare.run_id, "model", actor="alice")
    with lg.start_run("credit", "erased", **quiet) as run:
        run.log_params({"alpha": "0.5", "seed": 7})
        run.log_params({"email": "someone@example.com"})
        params_seq = lg.size() - 1
        run.log_input("loans", "v1", SHA, context="training", num_rows=10)
        run.log_input("loans", "v1", SHA, context="test", num_rows=10)
        run.log_input("people", "v1", "sha256:" + "e" * 64, context="training")
        input_seq = lg.size() - 1
        run.log_metric("rmse", 1.0, step=1)
        metric_seq = lg.size() - 1
        run.log_metric("rmse", 0.8, step=2)
        run.set_tag("owner_email", "someone@example.com")
        tag_seq = lg.size() - 1
        run.log_artifact(str(model_dir), "model")
    lg.register_model(MODEL, run.run_id, "model", actor="alice")
    for target in (params_seq, input_seq, metric_seq, tag_seq):
        lg.redact(target, reason="erasure request DSR-12", legal_basis="GDPR Art. 17", actor="carol")
    lg.create_checkpoint()
    return {"redacted": (params_seq, input_seq, metric_seq, tag_seq), "run": run.run_id}


@pytest.fixture
def sparse(uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ledger.Ledger, dict[str, Any]]]:
    with _setup(uri, tmp_path, monkeypatch) as lg:
        yield lg, _sparse(lg, tmp_path)


def test_a_version_with_nothing_around_it_says_none_recorded(sparse: tuple[ledger.Ledger, dict[str, Any]]) -> None:
    lg, _ = sparse
    gathered = gather(lg, MODEL, 1)
    pdf = render_pdf(gathered.report, gathered.evidence_zip)
    text = pdf_text(pdf)
    assert "No data inputs recorded: the run logged none." in text
    assert "No transition was requested for this version." in text
    assert "No deployment recorded." in text and "No payload about this version was erased." in text
    assert "None: the run was not nested in a search run." in text
    assert "version 1 is the model's first version" in text
    assert f"Owner {NONE_RECORDED}" in text and f"Aliases {NONE_RECORDED}" in text
    assert "not captured" in text  # the environment
    assert f"{NONE_RECORDED}" in render_text(gathered.report)
    assert verify_report_pdf(pdf, lg.verifier_key(), ledger=lg).events == len(gathered.report.cited)


def test_a_version_with_redacted_payloads_renders_and_says_so(sparse: tuple[ledger.Ledger, dict[str, Any]]) -> None:
    lg, built = sparse
    gathered = gather(lg, MODEL, 2)
    report = gathered.report
    assert report.params == {"alpha": "0.5", "email": "[redacted]", "seed": "7"}
    assert {r.target_seq for r in report.redactions} == set(built["redacted"])
    assert all(r.legal_basis == "GDPR Art. 17" for r in report.redactions)
    rmse = next(m for m in report.metrics if m.key == "rmse")
    assert rmse.points == 1 and rmse.final == 0.8 and rmse.redacted_by
    assert report.run.tags == {"owner_email": "[redacted]"}
    assert [i.redacted_by is not None for i in report.data.inputs] == [False, False, True]
    assert len(report.data.warnings) == 1 and "training and for test" in report.data.warnings[0]
    assert [p.key for p in report.changes.params] == ["alpha", "email", "seed"]
    pdf = render_pdf(report, gathered.evidence_zip)
    text = pdf_text(pdf)
    assert "someone@example.com" not in text and "someone@example.com" not in render_text(report)
    assert "[redacted]" in text and "erasure request DSR-12" in text and "GDPR Art. 17" in text
    assert "WARNING: the same data" in text and "used for training and for test" in text
    assert "points redacted by event" in text
    check = verify_report_pdf(pdf, lg.verifier_key(), ledger=lg)
    assert set(check.redacted) == set(built["redacted"])


def test_as_of_reports_the_state_then_against_a_covering_checkpoint(demo: Demo) -> None:
    lg, result = demo.lg, demo.result
    before = lg.registry_as_of(result.before_promotion).at
    assert before is not None
    then = gather(lg, MODEL, result.archived, as_of=result.before_promotion).report
    assert then.cover.as_of_seq == before and then.cover.stage == "Production"
    sizes = [c.size for c in lg.checkpoints()]
    assert then.cover.checkpoint.size == min(s for s in sizes if s > before)
    assert all(c.seq <= before for c in then.cited)
    assert all(e.seq <= before for e in then.stage_events)
    now = demo.gathered[result.archived].report
    assert now.cover.stage == "Archived" and now.cover.checkpoint.size == max(sizes)
    with pytest.raises(NotFoundError, match=f"has no version {result.rejected} as of event {before}"):
        gather(lg, MODEL, result.rejected, as_of=result.before_promotion)
    with pytest.raises(ValidationError, match="before the ledger's first event"):
        gather(lg, MODEL, 1, as_of="2000-01-01T00:00:00Z")


def test_verify_fails_when_the_ledger_lacks_a_cited_event(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ledger restored from an older copy: the report cites events it does not hold."""
    path = tmp_path / "ledger.db"
    lg = _setup(f"sqlite:///{path}", tmp_path, monkeypatch)
    _sparse(lg, tmp_path)
    lg.close()
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{path}{suffix}").exists():
            shutil.copy(f"{path}{suffix}", f"{tmp_path / 'old.db'}{suffix}")
    with ledger.open(f"sqlite:///{path}") as lg:
        with lg.start_run("credit", "later", actor="alice", capture_environment=False) as run:
            run.log_artifact(str(tmp_path / "model"), "model")
        lg.register_model(MODEL, run.run_id, "model", actor="alice")
        gathered = gather(lg, MODEL, 3)
        pdf = render_pdf(gathered.report, gathered.evidence_zip)
        key = lg.verifier_key()
        assert verify_report_pdf(pdf, key, ledger=lg).against_ledger
    with ledger.open(f"sqlite:///{tmp_path / 'old.db'}") as old:
        missing = min(c.seq for c in gathered.report.cited if c.seq >= old.size())
        with pytest.raises(
            IntegrityError, match=f"event {missing} is not in this ledger \\(it has {old.size()} events\\)"
        ):
            verify_report_pdf(pdf, key, ledger=old)


# -- metric histories ------------------------------------------------------------------------


def test_long_histories_are_drawn_from_at_most_a_thousand_points() -> None:
    points = [(float(i), math.sin(i / 500) + (5.0 if i == 77_777 else 0.0)) for i in range(100_000)]
    points[50_000] = (50_000.0, math.nan)
    drawn = downsample(points)
    assert len(drawn) <= MAX_POINTS
    assert drawn[0] == points[0] and drawn[-1] == points[-1]
    assert (77_777.0, points[77_777][1]) in drawn  # the spike survives
    assert min(y for _, y in drawn) == min(y for _, y in points if not math.isnan(y))
    assert [x for x, _ in drawn] == sorted(x for x, _ in drawn)
    assert downsample(points[:10]) == points[:10]


# -- the cover's checks ------------------------------------------------------------------------


def _alter_payload(uri: str, seq: int, old: str, new: str) -> None:
    """Rewrite a stored payload behind the ledger's back (its update guard dropped first)."""
    engine = sqlalchemy.create_engine(uri)
    drop = "DROP TRIGGER payloads_no_update" + (" ON payloads" if uri.startswith("postgresql") else "")
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(drop))
        body = conn.execute(sqlalchemy.text(f"SELECT body FROM payloads WHERE seq = {seq}")).scalar_one()
        assert old in body
        conn.execute(
            sqlalchemy.text("UPDATE payloads SET body = :body WHERE seq = :seq"),
            {"body": body.replace(old, new), "seq": seq},
        )
    engine.dispose()


def test_the_cover_says_failed_when_a_cited_payload_was_altered(
    uri: str, sparse: tuple[ledger.Ledger, dict[str, Any]]
) -> None:
    lg, built = sparse
    before = gather(lg, MODEL, 2).report.cover.verification
    assert before.ok and before.evidence_ok and before.tree_matches and not before.chain_checked
    seq = next(c.seq for c in gather(lg, MODEL, 2).report.cited if c.type == "run.params_logged")
    _alter_payload(uri, seq, '"alpha":"0.5"', '"alpha":"0.9"')
    after = gather(lg, MODEL, 2).report.cover.verification
    assert not after.ok and after.evidence_ok is False
    assert after.summary.startswith("FAILED: 1 problem(s) in the evidence")
    assert any(fault.startswith(f"event {seq}: payload altered: payload_digest") for fault in after.faults)
    gathered = gather(lg, MODEL, 2)  # the report still renders, saying so on its cover
    assert gathered.report.params["alpha"] == "0.9" and built["redacted"]
    text = pdf_text(render_pdf(gathered.report, gathered.evidence_zip))
    assert "FAILED: 1 problem(s) in the evidence" in text and "intact" not in text


def test_check_ledger_re_hashes_every_event_up_to_the_checkpoint(
    uri: str, sparse: tuple[ledger.Ledger, dict[str, Any]]
) -> None:
    lg, _ = sparse
    whole = gather(lg, MODEL, 1, check_ledger=True).report.cover.verification
    size = gather(lg, MODEL, 1).report.cover.checkpoint.size
    assert whole.chain_checked and whole.chain_ok and whole.root_matches and whole.chain_events == size
    assert f"all {size} events up to the checkpoint re-hashed, chain and Merkle root match" in whole.summary
    # An event version 1 does not cite: only the pass over the whole ledger sees it.
    cited = {c.seq for c in gather(lg, MODEL, 1).report.cited}
    seq = next(row[0] for row in lg.store.scan(0, size) if row[0] not in cited and '"alpha":"0.5"' in (row[10] or ""))
    _alter_payload(uri, seq, '"alpha":"0.5"', '"alpha":"0.9"')
    assert gather(lg, MODEL, 1).report.cover.verification.ok
    failed = gather(lg, MODEL, 1, check_ledger=True).report.cover.verification
    assert not failed.ok and failed.evidence_ok and failed.chain_ok is False
    assert failed.summary == "FAILED: 1 integrity fault(s) in the ledger up to the checkpoint"
    assert any(f"event {seq}" in fault for fault in failed.faults)


def _set_note(uri: str, size: int, note: str) -> None:
    """Rewrite the note the ledger stores for its checkpoint of ``size`` (the table has no guard)."""
    engine = sqlalchemy.create_engine(uri)
    with engine.begin() as conn:
        conn.execute(
            sqlalchemy.text("UPDATE checkpoints SET note = :note WHERE tree_size = :size"), {"note": note, "size": size}
        )
    engine.dispose()


def test_the_cover_fails_when_the_note_does_not_sign_the_stored_checkpoint(
    uri: str, sparse: tuple[ledger.Ledger, dict[str, Any]]
) -> None:
    """The multiproof is checked against the stored root: only the note ties that root to a signature."""
    lg, _ = sparse
    first = lg.checkpoints()[-1]
    lg.append("experiment.created", {"experiment_id": "e9", "name": "later", "tags": {}}, actor="alice")
    second = lg.create_checkpoint()
    assert gather(lg, MODEL, 2).report.cover.verification.ok
    _set_note(uri, second.size, first.note)  # a genuine note, of another size
    failed = gather(lg, MODEL, 2).report.cover.verification
    assert not failed.ok and failed.evidence_ok is False
    assert f"the checkpoint note signs mlledger/{lg.ledger_id} at size {first.size} with root" in failed.summary
    assert f"but the ledger's stored checkpoint is mlledger/{lg.ledger_id} at size {second.size}" in failed.summary
    _set_note(uri, second.size, "")  # no note at all: a stored checkpoint is never taken for the unsigned head
    blank = gather(lg, MODEL, 2).report.cover
    assert blank.checkpoint.signed and blank.verification.checked and not blank.verification.ok
    assert "the checkpoint note: " in blank.verification.summary
