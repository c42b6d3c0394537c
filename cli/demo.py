"""``mlledger demo``: a credit-scoring model's life, told on a real ledger in
a few seconds.

Owns: the story (who does what, in which order) and the small, deterministic
pieces it needs: a synthetic loan book drawn from a fixed seed, a
pure-Python logistic regression and the figures it is judged by (AUC, log
loss, a population stability index). Everything the story records goes
through the public services (``start_run``, ``register_model``,
``promote_if_better``, ...); the rules that refuse or allow each step are the
ledger's, not this module's. ``cli.main`` registers the command.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import random
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import click

import ledger
from ledger.errors import ConflictError, PolicyError
from ledger.files import ledger_home
from ledger.keys import generate_private_key
from ledger.registry_views import PromotionDecision

__all__ = ["DemoResult", "demo", "run_demo"]

MODEL: Final = "credit-model"
OWNER: Final = "team-credit-risk"
EXPERIMENT: Final = "credit-scoring"
ADMIN, SCIENTIST, VALIDATOR, SECOND_APPROVER = "carol", "alice", "bob", "erin"
FEATURES: Final = ("income", "debt_to_income", "credit_years", "late_payments", "loan_amount")
LABEL: Final = "defaulted"
SCHEMA: Final = {
    "income": "double",
    "debt_to_income": "double",
    "credit_years": "double",
    "late_payments": "long",
    "loan_amount": "double",
    LABEL: "long",
}
EPOCHS: Final = 20
SEARCH: Final = ((0.1, 0.0), (0.3, 0.0), (0.3, 0.01), (1.0, 0.0), (1.0, 0.05))  # (learning rate, L2)
PSI_SIGNIFICANT: Final = 0.25  # the usual credit-risk threshold for a significant shift
CHECKPOINT_EVERY: Final = 50  # events between the signed checkpoints the demo keeps

Loan = tuple[float, float, float, int, float, int]  # FEATURES, then LABEL


# -- data ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Market:
    """How one month's loans were drawn: the applicants, and how default depended on them."""

    month: str
    income_mean: float  # thousands a year
    dti_mean: float  # debt to income
    late_rate: float  # chance of a late payment in each of 12 months
    intercept: float  # log-odds of default of the typical applicant
    effects: tuple[float, ...]  # log-odds per unit of each of FEATURES, around the typical applicant


# By March rates have risen: applicants carry more debt, and the loan amount,
# which hardly mattered in January, drives defaults.
JANUARY: Final = Market("2026-01", 58.0, 0.30, 0.07, -1.3, (-0.035, 5.0, -0.07, 0.55, 0.03))
MARCH: Final = Market("2026-03", 50.0, 0.38, 0.09, -1.5, (-0.015, 4.0, -0.05, 0.25, 0.18))
TYPICAL: Final = (55.0, 0.30, 9.0, 0.0, 15.0)


@dataclass(frozen=True, slots=True)
class Dataset:
    """One split of one monthly version of the ``loans`` data: data version
    ``loans@<month>-<split>``, derived from ``loans@<month>``."""

    month: str
    split: str  # training or validation
    seed: int
    rows: tuple[Loan, ...]

    def csv(self) -> str:
        lines = [",".join((*FEATURES, LABEL))] + [",".join(str(value) for value in row) for row in self.rows]
        return "\n".join(lines) + "\n"

    @property
    def version(self) -> str:
        return f"{self.month}-{self.split}"

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.csv().encode("utf-8")).hexdigest()

    @property
    def source(self) -> str:
        return f"mlledger demo generator, seed {self.seed}"

    def column(self, feature: str) -> list[float]:
        index = FEATURES.index(feature)
        return [row[index] for row in self.rows]


def draw_loans(market: Market, split: str, seed: int, count: int) -> Dataset:
    """``count`` applicants of ``market`` and whether each defaulted, from ``seed``."""
    rng = random.Random(seed)  # noqa: S311 - reproducible data, not secrets
    rows = []
    for _ in range(count):
        income = max(12.0, rng.gauss(market.income_mean, 18.0))
        dti = min(0.95, max(0.0, rng.gauss(market.dti_mean, 0.12)))
        years = max(0.0, rng.gauss(9.0, 6.0))
        late = sum(rng.random() < market.late_rate for _ in range(12))
        amount = max(1.0, rng.gauss(15.0, 7.0))
        row = (income, dti, years, late, amount)
        log_odds = market.intercept + sum(
            effect * (value - typical) for effect, value, typical in zip(market.effects, row, TYPICAL, strict=True)
        )
        defaulted = int(rng.random() < _sigmoid(log_odds))
        rows.append((round(income, 2), round(dti, 4), round(years, 1), late, round(amount, 2), defaulted))
    return Dataset(market.month, split, seed, tuple(rows))


def population_stability(expected: Sequence[float], actual: Sequence[float], bins: int = 10) -> float:
    """PSI of ``actual`` against ``expected``, over the deciles of ``expected``."""
    ordered = sorted(expected)
    edges = [ordered[len(ordered) * i // bins] for i in range(1, bins)]

    def shares(values: Sequence[float]) -> list[float]:
        counts = [0] * bins
        for value in values:
            counts[bisect.bisect_right(edges, value)] += 1
        return [max(count / len(values), 1e-6) for count in counts]

    return sum((a - e) * math.log(a / e) for e, a in zip(shares(expected), shares(actual), strict=True))


# -- model -----------------------------------------------------------------------


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    odds = math.exp(z)
    return odds / (1.0 + odds)


@dataclass(frozen=True, slots=True)
class LogisticModel:
    """A logistic regression on standardised features."""

    features: tuple[str, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float

    def inputs(self, row: Loan) -> list[float]:
        columns = (FEATURES.index(f) for f in self.features)
        return [(row[c] - m) / s for c, m, s in zip(columns, self.means, self.scales, strict=True)]

    def probability(self, row: Loan) -> float:
        return _sigmoid(self.bias + sum(w * x for w, x in zip(self.weights, self.inputs(row), strict=True)))

    def to_json(self) -> dict[str, object]:
        return {
            "kind": "logistic_regression",
            "features": list(self.features),
            "means": list(self.means),
            "scales": list(self.scales),
            "weights": list(self.weights),
            "bias": self.bias,
        }


def fit(data: Dataset, features: Sequence[str], learning_rate: float, l2: float) -> Iterator[LogisticModel]:
    """Full-batch gradient descent from zero weights: the model after each of ``EPOCHS`` epochs."""
    columns = [FEATURES.index(f) for f in features]
    means = [sum(row[c] for row in data.rows) / len(data.rows) for c in columns]
    scales = [
        math.sqrt(sum((row[c] - m) ** 2 for row in data.rows) / len(data.rows)) or 1.0
        for c, m in zip(columns, means, strict=True)
    ]
    model = LogisticModel(tuple(features), tuple(means), tuple(scales), (0.0,) * len(columns), 0.0)
    examples = [(model.inputs(row), row[-1]) for row in data.rows]
    for _ in range(EPOCHS):
        gradient, bias_gradient = [0.0] * len(columns), 0.0
        for x, label in examples:
            error = _sigmoid(model.bias + sum(w * v for w, v in zip(model.weights, x, strict=True))) - label
            gradient = [g + error * v for g, v in zip(gradient, x, strict=True)]
            bias_gradient += error
        weights = tuple(
            w - learning_rate * (g / len(examples) + l2 * w) for w, g in zip(model.weights, gradient, strict=True)
        )
        bias = model.bias - learning_rate * bias_gradient / len(examples)
        model = LogisticModel(model.features, model.means, model.scales, weights, bias)
        yield model


def evaluate(model: LogisticModel, data: Dataset) -> dict[str, float]:
    """Validation AUC (ties counted half) and mean log loss."""
    scored = sorted((model.probability(row), row[-1]) for row in data.rows)
    positives = sum(label for _, label in scored)
    negatives = len(scored) - positives
    rank_sum, start = 0.0, 0
    while start < len(scored):
        end = start
        while end < len(scored) and scored[end][0] == scored[start][0]:
            end += 1
        rank_sum += (start + end + 1) / 2 * sum(label for _, label in scored[start:end])
        start = end
    auc = (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)
    loss = -sum(math.log(max(p if y else 1.0 - p, 1e-12)) for p, y in scored) / len(scored)
    return {"auc": auc, "logloss": loss}


# -- the story -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrainedRun:
    run_id: str
    model: LogisticModel
    metrics: dict[str, float]
    params: dict[str, float]


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What the story left in the ledger, for a reader to check."""

    model: str
    champion: int  # in Production at the end
    archived: int  # the champion it replaced, archived by the same stage change
    rejected: int  # the candidate that lost and whose manual request was rejected
    approved_request: str  # the four-eyes approval of the first Production version
    signed_request: str  # the signed approval of the champion
    rejected_request: str
    handover_seq: int  # the model.stage_changed event that promoted the champion
    evaluations: tuple[PromotionDecision, ...]
    before_promotion: str  # a time when the archived version was still in Production
    events: int
    ok: bool
    seconds: float
    next_commands: tuple[str, ...]
    checkpoints: tuple[int, ...]  # sizes of the signed checkpoints written to checkpoint_dir
    checkpoint_dir: Path
    report: Path  # the provenance report of the champion


class _Story:
    """The ledger, the printer and the work directory shared by the steps."""

    def __init__(self, lg: ledger.Ledger, echo: Callable[[str], None], workdir: Path) -> None:
        self.lg = lg
        self.echo = echo
        self.workdir = workdir
        self.january = (draw_loans(JANUARY, "training", 202601, 1500), draw_loans(JANUARY, "validation", 202602, 600))
        self.march = (draw_loans(MARCH, "training", 202603, 1500), draw_loans(MARCH, "validation", 202604, 600))

    def say(self, actor: str, line: str) -> None:
        self.echo(f"  {actor:<6} {line}")

    def train(
        self,
        run_name: str,
        data: tuple[Dataset, Dataset],
        learning_rate: float,
        l2: float,
        features: Sequence[str] = FEATURES,
        *,
        nested: bool = False,
    ) -> TrainedRun:
        """One training run by the data scientist: inputs, params, a metric
        point per epoch, the model directory as the ``model`` artifact."""
        training, validation = data
        params = {"learning_rate": learning_rate, "l2": l2, "epochs": EPOCHS}
        with self.lg.start_run(EXPERIMENT, run_name, actor=SCIENTIST, nested=nested) as run:
            run.log_params({**params, "model": "logistic_regression", "features": ",".join(features)})
            for dataset in data:
                run.log_input(
                    "loans", dataset.version, dataset.digest, dataset.source, dataset.split, SCHEMA, len(dataset.rows)
                )
            for epoch, model in enumerate(fit(training, features, learning_rate, l2), start=1):
                metrics = evaluate(model, validation)
                run.log_metrics(metrics, step=epoch)
            folder = self.workdir / run.run_id / "model"
            folder.mkdir(parents=True)
            (folder / "model.json").write_text(json.dumps(model.to_json(), indent=2) + "\n", encoding="utf-8")
            (folder / "signature.json").write_text(json.dumps({"inputs": list(features)}) + "\n", encoding="utf-8")
            run.log_artifact(str(folder), "model")
        return TrainedRun(run.run_id, model, metrics, params)

    def register(self, trained: TrainedRun, description: str) -> int:
        view = self.lg.register_model(MODEL, trained.run_id, "model", description, owner=OWNER, actor=SCIENTIST)
        return view.version


def _admins(lg: ledger.Ledger) -> list[str]:
    return sorted(actor for actor, roles in lg.registry.roles().items() if "admin" in roles)


def _refuse_used_ledger(lg: ledger.Ledger) -> None:
    """The story needs a ledger without its model, where carol is or can be
    made an admin: refuse anything else before a single event is appended."""
    if any(model.name == MODEL for model in lg.list_models()):
        raise ConflictError(
            f"the ledger at {lg.display_uri} already holds a model named {MODEL!r}: {_fresh_ledger_hint(lg)}"
        )
    admins = _admins(lg)
    if admins and ADMIN not in admins and ledger.default_actor() not in admins:
        raise ConflictError(
            f"the ledger at {lg.display_uri} has admins ({', '.join(admins)}) and you "
            f"({ledger.default_actor()!r}) are not one, so {ADMIN!r} cannot be made an admin: run the demo as an "
            f"admin (MLLEDGER_ACTOR={admins[0]}), or {_fresh_ledger_hint(lg)}"
        )


def _fresh_ledger_hint(lg: ledger.Ledger) -> str:
    other = "sqlite:///demo2/ledger.db" if lg.uri == "sqlite:///demo/ledger.db" else "sqlite:///demo/ledger.db"
    hint = f"run the demo on a fresh ledger, e.g. `mlledger --uri {other} demo`"
    return hint + (", or remove ./mlledger to start the default ledger afresh" if lg.uri == ledger.DEFAULT_URI else "")


def _governance(story: _Story) -> None:
    """carol becomes an admin (the first one of a new ledger, else made one by
    the admin running the demo, as ``mlledger init`` makes them) and names the approvers."""
    lg = story.lg
    if not lg.claim_admin(actor=ADMIN) and ADMIN not in _admins(lg):
        you = ledger.default_actor()
        lg.grant_role(ADMIN, "admin", actor=you)
        story.say(you, f"admin of this ledger (you), makes {ADMIN} an admin too")
    held = lg.registry.roles()
    for actor in (SCIENTIST, VALIDATOR, SECOND_APPROVER):
        if "approver" not in held.get(actor, []):
            lg.grant_role(actor, "approver", actor=ADMIN)
    story.say(
        ADMIN,
        f"risk officer, admin of the ledger; grants the approver role to {SCIENTIST}, {VALIDATOR}, {SECOND_APPROVER}",
    )


def _data(story: _Story) -> None:
    """Each month's loans as a data version, and its two splits as versions derived from it."""
    for month in (story.january, story.march):
        whole = "sha256:" + hashlib.sha256("".join(split.csv() for split in month).encode("utf-8")).hexdigest()
        name, rows = month[0].month, sum(len(split.rows) for split in month)
        story.lg.register_dataset_version(
            "loans", name, digest=whole, source="mlledger demo generator", schema=SCHEMA, num_rows=rows, actor=SCIENTIST
        )
        for split in month:
            story.lg.register_dataset_version(
                "loans",
                split.version,
                digest=split.digest,
                source=split.source,
                derived_from=[("loans", name)],
                transform=f"{split.split} split: {len(split.rows)} applicants drawn with seed {split.seed}",
                schema=SCHEMA,
                num_rows=len(split.rows),
                actor=SCIENTIST,
            )
    training, validation = story.january
    defaults = sum(row[-1] for row in training.rows) / len(training.rows)
    story.say(
        SCIENTIST,
        f"data: loans {training.month} and {story.march[0].month}, each registered with its training and "
        f"validation splits as derived versions; {training.month}: {len(training.rows)} training + "
        f"{len(validation.rows)} validation rows ({defaults:.0%} defaulted)",
    )


def _baseline(story: _Story) -> TrainedRun:
    baseline = story.train("baseline", story.january, learning_rate=0.05, l2=0.0)
    story.say(
        SCIENTIST,
        f"baseline: logistic regression, lr 0.05, {EPOCHS} epochs: {_figures(baseline)}, run {baseline.run_id[:8]}",
    )
    return baseline


def _search(story: _Story) -> TrainedRun:
    with story.lg.start_run(EXPERIMENT, "search lr x l2", actor=SCIENTIST) as parent:
        trials = [story.train(f"trial lr={lr} l2={l2}", story.january, lr, l2, nested=True) for lr, l2 in SEARCH]
        best = max(trials, key=lambda trial: trial.metrics["auc"])
        parent.log_params({"trials": len(trials), "selection": "max validation auc"})
        parent.log_metrics({"best_auc": best.metrics["auc"]})
        parent.set_tag("best_run_id", best.run_id)
    lr, l2 = best.params["learning_rate"], best.params["l2"]
    story.say(
        SCIENTIST, f"search: {len(trials)} nested trials of lr and L2, best lr {lr:g}, l2 {l2:g}: {_figures(best)}"
    )
    return best


def _first_production(story: _Story, baseline: TrainedRun, best: TrainedRun) -> str:
    lg = story.lg
    first = story.register(baseline, "baseline logistic regression on loans 2026-01")
    second = story.register(best, "best trial of the lr x L2 search on loans 2026-01")
    story.say(
        SCIENTIST,
        f"registers {MODEL} v{first} (baseline) and v{second} (best trial), each pinned to its run and artifact digest",
    )
    lg.transition_stage(MODEL, first, "Staging", "baseline kept as the fallback", actor=SCIENTIST)
    story.say(SCIENTIST, f"v{first} -> Staging")
    request = lg.request_transition(
        MODEL,
        second,
        "Production",
        f"auc {best.metrics['auc']:.4f} beats the baseline's {baseline.metrics['auc']:.4f}",
        actor=SCIENTIST,
    )
    story.say(SCIENTIST, f"requests v{second} -> Production (request {request.request_id[:8]})")
    try:
        lg.approve_transition(request.request_id, "looks good to me", actor=SCIENTIST)
    except PolicyError as refusal:
        story.say(SCIENTIST, f"approves her own request: refused, {refusal}")
    lg.approve_transition(
        request.request_id, "validated: discrimination and calibration on 2026-01 holdout", actor=VALIDATOR
    )
    story.say(VALIDATOR, f"validator, approves: v{second} in Production (four eyes: requester and approver differ)")
    return request.request_id


def _drift(story: _Story, champion: TrainedRun) -> None:
    january, validation = story.january[0], story.march[1]
    psi = population_stability(january.column("debt_to_income"), validation.column("debt_to_income"))
    now = evaluate(champion.model, validation)
    with story.lg.start_run(EXPERIMENT, "drift check loans 2026-03", actor=SCIENTIST) as run:
        for dataset, context in ((january, "training"), (validation, "test")):
            run.log_input("loans", dataset.version, dataset.digest, dataset.source, context, SCHEMA, len(dataset.rows))
        run.log_metrics({"psi_debt_to_income": psi, "champion_auc": now["auc"]})
    verdict = "significant" if psi > PSI_SIGNIFICANT else "moderate"
    story.say(
        SCIENTIST,
        f"drift: loans 2026-03 debt_to_income PSI {psi:.2f} ({verdict}); champion auc on it {now['auc']:.4f} "
        f"(was {champion.metrics['auc']:.4f})",
    )


def _signed_promotion(story: _Story, best: TrainedRun) -> tuple[PromotionDecision, str, int]:
    lg = story.lg
    retrained = story.train("retrain loans 2026-03", story.march, best.params["learning_rate"], best.params["l2"])
    version = story.register(retrained, "retrained on loans 2026-03 after the drift")
    story.say(SCIENTIST, f"retrains on loans 2026-03 -> v{version}: {_figures(retrained)}")
    decision = lg.promote_if_better(MODEL, version, "auc", mode="max", min_delta=0.0, actor=SCIENTIST)
    story.say(
        SCIENTIST,
        f"promote_if_better: {_comparison(decision)}: {decision.outcome} (request {str(decision.request_id)[:8]})",
    )
    lg.set_policy(MODEL, signed_approvals=True, actor=ADMIN)
    key = generate_private_key()
    key_id = lg.register_key(key, actor=SECOND_APPROVER)
    story.say(ADMIN, f"requires signed approvals for {MODEL}; {SECOND_APPROVER} registers Ed25519 key {key_id}")
    head = lg.head()
    assert head is not None
    approved = lg.approve_transition(
        str(decision.request_id), "retrain validated on 2026-03 holdout", actor=SECOND_APPROVER, signing_key=key
    )
    promoted, archived = (lg.get_model_version(MODEL, v) for v in (version, int(decision.champion or 0)))
    since = promoted.stage_since_seq
    handover = f"by the same event (seq {since})" if archived.stage_since_seq == since else f"(seq {since})"
    story.say(
        SECOND_APPROVER,
        f"approves, signed with key {approved.key_id}: v{version} to {promoted.stage}, "
        f"v{archived.version} to {archived.stage} {handover}",
    )
    return decision, head.time, since


def _rejection(story: _Story) -> tuple[int, PromotionDecision, str]:
    lg = story.lg
    features = tuple(f for f in FEATURES if f != "late_payments")
    weaker = story.train("retrain without bureau data", story.march, 1.0, 0.0, features)
    version = story.register(weaker, "retrained on loans 2026-03 without the late-payment bureau feed")
    story.say(SCIENTIST, f"retrains without late_payments (bureau feed ends) -> v{version}: {_figures(weaker)}")
    decision = lg.promote_if_better(MODEL, version, "auc", mode="max", min_delta=0.0, actor=SCIENTIST)
    story.say(SCIENTIST, f"promote_if_better: {_comparison(decision)}: {decision.outcome}, v{decision.champion} stays")
    request = lg.request_transition(MODEL, version, "Production", "cheaper: no bureau fee", actor=SCIENTIST)
    comment = f"auc {decision.candidate_value:.4f} is below the champion's {decision.champion_value:.4f}"
    lg.reject_transition(request.request_id, comment, actor=VALIDATOR)
    story.say(VALIDATOR, f"rejects the manual request for v{version}: {comment}")
    return version, decision, request.request_id


def _deploy(story: _Story, version: int) -> None:
    story.lg.set_alias(MODEL, "champion", version, actor=ADMIN)
    story.lg.record_deployment(MODEL, version, target="scoring-api", environment="prod", actor=SCIENTIST)
    story.say(ADMIN, f"alias champion -> v{version}; {SCIENTIST} records its deployment to scoring-api (prod)")


def _figures(trained: TrainedRun) -> str:
    return f"auc {trained.metrics['auc']:.4f}, logloss {trained.metrics['logloss']:.4f}"


def _comparison(decision: PromotionDecision) -> str:
    champion = f"v{decision.champion} {decision.champion_value:.4f}" if decision.champion else "no champion"
    return f"v{decision.candidate} {decision.metric} {decision.candidate_value:.4f} vs {champion}"


def _next_commands(
    lg: ledger.Ledger, champion: int, archived: int, before: str, notes: Path, handover: int, pdf: Path
) -> list[tuple[str, str]]:
    """What a compliance officer types next, each with a note of what it shows."""
    prefix = "mlledger" if lg.uri == ledger.default_uri() else f"mlledger --uri {lg.display_uri}"
    return [
        (f"{prefix} models show {MODEL} {champion}", ""),
        (f"{prefix} models history {MODEL}", ""),
        (f"{prefix} models as-of {before} {MODEL} --stage Production", f"  # then: v{archived}"),
        (f"{prefix} verify --checkpoint {notes} --key {notes.parent / 'verifier.key'}", "  # extends every note"),
        (f"{prefix} proof {handover} -o proof.json", "  # the promotion, provable offline"),
        (f"{prefix} evidence {MODEL} {champion} -o {MODEL}-v{champion}-evidence.zip", "  # every event, and the proof"),
        (f"{prefix} lineage upstream model:{MODEL}/{champion}", "  # data, code, runs, people behind it"),
        (f"{prefix} lineage downstream dataset:loans@2026-01", "  # what depends on January's data"),
        (f"{prefix} report verify {pdf} --key {notes.parent / 'verifier.key'}", "  # the report, checked offline"),
    ]


def _report(story: _Story, version: int, folder: Path) -> Path:
    """The provenance report of ``version``, written under ``folder``; its path."""
    from reports.generate import generate_report  # noqa: PLC0415 - reportlab loads at the end only

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{MODEL}-v{version}-report.pdf"
    made = generate_report(story.lg, MODEL, version, deliver=path.write_bytes, actor=ADMIN)
    story.say(
        ADMIN,
        f"writes the provenance report of v{version} (in Production): {path}, {len(made.document):,} bytes, "
        f"sha256:{made.sha256[:16]}…, its evidence attached; recorded as event {made.event.seq}",
    )
    return path


def _checkpoints(story: _Story) -> Path:
    """carol makes sure the ledger has its signing key and keeps a signed
    checkpoint every CHECKPOINT_EVERY events in a directory beside the ledger."""
    lg = story.lg
    signing, status = lg.setup_signing_key()
    notes = (ledger_home(lg.uri) / "checkpoints").resolve()
    notes.mkdir(parents=True, exist_ok=True)
    lg.set_checkpoint_schedule(CHECKPOINT_EVERY, notes)
    made = "creates the ledger's signing key" if status == "created" else "uses the ledger's signing key"
    story.say(ADMIN, f"{made} ({signing.path}); a signed checkpoint every {CHECKPOINT_EVERY} events goes to {notes}")
    # What carol hands the auditors, by another channel than the ledger itself.
    (notes.parent / "verifier.key").write_text(signing.verifier_key + "\n", encoding="utf-8")
    story.say(ADMIN, f"hands the auditors the verifier key: {notes.parent / 'verifier.key'}")
    return notes


def run_demo(lg: ledger.Ledger, echo: Callable[[str], None], workdir: Path) -> DemoResult:
    """Tell the story on ``lg``, printing a line per step with ``echo``;
    model files are written under ``workdir``. Refuses (``ConflictError``,
    nothing appended) a ledger that already holds the demo's model."""
    started = time.perf_counter()
    _refuse_used_ledger(lg)
    echo(f"mlledger demo: a credit-scoring model from data to production, on {lg.display_uri}")
    story = _Story(lg, echo, workdir)
    _governance(story)
    notes = _checkpoints(story)
    _data(story)
    baseline = _baseline(story)
    best = _search(story)
    approved_request = _first_production(story, baseline, best)
    _drift(story, best)
    won, before, handover_seq = _signed_promotion(story, best)
    rejected, lost, rejected_request = _rejection(story)
    champion, archived = won.candidate, int(won.champion or 0)
    _deploy(story, champion)
    final = lg.create_checkpoint()
    report = lg.verify()
    state = "intact" if report.ok else f"FAILED ({len(report.faults)} faults)"
    signed = f"{report.signatures} signed approval{'' if report.signatures == 1 else 's'}"
    story.say(
        ADMIN, f"verifies the ledger: {report.events} events {state}, {signed} re-checked; head {report.head[:16]}…"
    )
    sizes = tuple(c.size for c in lg.checkpoints())
    story.say(ADMIN, f"signs checkpoint {final.size} (root {final.root.hex()[:16]}…): {len(sizes)} notes in {notes}")
    pdf = _report(story, champion, notes.parent / "reports")
    commands = _next_commands(lg, champion, archived, before, notes, handover_seq, pdf)
    echo("A compliance officer would go on with:")
    for command, note in commands:
        echo(f"  {command}{note}")
    seconds = time.perf_counter() - started
    echo(f"done in {seconds:.1f} s")
    return DemoResult(
        model=MODEL,
        champion=champion,
        archived=archived,
        rejected=rejected,
        approved_request=approved_request,
        signed_request=str(won.request_id),
        rejected_request=rejected_request,
        handover_seq=handover_seq,
        evaluations=(won, lost),
        before_promotion=before,
        events=report.events,
        ok=report.ok,
        seconds=seconds,
        next_commands=tuple(command for command, _ in commands),
        checkpoints=sizes,
        checkpoint_dir=notes,
        report=pdf,
    )


@click.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Tell a credit-scoring model's story on a fresh ledger, in seconds.

    Data versions, a baseline and a search, four-eyes and signed approvals,
    drift and a retrain, a rejected candidate, a deployment, verification.
    """
    with (
        ledger.open(ctx.find_root().obj, create=True) as lg,
        tempfile.TemporaryDirectory(prefix="mlledger-demo-") as workdir,
    ):
        run_demo(lg, click.echo, Path(workdir))
