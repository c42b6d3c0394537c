"""The lineage diagram on real SQLite ledgers: a credit model like the demo's and a
richer story (derived data, a code commit, nested runs, an erased input, a
replaced deployment). Every node gets a box in its column, left to right;
SVG, PNG and PDF come from one drawing, SVG and PNG byte for byte the same
for the same view; a crowded column folds into "+ K more"; the drawing fits
a PDF frame; ``mlledger lineage show -o`` draws it; a path that cannot be
written is a one-line error and leaves no file."""

from __future__ import annotations

import errno
import io
import math
import os
import re
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pypdf
import pytest
from click.testing import CliRunner
from PIL import Image
from reportlab.graphics.shapes import Drawing, Group, Rect, String
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.platypus import Paragraph, SimpleDocTemplate

import ledger
from cli.main import main
from ledger.api import Ledger
from ledger.errors import ValidationError
from ledger.events import PendingEvent, new_event_id
from lineage import diagram
from lineage.query import LineageView
from tests.integration.support import git_repo

CREDIT = "model:credit-model/1"
COLUMN_ORDER = ["dataset", "run", "artifact", "model", "deployment"]


@dataclass
class Credit:
    uri: str
    view: LineageView


def _digest(name: str, version: str) -> str:
    return "sha256:" + uuid.uuid5(uuid.NAMESPACE_URL, f"{name}@{version}").hex * 2


def _register_data(lg: Ledger, name: str, version: str, parents=(), transform=None) -> None:
    payload = {
        "name": name,
        "version": version,
        "digest": _digest(name, version),
        "derived_from": [{"name": n, "version": v} for n, v in parents],
        "transform": transform,
        "num_rows": 1000,
    }
    lg.append("dataset.version_registered", payload, actor="dana")


@pytest.fixture(scope="module")
def credit(tmp_path_factory: pytest.TempPathFactory) -> Credit:
    """The demo's champion in small: loans@2026-03 read for training and
    validation by one run, whose model directory becomes credit-model v1,
    approved into Production by erin and deployed to scoring-api in prod."""
    home = tmp_path_factory.mktemp("credit")
    uri = f"sqlite:///{home / 'ledger.db'}"
    with ledger.open(uri, artifact_root=home / "artifacts") as lg:
        lg.claim_admin(actor="carol")
        lg.grant_role("erin", "approver", actor="carol")
        _register_data(lg, "loans", "2026-03")
        with lg.start_run("credit-scoring", "retrain loans 2026-03", actor="alice", capture_environment=False) as run:
            for context in ("training", "validation"):
                run.log_input("loans", "2026-03", _digest("loans", "2026-03"), context=context)
            folder = home / "model"
            folder.mkdir()
            (folder / "model.json").write_text('{"weights": [0.1, 0.2]}')
            (folder / "signature.json").write_text('{"inputs": ["income"]}')
            run.log_artifact(str(folder), "model")
        lg.register_model("credit-model", run.run_id, "model", owner="team-credit-risk", actor="alice")
        request = lg.request_transition("credit-model", 1, "Production", "beats the baseline", actor="alice")
        lg.approve_transition(request.request_id, "validated", actor="erin")
        lg.record_deployment("credit-model", 1, target="scoring-api", environment="prod", actor="alice")
        return Credit(uri, lg.lineage.neighbourhood(CREDIT))


@dataclass
class Story:
    lg: Ledger
    trial: str  # the nested trial registered as fraud-model v2
    sweep: str  # its parent run
    audit: str  # a run whose customer input was erased
    commit: str


def _train(lg: Ledger, work: Path, name: str, inputs, *, nested: bool = False, capture: bool = False) -> str:
    with lg.start_run("fraud", name, actor="alice", nested=nested, capture_environment=capture) as run:
        for data, version, context in inputs:
            run.log_input(data, version, _digest(data, version), context=context)
        folder = work / run.run_id / "model"
        folder.mkdir(parents=True)
        (folder / "model.pkl").write_text(name)
        (folder / "metrics.json").write_text("{}")
        run.log_artifact(str(folder), "model")
    return run.run_id


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    """raw -> clean -> features; a sweep (run from a git commit) with nested
    trials on the features and a test set; trial 1 becomes fraud-model v2,
    in Production, deployed to staging and prod, where it replaced v1 (from a
    baseline run); a run whose customer input is erased afterwards."""
    home = tmp_path_factory.mktemp("story")
    commit = git_repo(home / "repo")
    features = [("fraud-features", "v7", "training"), ("chargebacks", "2026-04", "test")]
    with ledger.open(f"sqlite:///{home / 'ledger.db'}", artifact_root=home / "artifacts") as lg:
        lg.claim_admin(actor="carol")
        lg.grant_role("bob", "approver", actor="carol")
        _register_data(lg, "transactions", "raw")
        _register_data(lg, "transactions", "clean", [("transactions", "raw")], "dedupe + drop PII")
        _register_data(lg, "fraud-features", "v7", [("transactions", "clean")], "feature pipeline v7")
        _register_data(lg, "chargebacks", "2026-04")
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(home / "repo")
            sweep = lg.start_run("fraud", "sweep depth x lr", actor="alice")
        with sweep:
            trials = [_train(lg, home, f"trial {i}", features, nested=True) for i in range(3)]
        baseline = _train(lg, home, "baseline", features[:1])
        for version, run in ((1, baseline), (2, trials[1])):
            assert lg.register_model("fraud-model", run, "model", owner="team-fraud", actor="alice").version == version
            request = lg.request_transition("fraud-model", version, "Production", actor="alice")
            lg.approve_transition(request.request_id, "ok", actor="bob")
            lg.record_deployment("fraud-model", version, target="fraud-api", environment="prod", actor="alice")
        lg.record_deployment("fraud-model", 2, target="fraud-api", environment="staging", actor="alice")
        with lg.start_run("fraud", "audit sample", actor="alice", capture_environment=False) as audit:
            audit.log_input("customers", "2026-04", "sha256:" + "e" * 64, context="test")
        erased = next(e.seq for e in lg.events() if e.type == "run.input_logged" and e.payload["name"] == "customers")
        lg.redact(erased, reason="erasure request", legal_basis="GDPR Art. 17", actor="carol")
        yield Story(lg, trials[1], sweep.run_id, audit.run_id, commit)


def _strings(shape) -> list[str]:
    if isinstance(shape, Group):
        return [text for child in shape.contents for text in _strings(child)]
    return [shape.text] if isinstance(shape, String) else []


def _rects(shape) -> list[tuple[float, float, float, float]]:
    if isinstance(shape, Group):
        return [rect for child in shape.contents for rect in _rects(child)]
    return [(shape.x, shape.y, shape.width, shape.height)] if isinstance(shape, Rect) else []


# -- layout --------------------------------------------------------------------


def test_every_node_has_a_box_in_its_column_left_to_right(credit: Credit) -> None:
    view = credit.view
    plan = diagram.layout(view)
    assert set(plan.boxes) == set(view.nodes)
    assert not plan.hidden
    columns = {kind: {plan.boxes[n].x for n in view.of_kind(kind)} for kind in COLUMN_ORDER}
    assert all(len(xs) == 1 for xs in columns.values()), columns  # one column per kind here
    xs = [next(iter(columns[kind])) for kind in COLUMN_ORDER]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    main_row = [b for b in plan.boxes.values() if b.kind != "actor"]
    for actor in view.of_kind("actor"):  # the actor row is below everything else
        assert plan.boxes[actor].y + plan.boxes[actor].height < min(b.y for b in main_row)
    assert plan.boxes[CREDIT].root and sum(b.root for b in plan.boxes.values()) == 1


def test_the_boxes_say_what_each_node_is(credit: Credit) -> None:
    plan = diagram.layout(credit.view)
    texts = {(b.title, b.badge) for b in plan.boxes.values()}
    assert ("credit-model v1", "Production") in texts
    assert ("scoring-api", "LIVE") in texts
    assert ("retrain loans 2026-03", "FINISHED") in texts
    assert ("loans@2026-03", "") in texts
    assert {b.title for b in plan.boxes.values() if b.kind == "artifact"} == {"model.json", "signature.json"}
    assert plan.boxes["actor:erin"].detail == "approved credit-model v1 to Production"
    assert plan.caption.startswith(f"Lineage of {CREDIT} · upstream and downstream · as of event ")


def test_the_drawing_holds_every_box_and_its_text(credit: Credit) -> None:
    plan = diagram.layout(credit.view)
    picture = diagram.render(plan)
    rects = {tuple(round(v, 2) for v in r) for r in _rects(picture)}
    for box in plan.boxes.values():
        assert (box.x, box.y, box.width, box.height) in rects, box.key
    strings = _strings(picture)
    for box in plan.boxes.values():
        assert box.title in strings
    assert {"training", "validation"} <= set(strings)  # the run read both splits of loans@2026-03
    assert (picture.width, picture.height) == (round(plan.width, 2), round(plan.height, 2))


def test_derived_data_commits_and_nested_runs_take_their_columns(story: Story) -> None:
    view = story.lg.lineage.neighbourhood("model:fraud-model/2")
    plan = diagram.layout(view)
    assert set(plan.boxes) == set(view.nodes)
    x = {node: box.x for node, box in plan.boxes.items()}
    raw, clean, features = (f"dataset:{n}" for n in ("transactions@raw", "transactions@clean", "fraud-features@v7"))
    sweep, trial = f"run:{story.sweep}", f"run:{story.trial}"
    assert x[raw] < x[clean] < x[features] == x["dataset:chargebacks@2026-04"] == x[f"commit:{story.commit}"]
    assert x[features] < x[sweep] < x[trial]
    artifacts = [x[a] for a in view.of_kind("artifact")]
    assert x[trial] < min(artifacts) == max(artifacts) < x["model:fraud-model/2"] < x["deployment:fraud-api"]
    assert plan.boxes[trial].label == "NESTED RUN" and plan.boxes[sweep].label == "RUN"
    assert plan.boxes["deployment:fraud-api"].detail == "prod, staging"
    labels = {" ".join(route.label) for route in plan.routes}
    assert {"training", "test", "code", "dedupe + drop PII", "feature pipeline v7"} <= labels
    # the trial's own edge to the model is implied by its artifacts'
    assert (trial, "model:fraud-model/2") not in {(r.source, r.target) for r in plan.routes}
    assert any(trial == r.source and r.target.startswith("artifact:") for r in plan.routes)
    # an edge crossing the sweep's column goes round its box, not through it
    sweep_box = plan.boxes[sweep]
    for route in plan.routes:
        if route.target == trial and route.source == features:
            inside = [(px, py) for px, py in route.points if sweep_box.x <= px <= sweep_box.x + sweep_box.width]
            assert inside and all(not sweep_box.y <= py <= sweep_box.y + sweep_box.height for _, py in inside)


def test_an_erased_input_and_a_replaced_deployment_are_drawn_as_such(story: Story) -> None:
    audit = diagram.layout(story.lg.lineage.neighbourhood(f"run:{story.audit}"))
    (erased,) = [b for b in audit.boxes.values() if b.kind == "redacted"]
    assert erased.x < audit.boxes[f"run:{story.audit}"].x
    assert (erased.label, erased.title) == ("REDACTED", "erased data version")
    v1 = diagram.layout(story.lg.lineage.neighbourhood("model:fraud-model/1"))
    deployment = v1.boxes["deployment:fraud-api"]
    assert (deployment.badge, deployment.detail) == ("REPLACED", "replaced in prod")
    assert v1.boxes["model:fraud-model/1"].badge == "Archived"
    (route,) = [r for r in v1.routes if r.target == "deployment:fraud-api"]
    assert route.faded and route.label == ("replaced", "(prod)")


# -- a crowded column ------------------------------------------------------------


def _crowded(lg: Ledger, runs: int) -> None:
    """A data version read by ``runs`` runs, each leaving one artifact."""
    experiment = lg.set_experiment("nightly", actor="alice")
    _register_data(lg, "clicks", "2026-05")
    events = []
    for i in range(runs):
        run = uuid.uuid4().hex
        for event_type, payload in (
            ("run.started", {"run_id": run, "experiment_id": experiment, "run_name": f"job {i}"}),
            (
                "run.input_logged",
                {
                    "run_id": run,
                    "name": "clicks",
                    "version": "2026-05",
                    "digest": _digest("clicks", "2026-05"),
                    "context": "training",
                },
            ),
            ("run.artifact_logged", {"run_id": run, "path": "model/model.bin", "sha256": "0" * 64, "size": 1234}),
            ("run.finished", {"run_id": run, "status": "FINISHED"}),
        ):
            events.append(PendingEvent(event_type, payload, "alice" if i % 2 else "bot", new_event_id()))
    for start in range(0, len(events), 4000):
        lg.append_many(events[start : start + 4000])


def test_a_crowded_column_folds_into_a_more_box(sqlite_uri: str, tmp_path: Path) -> None:
    with ledger.open(sqlite_uri) as lg:
        _crowded(lg, 40)
        view = lg.lineage.neighbourhood("dataset:clicks@2026-05")
    plan = diagram.layout(view, max_per_column=6)
    runs = [b for b in plan.boxes.values() if b.kind == "run"]
    more = {b.key: b for b in plan.boxes.values() if b.kind == "more"}
    assert len(runs) == 6 and len(view.of_kind("run")) == 40
    run_column = runs[0].column
    assert more[f"more:{run_column}"].title == "+ 34 more" and more[f"more:{run_column}"].detail == "runs"
    assert more[f"more:{run_column + 1}"].title == "+ 34 more" and more[f"more:{run_column + 1}"].detail == "artifacts"
    assert sum(1 for k in plan.hidden.values() if k == f"more:{run_column}") == 34
    # the folded runs' edges are one edge each way: from the data, to the folded artifacts
    pairs = {(r.source, r.target) for r in plan.routes}
    assert ("dataset:clicks@2026-05", f"more:{run_column}") in pairs
    assert (f"more:{run_column}", f"more:{run_column + 1}") in pairs
    # the runs shown keep their artifacts: every artifact box hangs off a run box
    shown_runs = {b.key for b in runs}
    for box in plan.boxes.values():
        if box.kind == "artifact":
            assert any(r.target == box.key and r.source in shown_runs for r in plan.routes)
    # the more box stays at the bottom of its column
    assert more[f"more:{run_column}"].y < min(b.y for b in runs)
    assert plan.caption.endswith("81 nodes, 13 shown")


def test_a_big_view_folds_and_stays_small(sqlite_uri: str, tmp_path: Path) -> None:
    with ledger.open(sqlite_uri) as lg:
        _crowded(lg, 3000)
        view = lg.lineage.neighbourhood("dataset:clicks@2026-05")
    assert len(view.nodes) == 6001
    picture = diagram.drawing(view)
    diagram.write(view, tmp_path / "big.png")
    plan = diagram.layout(view)
    assert len(plan.boxes) == 1 + 2 * (diagram.MAX_PER_COLUMN + 1)
    assert picture.height < 1000
    with Image.open(tmp_path / "big.png") as image:
        assert image.size == (math.ceil(picture.width * 2), math.ceil(picture.height * 2))


def test_limits_are_checked(credit: Credit) -> None:
    with pytest.raises(ValidationError, match="max_per_column must be 1 or more, not 0"):
        diagram.layout(credit.view, max_per_column=0)
    with pytest.raises(ValidationError, match="width must be positive, not -5"):
        diagram.drawing(credit.view, width=-5)


# -- files -------------------------------------------------------------------------


def test_svg_parses_and_carries_the_labels(credit: Credit, tmp_path: Path) -> None:
    path = diagram.write(credit.view, tmp_path / "lineage.svg")
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = {element.text for element in root.iter("{http://www.w3.org/2000/svg}text")}
    assert {"loans@2026-03", "credit-model v1", "PRODUCTION", "scoring-api", "LIVE", "model.json"} <= texts
    title = root.find("{http://www.w3.org/2000/svg}title")
    assert title is not None and title.text.startswith(f"Lineage of {CREDIT}")
    assert "font-family: Helvetica, Arial, sans-serif" in path.read_text(encoding="utf-8")


def test_png_has_the_drawings_size_and_is_painted(credit: Credit, tmp_path: Path) -> None:
    path = diagram.write(credit.view, tmp_path / "lineage.png")
    plan = diagram.layout(credit.view)
    scale = diagram.PNG_PIXELS_PER_POINT
    with Image.open(path) as image:
        assert image.format == "PNG" and image.mode == "RGB"
        assert image.size == (math.ceil(plan.width * scale), math.ceil(plan.height * scale))
        colours = image.getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 100
        white = next(count for count, rgb in colours if rgb == (255, 255, 255))
        assert white < 0.9 * image.width * image.height
        # inside the root box, near its lower left corner: the root's fill
        box = plan.boxes[CREDIT]
        pixel = image.getpixel((round((box.x + 4) * scale), round((plan.height - box.y - 4) * scale)))
        fill = diagram.STYLES["model"].root_fill
        assert pixel == tuple(round(c * 255) for c in (fill.red, fill.green, fill.blue))


@pytest.mark.parametrize("suffix", [".svg", ".png", ".pdf"])
def test_the_same_view_gives_the_same_bytes(credit: Credit, tmp_path: Path, suffix: str) -> None:
    first = diagram.write(credit.view, tmp_path / f"a{suffix}").read_bytes()
    with ledger.open(credit.uri, create=False) as lg:
        again = lg.lineage.neighbourhood(CREDIT, as_of=credit.view.as_of)
    assert diagram.write(again, tmp_path / f"b{suffix}").read_bytes() == first


@pytest.mark.parametrize("name", ["lineage.jpg", "lineage", "lineage.svg.txt"])
def test_an_unknown_suffix_is_refused_and_writes_nothing(credit: Credit, tmp_path: Path, name: str) -> None:
    suffix = Path(name).suffix or "(none)"
    message = f"unknown suffix '{suffix}'; use one of .svg, .png, .pdf"
    with pytest.raises(
        ValidationError, match=f"cannot write a lineage diagram to .*{re.escape(name)}: {re.escape(message)}"
    ):
        diagram.write(credit.view, tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_write_pdf(credit: Credit, tmp_path: Path) -> None:
    path = diagram.write(credit.view, tmp_path / "lineage.PDF")
    assert path.read_bytes().startswith(b"%PDF-")


def _refused(path: Path, why: int) -> str:
    return f"^{re.escape(f'cannot write {path}: {os.strerror(why)}')}$"


@pytest.mark.parametrize("suffix", [".svg", ".png", ".pdf"])
def test_an_unwritable_path_is_refused_and_leaves_nothing(credit: Credit, tmp_path: Path, suffix: str) -> None:
    missing = tmp_path / "no such folder" / f"lineage{suffix}"
    with pytest.raises(ValidationError, match=_refused(missing, errno.ENOENT)):
        diagram.write(credit.view, missing)
    folder = tmp_path / f"folder{suffix}"
    folder.mkdir()
    with pytest.raises(ValidationError, match=_refused(folder, errno.EISDIR)):
        diagram.write(credit.view, folder)
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ValidationError, match=_refused(tmp_path / "file" / f"x{suffix}", errno.ENOTDIR)):
        diagram.write(credit.view, tmp_path / "file" / f"x{suffix}")
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(["file", folder.name])
    assert (tmp_path / "file").read_text() == "not a folder" and not any(folder.iterdir())


def test_a_write_cut_short_leaves_no_file(credit: Credit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(self: Path, data: bytes) -> int:
        with self.open("wb") as f:
            f.write(data[:100])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(ValidationError, match=_refused(tmp_path / "lineage.png", errno.ENOSPC)):
        diagram.write(credit.view, tmp_path / "lineage.png")
    assert list(tmp_path.iterdir()) == []


# -- in the PDF report ---------------------------------------------------------


def _report(view: LineageView) -> tuple[bytes, Drawing, float]:
    buffer = io.BytesIO()
    document = SimpleDocTemplate(buffer, pagesize=A4, pageCompression=0)
    picture = diagram.drawing(view, width=document.width)
    document.build([Paragraph("Lineage", getSampleStyleSheet()["Heading2"]), picture])
    return buffer.getvalue(), picture, document.width


def test_the_drawing_fits_a_pdf_frame_and_embeds(credit: Credit) -> None:
    data, picture, frame = _report(credit.view)
    natural = diagram.layout(credit.view)
    fitted = diagram.layout(credit.view, width=frame)
    assert picture.width == pytest.approx(frame, abs=0.01) and fitted.scale < 1
    assert picture.height == pytest.approx(fitted.height * fitted.scale, abs=0.01)
    assert diagram.MIN_BOX_WIDTH <= fitted.boxes[CREDIT].width < natural.boxes[CREDIT].width
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert b"(credit-model v1) Tj" in data  # the box's text, in the page's content stream


def test_a_wide_frame_does_not_blow_the_drawing_up(credit: Credit) -> None:
    picture = diagram.drawing(credit.view, width=5000)
    assert picture.width == pytest.approx(diagram.layout(credit.view).width, abs=0.01)


def test_the_report_reads_back_with_pypdf(credit: Credit) -> None:
    data, _, _ = _report(credit.view)
    text = pypdf.PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert "credit-model v1" in text and "scoring-api" in text


# -- the command -----------------------------------------------------------------


def test_lineage_show_draws_the_diagram(credit: Credit, tmp_path: Path) -> None:
    output = tmp_path / "lineage.svg"
    result = CliRunner().invoke(main, ["--uri", credit.uri, "lineage", "show", "credit-model/1", "-o", str(output)])
    assert result.exit_code == 0, result.output
    assert "credit-model v1" in output.read_text(encoding="utf-8")
    gif = tmp_path / "x.gif"
    result = CliRunner().invoke(main, ["--uri", credit.uri, "lineage", "show", "credit-model/1", "-o", str(gif)])
    assert result.exit_code == 2
    assert result.stderr == (
        f"mlledger: error: cannot write a lineage diagram to {gif}: unknown suffix '.gif'; use one of .svg, .png, .pdf\n"
    )
    assert not gif.exists()


def test_lineage_show_to_an_unwritable_path_fails_in_one_line(credit: Credit, tmp_path: Path) -> None:
    missing = tmp_path / "no such folder" / "x.svg"
    result = CliRunner().invoke(main, ["--uri", credit.uri, "lineage", "show", "credit-model/1", "-o", str(missing)])
    assert result.exit_code == 2
    assert result.stderr == f"mlledger: error: cannot write {missing}: No such file or directory\n"
    assert result.stdout == ""
    assert not missing.parent.exists()


def test_the_same_view_draws_the_same_bytes_in_another_process(credit: Credit, tmp_path: Path) -> None:
    """Nothing in the layout may follow Python's per-process string hashing."""
    script = (
        "import sys; from ledger.api import Ledger; from lineage import diagram\n"
        "lg = Ledger.open(sys.argv[1])\n"
        f"diagram.write(lg.lineage.neighbourhood({CREDIT!r}), sys.argv[2])\n"
    )
    outputs = []
    for seed in ("0", "1", "2"):
        target = tmp_path / f"seed{seed}.svg"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", script, credit.uri, str(target)], check=True, env=env, timeout=120)
        outputs.append(target.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]
