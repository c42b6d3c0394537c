"""The registry as of every ``seq`` (read from the interval tables) equals a
replay of the events up to that ``seq``; and ``rebuild`` after any sequence
of registry calls, refused ones included, gives back exactly the read models
the appends maintained."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledger
from ledger.keys import generate_private_key
from ledger.registry_views import RegistryView
from tests.property.test_rebuild import _dump

MODELS = ["m1", "m2"]
ACTORS = ["alice", "bob", "carol"]
STAGES = ["None", "Staging", "Production", "Archived"]
KEY = generate_private_key()

run = st.tuples(st.just("run"), st.floats(0.1, 0.9), st.sampled_from(ACTORS))
register = st.tuples(st.just("register"), st.integers(0, 5), st.sampled_from(MODELS))
stage = st.tuples(st.just("stage"), st.sampled_from(MODELS), st.integers(1, 4), st.sampled_from(STAGES))
request = st.tuples(
    st.just("request"), st.sampled_from(MODELS), st.integers(1, 4), st.sampled_from(STAGES), st.sampled_from(ACTORS)
)
approve = st.tuples(st.just("approve"), st.integers(0, 5), st.sampled_from(ACTORS), st.booleans())
reject = st.tuples(st.just("reject"), st.integers(0, 5), st.sampled_from(ACTORS))
promote = st.tuples(st.just("promote"), st.sampled_from(MODELS), st.integers(1, 4), st.sampled_from(["min", "max"]))
alias = st.tuples(st.just("alias"), st.sampled_from(MODELS), st.sampled_from(["champion", "next"]), st.integers(0, 4))
deploy = st.tuples(st.just("deploy"), st.sampled_from(MODELS), st.integers(1, 4), st.sampled_from(["api", "batch"]))
role = st.tuples(st.just("role"), st.sampled_from(ACTORS), st.sampled_from(["approver", "admin"]), st.booleans())
policy = st.tuples(st.just("policy"), st.sampled_from(MODELS), st.booleans(), st.booleans())
tag = st.tuples(st.just("tag"), st.sampled_from(MODELS), st.integers(0, 3), st.sampled_from(["x", "y"]))
# Stage changes, requests, approvals and promotions are what the intervals
# record: they are drawn more often.
operation = st.one_of(
    run,
    register,
    stage,
    stage,
    request,
    request,
    approve,
    approve,
    reject,
    promote,
    promote,
    alias,
    deploy,
    role,
    policy,
    tag,
)


class Story:
    """Applies generated operations; refused ones raise and append nothing."""

    def __init__(self, lg: ledger.Ledger, workdir: Path) -> None:
        self.lg, self.workdir = lg, workdir
        self.runs: list[str] = []
        self.requests: list[str] = []
        lg.claim_admin(actor="carol")
        lg.register_key(KEY, actor="bob")
        lg.grant_role("bob", "approver", actor="carol")
        for value, actor in ((0.5, "alice"), (0.4, "bob"), (0.6, "carol")):
            self._run(value, actor)
        for index, model in ((0, "m1"), (1, "m1"), (2, "m2")):
            self._register(index, model)

    def apply(self, op: tuple[Any, ...]) -> None:
        with contextlib.suppress(ledger.LedgerError):
            getattr(self, f"_{op[0]}")(*op[1:])

    def _run(self, value: float, actor: str) -> None:
        folder = self.workdir / f"model{len(self.runs)}"
        folder.mkdir()
        (folder / "weights.txt").write_text(f"{value}")
        with self.lg.start_run(actor=actor, capture_environment=False) as run:
            run.log_metric("score", value)
            run.log_artifact(str(folder), "model")
        self.runs.append(run.run_id)

    def _register(self, index: int, model: str) -> None:
        if self.runs:
            self.lg.register_model(model, self.runs[index % len(self.runs)], owner="team", actor="alice")

    def _stage(self, model: str, version: int, stage: str) -> None:
        self.lg.transition_stage(model, version, stage, reason="r", actor="alice")

    def _request(self, model: str, version: int, stage: str, actor: str) -> None:
        self.requests.append(self.lg.request_transition(model, version, stage, reason="q", actor=actor).request_id)

    def _approve(self, index: int, actor: str, signed: bool) -> None:
        if self.requests:
            key = KEY if signed and actor == "bob" else None
            self.lg.approve_transition(self.requests[index % len(self.requests)], "ok", actor=actor, signing_key=key)

    def _reject(self, index: int, actor: str) -> None:
        if self.requests:
            self.lg.reject_transition(self.requests[index % len(self.requests)], "no", actor=actor)

    def _promote(self, model: str, version: int, mode: str) -> None:
        decision = self.lg.promote_if_better(model, version, "score", mode=mode, actor="alice")
        if decision.request_id:
            self.requests.append(decision.request_id)

    def _alias(self, model: str, alias: str, version: int) -> None:
        if version == 0:
            self.lg.delete_alias(model, alias, actor="alice")
        else:
            self.lg.set_alias(model, alias, version, actor="alice")

    def _deploy(self, model: str, version: int, target: str) -> None:
        self.lg.record_deployment(model, version, target, "prod", actor="alice")

    def _role(self, actor: str, role: str, grant: bool) -> None:
        if grant:
            self.lg.grant_role(actor, role, actor="carol")
        else:
            self.lg.revoke_role(actor, role, actor="carol")

    def _policy(self, model: str, approval: bool, four_eyes: bool) -> None:
        stages = ["Production"] if approval else []
        self.lg.set_policy(model, approval_stages=stages, four_eyes=four_eyes, actor="carol")

    def _tag(self, model: str, version: int, value: str) -> None:
        self.lg.set_model_tags(model, {"k": value}, version or None, actor="alice")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, min_size=10, max_size=40))
def test_registry_as_of_every_seq_equals_a_replay_to_it(ops: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        with ledger.open(f"sqlite:///{workdir / 'l.db'}") as lg:
            story = Story(lg, workdir)
            for op in ops:
                story.apply(op)
            head = lg.head()
            assert head is not None
            incremental = _dump(lg.store.engine)
            for seq in range(head.seq + 1):
                replayed = RegistryView(lg.store.read_models_as_of(seq + 1), "?").snapshot()
                assert lg.registry_as_of(seq).snapshot() == replayed, f"as of event {seq}"
            lg.rebuild()
            assert _dump(lg.store.engine) == incremental
