"""The run-search language: grammar, every error with its position, injection
attempts, and the generated SQL run against a real SQLite file.

The seed data and the search cases here are shared with
``tests/integration/test_search_sql.py``, which runs them on PostgreSQL too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, insert, inspect
from sqlalchemy.dialects import postgresql, sqlite

from ledger.errors import ValidationError
from ledger.search import MAX_RESULTS, Clause, OrderKey, parse_filter, parse_order_by, search_runs_query
from ledger.store.read_models import LatestMetric, ReadModel, Run, RunParam, RunTag

# --- grammar -------------------------------------------------------------------------------------

NUMERIC = ["=", "!=", "<", "<=", ">", ">="]
STRING = ["=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"]
NULL = ["IS NULL", "IS NOT NULL"]
ALLOWED = {
    "metrics.m": NUMERIC + NULL,
    "params.p": STRING + NULL,
    "tags.t": STRING + NULL,
    **{f"attributes.{name}": STRING for name in ["status", "run_name", "run_id", "user", "experiment_id"]},
    **{f"attributes.{name}": NUMERIC + NULL for name in ["start_time", "end_time"]},
}
KINDS = {"metrics": "metric", "params": "param", "tags": "tag", "attributes": "attribute"}


def _operand(left: str, op: str) -> tuple[str, Any]:
    """Text of a right-hand side suited to `op` and `left`, and its parsed value."""
    if op in NULL:
        return "", None
    if op in ("IN", "NOT IN"):
        return "('a', 'b')", ("a", "b")
    numeric = "IS NULL" in ALLOWED[left] and "<" in ALLOWED[left]
    return ("2.5", 2.5) if numeric else ("'v'", "v")


@pytest.mark.parametrize("left", ALLOWED)
@pytest.mark.parametrize("op", NUMERIC + STRING[2:] + NULL)
def test_each_operator_parses_or_is_refused_for_each_kind(left: str, op: str) -> None:
    text, value = _operand(left, op)
    prefix, key = left.split(".")
    if op in ALLOWED[left]:
        assert parse_filter(f"{left} {op} {text}") == [Clause(KINDS[prefix], key, op, value)]  # type: ignore[arg-type]
    else:
        expected = f"operator {op} is not supported for {left}; expected one of {', '.join(ALLOWED[left])}"
        with pytest.raises(ValidationError) as caught:
            parse_filter(f"{left} {op} {text}")
        assert str(caught.value) == f"invalid filter at position {len(left) + 1}: {expected}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("   \n\t ", []),
        (
            "metrics.rmse < 3 and params.alpha = '0.1' and tags.team = 'risk'",
            [
                Clause("metric", "rmse", "<", 3.0),
                Clause("param", "alpha", "=", "0.1"),
                Clause("tag", "team", "=", "risk"),
            ],
        ),
        ("metrics.m<1 AND params.p='a'", [Clause("metric", "m", "<", 1.0), Clause("param", "p", "=", "a")]),
        ("metrics.m>=1 And\nparams.p!='a'", [Clause("metric", "m", ">=", 1.0), Clause("param", "p", "!=", "a")]),
        ("params.p like 'a%'", [Clause("param", "p", "LIKE", "a%")]),
        ("params.p iLiKe 'a%'", [Clause("param", "p", "ILIKE", "a%")]),
        ("params.p in('a')", [Clause("param", "p", "IN", ("a",))]),
        ("params.p Not In ( 'a' ,\"b\",'c' )", [Clause("param", "p", "NOT IN", ("a", "b", "c"))]),
        ("params.p is null", [Clause("param", "p", "IS NULL", None)]),
        ("params.p Is nOt NuLl", [Clause("param", "p", "IS NOT NULL", None)]),
        # entity prefixes: MLflow's aliases, any case
        ("metric.m = 1", [Clause("metric", "m", "=", 1.0)]),
        ("METRICS.m = 1", [Clause("metric", "m", "=", 1.0)]),
        ("param.p = 'x'", [Clause("param", "p", "=", "x")]),
        ("parameter.p = 'x'", [Clause("param", "p", "=", "x")]),
        ("Parameters.p = 'x'", [Clause("param", "p", "=", "x")]),
        ("tag.t = 'x'", [Clause("tag", "t", "=", "x")]),
        ("attribute.status = 'x'", [Clause("attribute", "status", "=", "x")]),
        ("attr.status = 'x'", [Clause("attribute", "status", "=", "x")]),
        ("run.run_id = 'x'", [Clause("attribute", "run_id", "=", "x")]),
        ("attributes.STATUS = 'x'", [Clause("attribute", "status", "=", "x")]),
        # params and tags named like numeric attributes are still strings
        ("params.start_time LIKE '1%'", [Clause("param", "start_time", "LIKE", "1%")]),
        ("tags.end_time IS NULL", [Clause("tag", "end_time", "IS NULL", None)]),
        # keys: bare with . - / :, backquoted, double-quoted, escaped quotes, non-ASCII; case kept
        ("tags.mlflow.runName = 'x'", [Clause("tag", "mlflow.runName", "=", "x")]),
        ("params.a-b/c:d_1 = 'x'", [Clause("param", "a-b/c:d_1", "=", "x")]),
        ("metrics.`f1 score` > 0", [Clause("metric", "f1 score", ">", 0.0)]),
        ('metrics."f1 score" > 0', [Clause("metric", "f1 score", ">", 0.0)]),
        ("tags.`a``b` = 'x'", [Clause("tag", "a`b", "=", "x")]),
        ("tags.`a\\`b` = 'x'", [Clause("tag", "a`b", "=", "x")]),
        ('tags."a""b" = \'x\'', [Clause("tag", 'a"b', "=", "x")]),
        ("tags.`it's (1 = 1)` = 'x'", [Clause("tag", "it's (1 = 1)", "=", "x")]),
        ("tags.été = 'x'", [Clause("tag", "été", "=", "x")]),
        ("tags.`Team` = 'x'", [Clause("tag", "Team", "=", "x")]),
        ("attributes.`status` = 'x'", [Clause("attribute", "status", "=", "x")]),
        # strings: both quotes, doubled or backslashed quotes, backslashes
        ("params.p = 'it''s'", [Clause("param", "p", "=", "it's")]),
        ("params.p = 'it\\'s'", [Clause("param", "p", "=", "it's")]),
        ('params.p = "say ""hi"""', [Clause("param", "p", "=", 'say "hi"')]),
        ('params.p = "a\\"b"', [Clause("param", "p", "=", 'a"b')]),
        ("params.p = 'a\"b'", [Clause("param", "p", "=", 'a"b')]),
        ("params.p = 'a\\\\'", [Clause("param", "p", "=", "a\\")]),
        ("params.p = 'C:\\tmp'", [Clause("param", "p", "=", "C:\\tmp")]),
        ("params.p LIKE '50\\%'", [Clause("param", "p", "LIKE", "50\\%")]),
        ("params.p = ''", [Clause("param", "p", "=", "")]),
        ("params.p = 'a\nb'", [Clause("param", "p", "=", "a\nb")]),
        ("params.p = 'and'", [Clause("param", "p", "=", "and")]),
        # numbers
        ("metrics.m = -1", [Clause("metric", "m", "=", -1.0)]),
        ("metrics.m = +2", [Clause("metric", "m", "=", 2.0)]),
        ("metrics.m = .5", [Clause("metric", "m", "=", 0.5)]),
        ("metrics.m = 5.", [Clause("metric", "m", "=", 5.0)]),
        ("metrics.m = 1e3", [Clause("metric", "m", "=", 1000.0)]),
        ("metrics.m = 1E-3", [Clause("metric", "m", "=", 0.001)]),
        ("metrics.m = -2.5e+2", [Clause("metric", "m", "=", -250.0)]),
        ("metrics.m=-1e308", [Clause("metric", "m", "=", -1e308)]),
        ("attributes.start_time >= 1764154203123", [Clause("attribute", "start_time", ">=", 1764154203123)]),
        ("attributes.end_time < 1.5", [Clause("attribute", "end_time", "<", 1.5)]),
        ("attributes.end_time < -9223372036854775807", [Clause("attribute", "end_time", "<", -(2**63) + 1)]),
    ],
)
def test_parses(text: str, expected: list[Clause]) -> None:
    assert parse_filter(text) == expected


def test_integer_literals_stay_integers_for_times_and_become_floats_for_metrics() -> None:
    [time] = parse_filter("attributes.start_time = 1764154203123")
    [metric] = parse_filter("metrics.m = 3")
    assert type(time.value) is int and type(metric.value) is float


def test_clauses_are_frozen() -> None:
    [clause] = parse_filter("metrics.m = 3")
    with pytest.raises(AttributeError):
        clause.op = "<"  # type: ignore[misc]


ENTITY = "metrics.<key>, params.<key>, tags.<key> or attributes.<name>"
KEY_SHAPES = '(bare, `backquoted` or "double-quoted")'


@pytest.mark.parametrize(
    ("text", "position", "detail"),
    [
        ("metrics.rmse rmse", 13, "expected a comparison operator, found 'rmse'"),
        ("foo.x = 1", 0, "unknown entity 'foo.x'; expected metrics., params., tags. or attributes."),
        ("rmse < 3", 0, "unknown entity 'rmse'; expected metrics., params., tags. or attributes."),
        ("foo.`x` = 1", 0, "unknown entity 'foo.'; expected metrics., params., tags. or attributes."),
        ("= 3", 0, f"expected {ENTITY}, found '='"),
        ("(metrics.x = 1)", 0, f"expected {ENTITY}, found '('"),
        ("'metrics.x' = 1", 0, f"expected {ENTITY}, found 'metrics.x'"),
        ("metrics.x = 1 and", 17, f"expected {ENTITY}, found end of input"),
        (
            "metrics.x = 1 and and metrics.y = 1",
            18,
            "unknown entity 'and'; expected metrics., params., tags. or attributes.",
        ),
        ("metrics. < 3", 8, f"expected a key after 'metrics.' {KEY_SHAPES}, found a space"),
        ("metrics.", 8, f"expected a key after 'metrics.' {KEY_SHAPES}, found end of input"),
        ("metrics.'x' < 3", 8, f"expected a key after 'metrics.' {KEY_SHAPES}, found 'x'"),
        ("metrics.`` < 3", 8, "empty key"),
        ("metrics.`x < 3", 8, "unterminated quoted text; expected a closing `"),
        ('metrics."x < 3', 8, 'unterminated quoted text; expected a closing "'),
        ("params.a = 'x", 11, "unterminated quoted text; expected a closing '"),
        ("params.a = 'x\\'", 11, "unterminated quoted text; expected a closing '"),
        (
            "attributes.foo = 'a'",
            11,
            "unknown attribute 'foo'; expected one of end_time, experiment_id, run_id, run_name, start_time, status, user",
        ),
        ("metrics.x", 9, "expected a comparison operator, found end of input"),
        ("metrics.x ! 1", 10, "expected a comparison operator, found '!'"),
        ("metrics.x <> 1", 11, "expected a number for metrics.x, found '>'"),
        ("params.x == 'a'", 10, "expected a quoted string for params.x, found '='"),
        ("metrics.rmse < 'a'", 15, "expected a number for metrics.rmse, found 'a'"),
        ("metrics.rmse < ", 15, "expected a number for metrics.rmse, found end of input"),
        ("attributes.start_time > '1'", 24, "expected a number for attributes.start_time, found '1'"),
        ("params.a = 1", 11, "expected a quoted string for params.a, found '1'"),
        ("params.a = `x`", 11, "expected a quoted string for params.a, found `x`"),
        ("attributes.status = FINISHED", 20, "expected a quoted string for attributes.status, found 'FINISHED'"),
        ("metrics.x = 1abc", 12, "expected a number for metrics.x, found '1abc'"),
        ("metrics.x = 1.2.3", 12, "expected a number for metrics.x, found '1.2.3'"),
        ("metrics.x = 1e400", 12, "number 1e400 is out of range for metrics.x"),
        (
            "attributes.start_time > 9223372036854775808",
            24,
            "number 9223372036854775808 is out of range for attributes.start_time",
        ),
        ("attributes.start_time > 1e19", 24, "number 1e19 is out of range for attributes.start_time"),
        ("metrics.a = 1 or metrics.b = 2", 14, "expected AND or end of input, found 'or'"),
        ("metrics.a = 1 metrics.b = 2", 14, "expected AND or end of input, found 'metrics.b'"),
        ("params.a IN ()", 13, "expected a quoted string for params.a, found ')'"),
        ("params.a IN ('a',)", 17, "expected a quoted string for params.a, found ')'"),
        ("params.a IN 'a'", 12, "expected '(' to open the list, found 'a'"),
        ("params.a IN ('a' 'b')", 17, "expected ',' or ')', found 'b'"),
        ("params.a IN ('a'", 16, "expected ',' or ')', found end of input"),
        ("params.a IN (1, 2)", 13, "expected a quoted string for params.a, found '1'"),
        ("params.x LIKE 'a\\\\'", 14, "the pattern ends in an escaping backslash; expected a character after it"),
        ("params.x IS nil", 12, "expected NULL or NOT NULL after IS, found 'nil'"),
        ("params.x IS NOT 'a'", 16, "expected NULL after IS NOT, found 'a'"),
        ("params.x NOT LIKE 'a'", 13, "expected IN after NOT, found 'LIKE'"),
        ("params.x NOT", 12, "expected IN after NOT, found end of input"),
    ],
)
def test_errors_name_the_position_and_what_was_expected(text: str, position: int, detail: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_filter(text)
    assert str(caught.value) == f"invalid filter at position {position}: {detail}"


# --- order_by ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([], []),
        (["metrics.rmse ASC"], [OrderKey("metric", "rmse", ascending=True)]),
        (["metrics.rmse"], [OrderKey("metric", "rmse", ascending=True)]),
        (["params.alpha desc"], [OrderKey("param", "alpha", ascending=False)]),
        (["tags.team Desc"], [OrderKey("tag", "team", ascending=False)]),
        (["  attr.END_TIME  asc "], [OrderKey("attribute", "end_time", ascending=True)]),
        (["metrics.`f1 score` DESC"], [OrderKey("metric", "f1 score", ascending=False)]),
        (
            ["attributes.start_time DESC", "metrics.rmse"],
            [OrderKey("attribute", "start_time", ascending=False), OrderKey("metric", "rmse")],
        ),
    ],
)
def test_order_by_parses(items: list[str], expected: list[OrderKey]) -> None:
    assert parse_order_by(items) == expected


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (
            ["metrics.rmse sideways"],
            "invalid order_by item 0 'metrics.rmse sideways' at position 13: "
            "expected ASC, DESC or end of input, found 'sideways'",
        ),
        (
            ["metrics.a DESC ASC"],
            "invalid order_by item 0 'metrics.a DESC ASC' at position 15: expected end of input, found 'ASC'",
        ),
        (
            ["metrics.a", "foo.b"],
            "invalid order_by item 1 'foo.b' at position 0: unknown entity 'foo.b'; "
            "expected metrics., params., tags. or attributes.",
        ),
        ([""], f"invalid order_by item 0 '' at position 0: expected {ENTITY}, found end of input"),
        (
            ["attributes.colour"],
            "invalid order_by item 0 'attributes.colour' at position 11: unknown attribute 'colour'; "
            "expected one of end_time, experiment_id, run_id, run_name, start_time, status, user",
        ),
        (
            ["metrics.rmse; DROP TABLE runs"],
            "invalid order_by item 0 'metrics.rmse; DROP TABLE runs' at position 12: "
            "expected ASC, DESC or end of input, found ';'",
        ),
        (
            ["metrics.rmse DESC, run_id"],
            "invalid order_by item 0 'metrics.rmse DESC, run_id' at position 17: expected end of input, found ','",
        ),
        ("metrics.rmse", "order_by must be a list of strings, not the string 'metrics.rmse'"),
    ],
)
def test_order_by_errors(items: Sequence[str], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_order_by(items)
    assert str(caught.value) == message


# --- the query builder, without a database -------------------------------------------------------


@pytest.mark.parametrize("max_results", [0, -1, MAX_RESULTS + 1, True, 1.5])
def test_max_results_outside_1_to_50000_is_refused(max_results: Any) -> None:
    with pytest.raises(ValidationError, match=r"^max_results must be an integer from 1 to 50000, got "):
        search_runs_query([], [], experiment_ids=None, max_results=max_results)


def test_max_results_bounds_are_accepted() -> None:
    for max_results in (1, MAX_RESULTS):
        search_runs_query([], [], experiment_ids=None, max_results=max_results)


def test_experiment_ids_as_one_string_is_refused() -> None:
    with pytest.raises(ValidationError, match="experiment_ids must be a list of ids, not the string '12'"):
        search_runs_query([], [], experiment_ids="12", max_results=10)


@pytest.mark.parametrize(
    ("clause", "message"),
    [
        (Clause("metric", "m", "LIKE", "x"), "operator 'LIKE' is not supported for metrics.m"),
        (Clause("attribute", "environment", "=", "x"), "unknown attribute 'environment'"),
        (Clause("param", "p", "IN", "ab"), "operator IN needs a non-empty tuple of strings, got 'ab'"),
        (Clause("param", "p", "LIKE", ("a",)), "operator LIKE needs a string, got ('a',)"),
        (Clause("metric", "m", "<", None), "operator < needs a single string or number, got None"),
    ],
)
def test_hand_built_clauses_are_checked(clause: Clause, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        search_runs_query([clause], [], experiment_ids=None, max_results=10)


# --- injection -----------------------------------------------------------------------------------

REFUSED_INJECTIONS = [
    "params.alpha = '0.1'; DROP TABLE runs; --'",
    "metrics.x = 1; DROP TABLE runs",
    "params.a = '1' OR '1' = '1'",
    "tags.`x` = 'a' --",
    "metrics.x = 1 /* c */",
    "params.a = 'x' UNION SELECT run_id FROM runs",
    "params.a = 'x') OR (1 = 1",
    "metrics.x = 1 OR 1=1",
]


@pytest.mark.parametrize("text", REFUSED_INJECTIONS)
def test_injection_attempts_outside_quotes_are_errors(text: str) -> None:
    with pytest.raises(ValidationError, match=r"^invalid filter at position \d+: expected "):
        parse_filter(text)


# (filter, the user text it must carry only as a bound parameter)
LITERAL_INJECTIONS = [
    ("tags.`x' OR 1=1 --` = 'a'", "x' OR 1=1 --"),
    ("params.alpha = '0.1''; DROP TABLE runs; --'", "0.1'; DROP TABLE runs; --"),
    ('params."a\\" OR \\"1\\"=\\"1" = \'x\'', 'a" OR "1"="1'),
    ("tags.t IN ('a'') OR 1=1 --', 'b')", "a') OR 1=1 --"),
    ("params.p LIKE 'a''; DELETE FROM runs; --'", "a'; DELETE FROM runs; --"),
    ("params.p ILIKE '%''; DELETE FROM runs; --'", "%'; DELETE FROM runs; --"),
    ("attributes.run_name = 'x\\' OR \\'1\\'=\\'1'", "x' OR '1'='1"),
    ('metrics.`m"; DROP TABLE runs; --` > 1', 'm"; DROP TABLE runs; --'),
]


def _flatten(values: Any) -> list[Any]:
    return [item for value in values for item in (value if isinstance(value, list) else [value])]


@pytest.mark.parametrize(("text", "payload"), LITERAL_INJECTIONS)
@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()], ids=["sqlite", "postgresql"])
def test_quoted_injection_attempts_are_bound_parameters(text: str, payload: str, dialect: Any) -> None:
    order = parse_order_by(["tags.`a'; DROP TABLE runs; --` DESC"])
    compiled = search_runs_query(parse_filter(text), order, experiment_ids=None, max_results=10).compile(
        dialect=dialect
    )
    sql = str(compiled)
    assert payload not in sql and "DROP" not in sql and "DELETE" not in sql
    assert payload in _flatten(compiled.params.values())
    assert "a'; DROP TABLE runs; --" in compiled.params.values()


def test_like_is_glob_on_sqlite_and_like_with_backslash_escape_elsewhere() -> None:
    query = search_runs_query(parse_filter("params.p LIKE 'a_%'"), [], experiment_ids=None, max_results=10)
    on_sqlite = query.compile(dialect=sqlite.dialect())
    on_postgres = query.compile(dialect=postgresql.dialect())
    assert " GLOB " in str(on_sqlite) and " LIKE " not in str(on_sqlite)
    assert "run_params.value LIKE %(param_1)s::VARCHAR ESCAPE '\\'" in str(on_postgres)
    assert "a?*" in on_sqlite.params.values() and "a_%" in on_postgres.params.values()


# --- against a real SQLite file ------------------------------------------------------------------

RUNS = [
    # run_id, experiment_id, status, run_name, author (attributes.user), start_time, end_time
    ("r1", "1", "FINISHED", "Baseline", "alice", 1000, 1500),
    ("r2", "1", "FAILED", "baseline-2", "bob", 3000, None),
    ("r3", "2", "RUNNING", None, "carol", 2000, None),
    ("r4", "2", "FINISHED", "other", "alice", 2000, 2600),
]
METRICS = [  # value None: a NaN, as the projection stores it
    ("r1", "rmse", 2.0),
    ("r2", "rmse", None),
    ("r3", "rmse", 5.0),
    ("r1", "f1 score", 0.7),
    ("r2", "f1 score", 0.9),
    ("r1", "loss", 0.5),
    ("r3", "loss", float("inf")),
]
PARAMS = [
    ("r1", "alpha", "0.1"),
    ("r2", "alpha", "0.5"),
    ("r3", "alpha", "1"),
    ("r1", "model", "xgb_100%"),
    ("r2", "model", "XGB"),
    ("r3", "model", "lg*m[1]?"),
    ("r2", "path", "C:\\tmp"),
]
TAGS = [
    ("r1", "team", "risk"),
    ("r2", "team", "Risk"),
    ("r4", "team", "ops"),
    ("r1", "note", "it's"),
    ("r4", "x' OR 1=1 --", "a"),
    ("r1", "priority", "b"),
    ("r2", "priority", "a"),
    ("r4", "priority", "c"),
]

# (filter, experiment_ids, the matching run ids)
FILTER_CASES: list[tuple[str, list[str] | None, set[str]]] = [
    ("", None, {"r1", "r2", "r3", "r4"}),
    ("", ["1"], {"r1", "r2"}),
    ("", [], set()),
    ("metrics.rmse < 3", None, {"r1"}),  # r2's NaN and r4's missing metric do not match
    ("metrics.rmse > -1e308", None, {"r1", "r3"}),
    ("metrics.rmse != 5", None, {"r1"}),
    ("metrics.rmse = 2", None, {"r1"}),
    ("metrics.rmse <= 5 and metrics.rmse >= 5", None, {"r3"}),
    ("metrics.rmse IS NULL", None, {"r4"}),  # a NaN counts as present
    ("metrics.rmse IS NOT NULL", None, {"r1", "r2", "r3"}),
    ("metrics.loss > 1e308", None, {"r3"}),
    ("metrics.`f1 score` >= 0.9", None, {"r2"}),
    ('metrics."f1 score" = 0.7', None, {"r1"}),
    ("params.alpha = '0.1'", None, {"r1"}),
    ("params.alpha != '0.1'", None, {"r2", "r3"}),
    ("params.alpha IN ('0.1', '1')", None, {"r1", "r3"}),
    ("params.alpha NOT IN ('0.1')", None, {"r2", "r3"}),
    ("params.alpha IS NULL", None, {"r4"}),
    ("params.alpha IS NOT NULL", None, {"r1", "r2", "r3"}),
    ("params.model LIKE 'xgb%'", None, {"r1"}),  # case-sensitive
    ("params.model LIKE 'XGB'", None, {"r2"}),
    ("params.model ILIKE 'xgb%'", None, {"r1", "r2"}),
    ("params.model ILIKE 'XgB'", None, {"r2"}),
    ("params.model LIKE 'XG_'", None, {"r2"}),
    ("params.model LIKE 'xgb\\_100\\%'", None, {"r1"}),
    ("params.model LIKE '%\\%'", None, {"r1"}),
    ("params.model LIKE 'xgb\\_1%'", None, {"r1"}),
    ("params.model LIKE 'lg*m[1]?'", None, {"r3"}),  # GLOB's * ? [ are literal
    ("params.model LIKE 'lg*%'", None, {"r3"}),
    ("params.model LIKE 'l*'", None, set()),
    ("params.model LIKE 'lg_m[1]_'", None, {"r3"}),
    ("params.model ILIKE 'LG*M[1]?'", None, {"r3"}),
    ("params.path = 'C:\\\\tmp'", None, {"r2"}),
    ("params.path = 'C:\\tmp'", None, {"r2"}),
    ("params.path LIKE 'C:\\\\\\\\%'", None, {"r2"}),
    ("tags.team = 'risk'", None, {"r1"}),
    ("tags.team != 'risk'", None, {"r2", "r4"}),
    ("tags.team ILIKE 'RISK'", None, {"r1", "r2"}),
    ("tags.team LIKE 'r%'", None, {"r1"}),
    ("tags.team NOT IN ('risk', 'Risk')", None, {"r4"}),
    ("tags.team IS NULL", None, {"r3"}),
    ("tags.team IS NOT NULL", None, {"r1", "r2", "r4"}),
    ("tags.note = 'it''s'", None, {"r1"}),
    ('tags.note = "it\'s"', None, {"r1"}),
    ("tags.note = 'it\\'s'", None, {"r1"}),
    ("tags.`x' OR 1=1 --` = 'a'", None, {"r4"}),  # a literal key
    ("tags.x = 'a'", None, set()),
    ("params.alpha = '0.1''; DROP TABLE runs; --'", None, set()),
    ("attributes.status = 'FINISHED'", None, {"r1", "r4"}),
    ("attributes.status = 'finished'", None, set()),
    ("attributes.status IN ('FAILED', 'RUNNING')", None, {"r2", "r3"}),
    ("attributes.status NOT IN ('FAILED', 'RUNNING')", None, {"r1", "r4"}),
    ("attributes.status != 'FINISHED'", None, {"r2", "r3"}),
    ("attributes.run_name LIKE 'baseline%'", None, {"r2"}),
    ("attributes.run_name ILIKE 'baseline%'", None, {"r1", "r2"}),
    ("attributes.user != 'alice'", None, {"r2", "r3"}),
    ("attributes.user = 'alice'", ["2"], {"r4"}),
    ("attributes.start_time >= 2000", None, {"r2", "r3", "r4"}),
    ("attributes.start_time < 1.5e3", None, {"r1"}),
    ("attributes.start_time > 1999.5", None, {"r2", "r3", "r4"}),  # not rounded to a BIGINT
    ("attributes.start_time < 2000.5", None, {"r1", "r3", "r4"}),
    ("attributes.start_time = 1e3", None, {"r1"}),
    ("attributes.end_time IS NULL", None, {"r2", "r3"}),
    ("attributes.end_time IS NOT NULL", None, {"r1", "r4"}),
    ("attributes.end_time > 1500", None, {"r4"}),
    ("run.run_id = 'r3'", None, {"r3"}),
    ("attributes.experiment_id = '2'", None, {"r3", "r4"}),
    ("metrics.rmse < 3 and params.alpha = '0.1' and tags.team = 'risk'", None, {"r1"}),
    ("metrics.rmse < 3 and params.alpha = '0.1' and tags.team = 'ops'", None, set()),
    ("metrics.rmse IS NULL and tags.team = 'ops' and attributes.end_time > 0", None, {"r4"}),
]

# (order_by, filter, experiment_ids, max_results, the run ids in order)
ORDER_CASES: list[tuple[list[str], str, list[str] | None, int, list[str]]] = [
    ([], "", None, 100, ["r2", "r3", "r4", "r1"]),  # start_time DESC, then run_id
    (["metrics.rmse ASC"], "", None, 100, ["r1", "r3", "r2", "r4"]),  # NaN and missing last
    (["metrics.rmse DESC"], "", None, 100, ["r3", "r1", "r2", "r4"]),
    (["metrics.loss DESC"], "", None, 100, ["r3", "r1", "r2", "r4"]),
    (["metrics.`f1 score`"], "", None, 100, ["r1", "r2", "r3", "r4"]),
    (["params.alpha"], "", None, 100, ["r1", "r2", "r3", "r4"]),
    (["params.alpha DESC"], "", None, 100, ["r3", "r2", "r1", "r4"]),
    (["tags.priority"], "", None, 100, ["r2", "r1", "r4", "r3"]),
    (["tags.priority desc"], "", None, 100, ["r4", "r1", "r2", "r3"]),
    (["attributes.start_time ASC"], "", None, 100, ["r1", "r3", "r4", "r2"]),
    (["attributes.end_time"], "", None, 100, ["r1", "r4", "r2", "r3"]),  # NULL last
    (["attributes.end_time DESC"], "", None, 100, ["r4", "r1", "r2", "r3"]),
    (["attributes.status", "metrics.rmse DESC"], "", None, 100, ["r2", "r1", "r4", "r3"]),
    (["attributes.run_id DESC"], "", None, 100, ["r4", "r3", "r2", "r1"]),
    (["metrics.rmse", "metrics.rmse DESC"], "", None, 100, ["r1", "r3", "r2", "r4"]),
    ([], "", None, 2, ["r2", "r3"]),
    (["metrics.rmse DESC"], "metrics.rmse > 0", None, 100, ["r3", "r1"]),
    (["attributes.start_time DESC"], "", ["2"], 100, ["r3", "r4"]),
    (["tags.`x' OR 1=1 --` DESC"], "", None, 1, ["r4"]),
]


def seed(engine: Engine) -> None:
    """The read-model tables with four runs, written directly."""
    ReadModel.metadata.create_all(engine)
    columns = ("run_id", "experiment_id", "status", "run_name", "author", "start_time", "end_time")
    with engine.begin() as conn:
        conn.execute(insert(Run), [{**dict(zip(columns, run)), "start_seq": 0} for run in RUNS])
        conn.execute(
            insert(LatestMetric),
            [{"run_id": r, "key": k, "value": v, "step": 0, "timestamp": 0, "seq": 0} for r, k, v in METRICS],
        )
        conn.execute(insert(RunParam), [{"run_id": r, "key": k, "value": v, "seq": 0} for r, k, v in PARAMS])
        conn.execute(insert(RunTag), [{"run_id": r, "key": k, "value": v, "seq": 0} for r, k, v in TAGS])


def search(
    engine: Engine,
    filter_text: str = "",
    order_by: Sequence[str] = (),
    experiment_ids: Sequence[str] | None = None,
    max_results: int = 100,
) -> list[str]:
    query = search_runs_query(
        parse_filter(filter_text), parse_order_by(order_by), experiment_ids=experiment_ids, max_results=max_results
    )
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    tmp_path: Path = tmp_path_factory.mktemp("search")
    engine = create_engine(f"sqlite:///{tmp_path}/s.db")
    seed(engine)
    yield engine
    engine.dispose()


@pytest.mark.parametrize(("text", "experiment_ids", "expected"), FILTER_CASES)
def test_search_on_sqlite(engine: Engine, text: str, experiment_ids: list[str] | None, expected: set[str]) -> None:
    found = search(engine, text, experiment_ids=experiment_ids)
    assert len(found) == len(set(found))
    assert set(found) == expected


@pytest.mark.parametrize(("order_by", "text", "experiment_ids", "max_results", "expected"), ORDER_CASES)
def test_order_on_sqlite(
    engine: Engine,
    order_by: list[str],
    text: str,
    experiment_ids: list[str] | None,
    max_results: int,
    expected: list[str],
) -> None:
    assert search(engine, text, order_by, experiment_ids, max_results) == expected


def check_injections_are_data(engine: Engine) -> None:
    """Quoted injection attempts match only as literal keys and values, and drop nothing."""
    found = {text: search(engine, text, ["tags.`a'; DROP TABLE runs; --` DESC"]) for text, _ in LITERAL_INJECTIONS}
    assert found == {text: ["r4"] if payload == "x' OR 1=1 --" else [] for text, payload in LITERAL_INJECTIONS}
    assert search(engine) == ["r2", "r3", "r4", "r1"]
    assert {"runs", "run_params", "run_tags", "latest_metrics"} <= set(inspect(engine).get_table_names())


def test_injection_attempts_are_data_on_sqlite(engine: Engine) -> None:
    check_injections_are_data(engine)


def test_a_cached_statement_takes_new_values(engine: Engine) -> None:
    """The LIKE construct carries two patterns, one unrendered; the compiled-SQL cache must map both."""
    assert search(engine, "params.model LIKE 'xgb%' and attributes.start_time > 1.5") == ["r1"]
    assert search(engine, "params.model LIKE 'XG_' and attributes.start_time > 2500.5") == ["r2"]
    assert search(engine, "params.model LIKE 'lg*%' and attributes.start_time > 0") == ["r3"]
