"""Run search: MLflow's ``search_runs`` filter and order_by language.

Owns: the tokenizer and recursive-descent parser for filter strings
(``metrics.rmse < 3 and params.alpha = '0.1'``) and order_by items
(``metrics.rmse DESC``), which operator and value suit which kind of key, and
the translation of parsed clauses into one SQLAlchemy ``Select`` over ``runs``
and its projection tables. User text reaches SQL only as bound parameters.
Running the query and turning run ids into runs are left to the services.

Semantics, where SQL or MLflow leave a choice:

* A metric, param or tag comparison needs the run to have that key. ``IS NULL``
  matches runs without the key, ``IS NOT NULL`` runs with it. A NaN metric is
  stored as NULL: it matches no comparison but the run has the metric.
* ``LIKE`` is case-sensitive on both backends (SQLite renders it as ``GLOB``),
  ``ILIKE`` case-insensitive (on SQLite for ASCII letters only). ``%`` and
  ``_`` are wildcards; a backslash makes the next character literal.
* In quoted text, a doubled quote or a backslash before the quote stands for
  the quote, ``\\\\`` for one backslash; other backslashes are kept as written.
* Runs lacking an order key sort last in either direction; ties are broken by
  ``start_time DESC`` then ``run_id``.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, FromClause, Select, and_, exists, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from ledger.errors import ValidationError
from ledger.store.read_models import LatestMetric, Run, RunParam, RunTag

__all__ = ["MAX_RESULTS", "Clause", "Kind", "OrderKey", "Value", "parse_filter", "parse_order_by", "search_runs_query"]

MAX_RESULTS: Final = 50_000

Kind = Literal["metric", "param", "tag", "attribute"]
Value = str | float | tuple[str, ...] | None


@dataclass(frozen=True)
class Clause:
    """One comparison: ``value`` is None for IS (NOT) NULL and a tuple for (NOT) IN."""

    kind: Kind
    key: str
    op: str
    value: Value


@dataclass(frozen=True)
class OrderKey:
    kind: Kind
    key: str
    ascending: bool = True


_ENTITIES: Final[dict[str, Kind]] = {
    **dict.fromkeys(["metric", "metrics"], "metric"),
    **dict.fromkeys(["param", "params", "parameter", "parameters"], "param"),
    **dict.fromkeys(["tag", "tags"], "tag"),
    **dict.fromkeys(["attribute", "attributes", "attr", "run"], "attribute"),
}
_PREFIX: Final[dict[Kind, str]] = {"metric": "metrics.", "param": "params.", "tag": "tags.", "attribute": "attributes."}
_ENTITY_HINT: Final = "expected metrics., params., tags. or attributes."
_NUMERIC_ATTRIBUTES: Final = frozenset({"start_time", "end_time"})
_ATTRIBUTE_COLUMNS: Final = {  # attribute name -> column of ``runs``
    **{name: name for name in ("status", "run_name", "run_id", "experiment_id", *_NUMERIC_ATTRIBUTES)},
    "user": "author",
}

_NULL_OPS: Final = ("IS NULL", "IS NOT NULL")
_NUMERIC_OPS: Final = ("=", "!=", "<", "<=", ">", ">=")
_STRING_OPS: Final = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")
_INT64_LIMIT: Final = 2**63


def _allowed_operators(kind: Kind, key: str) -> tuple[str, ...]:
    if _is_numeric(kind, key):
        return _NUMERIC_OPS + _NULL_OPS
    return _STRING_OPS if kind == "attribute" else _STRING_OPS + _NULL_OPS


def _is_numeric(kind: Kind, key: str) -> bool:
    return kind == "metric" or (kind == "attribute" and key in _NUMERIC_ATTRIBUTES)


def _error(what: str, position: int, detail: str) -> ValidationError:
    return ValidationError(f"invalid {what} at position {position}: {detail}")


# --- tokenizer -----------------------------------------------------------------------------------

_NUMBER: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?![\w.])")
_WORD: Final = re.compile(r"[^\W\d][\w.\-/:]*")
_OPERATOR: Final = re.compile(r"!=|<=|>=|=|<|>")
_OTHER: Final = re.compile(r"[^\s'\"`(),=!<>]+|\S")  # anything else, for the parser to refuse
_INTEGER: Final = re.compile(r"[+-]?\d+")
_PATTERNS: Final[tuple[tuple[Literal["number", "word", "op"], re.Pattern[str]], ...]] = (
    ("number", _NUMBER),
    ("word", _WORD),
    ("op", _OPERATOR),
)
_QUOTES: Final = "'\"`"


@dataclass(frozen=True)
class _Token:
    kind: Literal["number", "word", "op", "punct", "string", "other", "end"]
    text: str  # as written, quotes included
    position: int
    value: str = ""  # a string's content, unescaped

    @property
    def end(self) -> int:
        return self.position + len(self.text)

    def describe(self) -> str:
        if self.kind == "end":
            return "end of input"
        return self.text if self.kind == "string" else f"'{self.text}'"


def _next_token(text: str, position: int, what: str) -> _Token:
    while position < len(text) and text[position].isspace():
        position += 1
    if position == len(text):
        return _Token("end", "", position)
    char = text[position]
    if char in _QUOTES:
        return _quoted(text, position, what)
    if char in "(),":
        return _Token("punct", char, position)
    for kind, pattern in _PATTERNS:
        if match := pattern.match(text, position):
            return _Token(kind, match.group(), position)
    other = _OTHER.match(text, position)
    assert other is not None  # \S matches the non-space character at `position`
    return _Token("other", other.group(), position)


def _quoted(text: str, start: int, what: str) -> _Token:
    quote, chars, i = text[start], [], start + 1
    while i < len(text):
        char, following = text[i], text[i + 1 : i + 2]
        if (char == "\\" and following in (quote, "\\")) or (char == quote == following):
            chars.append(following)
            i += 2
        elif char == quote:
            return _Token("string", text[start : i + 1], start, "".join(chars))
        else:
            chars.append(char)
            i += 1
    raise _error(what, start, f"unterminated quoted text; expected a closing {quote}")


# --- parser --------------------------------------------------------------------------------------


class _Parser:
    """Recursive descent over one filter or one order_by item, tokenized as it goes."""

    def __init__(self, text: str, what: str) -> None:
        self._text = text
        self._what = what
        self._tokens: list[_Token] = []
        self._index = 0

    def filter(self) -> list[Clause]:
        if self._peek().kind == "end":
            return []
        clauses = [self._comparison()]
        while self._accept("word", "AND"):
            clauses.append(self._comparison())
        self._expect_end("AND or end of input")
        return clauses

    def order_key(self) -> OrderKey:
        kind, key = self._identifier()
        ascending = not self._accept("word", "DESC")
        if ascending and not self._accept("word", "ASC"):
            self._expect_end("ASC, DESC or end of input")
        self._expect_end("end of input")
        return OrderKey(kind, key, ascending)

    def _comparison(self) -> Clause:
        kind, key = self._identifier()
        op_token = self._peek()
        op = self._operator()
        allowed = _allowed_operators(kind, key)
        if op not in allowed:
            detail = f"operator {op} is not supported for {_PREFIX[kind]}{key}; expected one of {', '.join(allowed)}"
            raise _error(self._what, op_token.position, detail)
        return Clause(kind, key, op, self._value(kind, key, op))

    def _identifier(self) -> tuple[Kind, str]:
        token = self._next()
        if token.kind != "word":
            raise self._fail(token, "metrics.<key>, params.<key>, tags.<key> or attributes.<name>")
        prefix, dot, key = token.text.partition(".")
        kind = _ENTITIES.get(prefix.lower())
        if not dot or kind is None:
            raise _error(self._what, token.position, f"unknown entity '{token.text}'; {_ENTITY_HINT}")
        key_position = token.end - len(key)
        if not key:
            key, key_position = self._quoted_key(token)
        if kind == "attribute":
            key = self._attribute(key, key_position)
        return kind, key

    def _quoted_key(self, prefix: _Token) -> tuple[str, int]:
        token = self._peek()
        if token.kind != "string" or token.text[0] == "'" or token.position != prefix.end:
            raise _error(
                self._what,
                prefix.end,
                f"expected a key after '{prefix.text}' (bare, `backquoted` or \"double-quoted\"), "
                f"found {token.describe() if token.position == prefix.end else 'a space'}",
            )
        self._next()
        if not token.value:
            raise _error(self._what, token.position, "empty key")
        return token.value, token.position

    def _attribute(self, name: str, position: int) -> str:
        if name.lower() not in _ATTRIBUTE_COLUMNS:
            detail = f"unknown attribute '{name}'; expected one of {', '.join(sorted(_ATTRIBUTE_COLUMNS))}"
            raise _error(self._what, position, detail)
        return name.lower()

    def _operator(self) -> str:
        token = self._next()
        word = token.text.upper() if token.kind == "word" else ""
        if token.kind == "op" or word in ("LIKE", "ILIKE", "IN"):
            return word or token.text
        if word == "NOT":
            self._expect("word", "IN", "IN after NOT")
            return "NOT IN"
        if word == "IS":
            negated = self._accept("word", "NOT")
            self._expect("word", "NULL", "NULL after IS NOT" if negated else "NULL or NOT NULL after IS")
            return "IS NOT NULL" if negated else "IS NULL"
        raise self._fail(token, "a comparison operator")

    def _value(self, kind: Kind, key: str, op: str) -> Value:
        label = f"{_PREFIX[kind]}{key}"
        if op in _NULL_OPS:
            return None
        if op in ("IN", "NOT IN"):
            return self._string_list(label)
        if _is_numeric(kind, key):
            return self._number(label, integral=kind == "attribute")
        token = self._peek()
        value = self._string(label)
        if op in ("LIKE", "ILIKE") and _ends_in_escape(value):
            detail = "the pattern ends in an escaping backslash; expected a character after it"
            raise _error(self._what, token.position, detail)
        return value

    def _string_list(self, label: str) -> tuple[str, ...]:
        self._expect("punct", "(", "'(' to open the list")
        items = [self._string(label)]
        while self._accept("punct", ","):
            items.append(self._string(label))
        self._expect("punct", ")", "',' or ')'")
        return tuple(items)

    def _string(self, label: str) -> str:
        token = self._next()
        if token.kind != "string" or token.text[0] == "`":
            raise self._fail(token, f"a quoted string for {label}")
        return token.value

    def _number(self, label: str, *, integral: bool) -> float:
        token = self._next()
        if token.kind != "number":
            raise self._fail(token, f"a number for {label}")
        value = float(token.text)
        if integral and _INTEGER.fullmatch(token.text):
            value = int(token.text)
        if not math.isfinite(value) or (integral and abs(value) >= _INT64_LIMIT):
            raise _error(self._what, token.position, f"number {token.text} is out of range for {label}")
        return value

    def _peek(self) -> _Token:
        if self._index == len(self._tokens):
            start = self._tokens[-1].end if self._tokens else 0
            self._tokens.append(_next_token(self._text, start, self._what))
        return self._tokens[self._index]

    def _next(self) -> _Token:
        token = self._peek()
        self._index += token.kind != "end"
        return token

    def _accept(self, kind: str, text: str) -> bool:
        token = self._peek()
        found = token.kind == kind and token.text.upper() == text
        self._index += found
        return found

    def _expect(self, kind: str, text: str, expected: str) -> None:
        if not self._accept(kind, text):
            raise self._fail(self._peek(), expected)

    def _expect_end(self, expected: str) -> None:
        if self._peek().kind != "end":
            raise self._fail(self._peek(), expected)

    def _fail(self, token: _Token, expected: str) -> ValidationError:
        return _error(self._what, token.position, f"expected {expected}, found {token.describe()}")


def _ends_in_escape(pattern: str) -> bool:
    trailing = len(pattern) - len(pattern.rstrip("\\"))
    return trailing % 2 == 1


def parse_filter(text: str) -> list[Clause]:
    """The comparisons of a filter string, ANDed; an empty filter has none."""
    return _Parser(text, "filter").filter()


def parse_order_by(items: Sequence[str]) -> list[OrderKey]:
    """Order keys from items like ``metrics.rmse DESC`` (ascending unless DESC)."""
    if isinstance(items, str):
        raise ValidationError(f"order_by must be a list of strings, not the string {items!r}")
    return [_Parser(item, f"order_by item {index} {item!r}").order_key() for index, item in enumerate(items)]


# --- SQL -----------------------------------------------------------------------------------------

_RUNS: Final = Run.__table__
_KEYED_TABLES: Final[dict[Kind, FromClause]] = {
    "metric": LatestMetric.__table__,
    "param": RunParam.__table__,
    "tag": RunTag.__table__,
}
_COMPARATORS: Final[dict[str, Callable[[Any, Any], ColumnElement[bool]]]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class _CaseSensitiveLike(FunctionElement[bool]):
    """``column LIKE pattern ESCAPE '\\'``, as ``GLOB`` on SQLite, whose LIKE ignores ASCII case.

    Arguments: the column, the LIKE pattern and the same pattern translated to GLOB.
    """

    inherit_cache = True


@compiles(_CaseSensitiveLike)
def _compile_like(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column, pattern, _ = element.clauses.clauses
    return compiler.process(column.like(pattern, escape="\\"), **kw)


@compiles(_CaseSensitiveLike, "sqlite")
def _compile_glob(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column, _, glob_pattern = element.clauses.clauses
    return compiler.process(column.op("GLOB", is_comparison=True)(glob_pattern), **kw)


def _like_to_glob(pattern: str) -> str:
    glob: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            glob.append(_glob_literal(next(chars, "\\")))
        else:
            glob.append({"%": "*", "_": "?"}.get(char) or _glob_literal(char))
    return "".join(glob)


def _glob_literal(char: str) -> str:
    return f"[{char}]" if char in "*?[" else char


def search_runs_query(
    clauses: Sequence[Clause], order: Sequence[OrderKey], *, experiment_ids: Sequence[str] | None, max_results: int
) -> Select[Any]:
    """``SELECT runs.run_id`` (one column) matching every clause, in ``order``, at most ``max_results`` rows.

    ``experiment_ids=None`` searches every experiment.
    """
    if isinstance(max_results, bool) or not isinstance(max_results, int) or not 1 <= max_results <= MAX_RESULTS:
        raise ValidationError(f"max_results must be an integer from 1 to {MAX_RESULTS}, got {max_results!r}")
    source, order_terms = _ordering(order)
    query = select(_RUNS.c.run_id).select_from(source)
    if experiment_ids is not None:
        if isinstance(experiment_ids, str):
            raise ValidationError(f"experiment_ids must be a list of ids, not the string {experiment_ids!r}")
        query = query.where(_RUNS.c.experiment_id.in_(list(experiment_ids)))
    return query.where(*(_condition(clause) for clause in clauses)).order_by(*order_terms).limit(max_results)


def _condition(clause: Clause) -> ColumnElement[bool]:
    allowed = _allowed_operators(clause.kind, clause.key)
    if clause.op not in allowed:
        raise ValidationError(f"operator {clause.op!r} is not supported for {_PREFIX[clause.kind]}{clause.key}")
    if clause.kind == "attribute":
        return _compare(_attribute_column(clause.key), clause.op, clause.value)
    table = _KEYED_TABLES[clause.kind]
    same_key = and_(table.c.run_id == _RUNS.c.run_id, table.c.key == clause.key)
    if clause.op == "IS NULL":
        return ~exists().where(same_key).correlate(_RUNS)
    if clause.op == "IS NOT NULL":
        return exists().where(same_key).correlate(_RUNS)
    return exists().where(same_key, _compare(table.c.value, clause.op, clause.value)).correlate(_RUNS)


def _attribute_column(name: str) -> ColumnElement[Any]:
    if name not in _ATTRIBUTE_COLUMNS:
        raise ValidationError(f"unknown attribute {name!r}; expected one of {', '.join(sorted(_ATTRIBUTE_COLUMNS))}")
    return _RUNS.c[_ATTRIBUTE_COLUMNS[name]]


def _compare(column: ColumnElement[Any], op: str, value: Value) -> ColumnElement[bool]:
    if op in _NULL_OPS:
        return column.is_(None) if op == "IS NULL" else column.is_not(None)
    if op in ("IN", "NOT IN"):
        return column.in_(_items(value, op)) if op == "IN" else column.not_in(_items(value, op))
    if op == "LIKE":
        pattern = _text(value, op)
        return _CaseSensitiveLike(column, pattern, _like_to_glob(pattern))
    if op == "ILIKE":
        return column.ilike(_text(value, op), escape="\\")
    return _COMPARATORS[op](column, _scalar(value, op))


def _items(value: Value, op: str) -> tuple[str, ...]:
    if isinstance(value, tuple) and value and all(isinstance(item, str) for item in value):
        return value
    raise ValidationError(f"operator {op} needs a non-empty tuple of strings, got {value!r}")


def _text(value: Value, op: str) -> str:
    if isinstance(value, str):
        return value
    raise ValidationError(f"operator {op} needs a string, got {value!r}")


def _scalar(value: Value, op: str) -> str | float:
    if isinstance(value, str | float | int) and not isinstance(value, bool):
        return value
    raise ValidationError(f"operator {op} needs a single string or number, got {value!r}")


def _ordering(order: Sequence[OrderKey]) -> tuple[FromClause, list[ColumnElement[Any]]]:
    source: FromClause = _RUNS
    terms: list[ColumnElement[Any]] = []
    for index, key in enumerate(order):
        if key.kind == "attribute":
            column = _attribute_column(key.key)
        else:
            alias = _KEYED_TABLES[key.kind].alias(f"order_{index}")
            source = source.outerjoin(alias, and_(alias.c.run_id == _RUNS.c.run_id, alias.c.key == key.key))
            column = alias.c.value
        terms += [column.is_(None), column.asc() if key.ascending else column.desc()]  # missing keys last
    ordered = {key.key for key in order if key.kind == "attribute"}
    if "start_time" not in ordered:
        terms.append(_RUNS.c.start_time.desc())
    if "run_id" not in ordered:
        terms.append(_RUNS.c.run_id.asc())
    return source, terms
