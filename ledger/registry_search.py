"""Model version search: MLflow's ``search_model_versions`` filter language.

Owns: which keys a model-version filter may name and how they map to the
registry read models. ``name``, ``run_id``, ``stage``, ``creator`` and
``artifact_digest`` compare as text (=, !=, LIKE, ILIKE, IN, NOT IN),
``version`` (or ``version_number``) as a number, ``tags.<key>`` against the
version's latest tag value. The tokenizer, the parser's grammar and the SQL
comparisons are those of run search (``ledger.search``); only the keys differ.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import ColumnElement, Select, and_, exists, select

from ledger.errors import ValidationError
from ledger.search import MAX_RESULTS, Clause, Kind, Value, _compare, _error, _Parser
from ledger.store.registry_models import ModelVersion, StageInterval, VersionTag

__all__ = ["parse_version_filter", "search_versions_query"]

_VERSIONS: Final = ModelVersion.__table__
_STAGES: Final = StageInterval.__table__
_TAGS: Final = VersionTag.__table__
_TEXT_KEYS: Final = ("name", "run_id", "stage", "creator", "artifact_digest")
_NUMBER_KEYS: Final = {"version": "version", "version_number": "version"}
_TEXT_OPS: Final = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")
_NUMBER_OPS: Final = ("=", "!=", "<", "<=", ">", ">=")
_HINT: Final = "expected name, version, run_id, stage, creator, artifact_digest or tags.<key>"


class _VersionFilterParser(_Parser):
    """The run-search parser with the keys of a model version."""

    def _identifier(self) -> tuple[Kind, str]:
        token = self._next()
        if token.kind != "word":
            raise self._fail(token, _HINT)
        prefix, dot, key = token.text.partition(".")
        if dot and prefix.lower() in ("tag", "tags") and key:
            return "tag", key
        name = token.text.lower()
        if dot or (name not in _TEXT_KEYS and name not in _NUMBER_KEYS):
            raise _error(self._what, token.position, f"unknown key '{token.text}'; {_HINT}")
        return "attribute", _NUMBER_KEYS.get(name, name)

    def _comparison(self) -> Clause:
        kind, key = self._identifier()
        op_token = self._peek()
        op = self._operator()
        allowed = _NUMBER_OPS if key == "version" else _TEXT_OPS
        if op not in allowed:
            detail = f"operator {op} is not supported for {key}; expected one of {', '.join(allowed)}"
            raise _error(self._what, op_token.position, detail)
        value: Value
        if key == "version":
            value = self._number(key, integral=True)
        elif op in ("IN", "NOT IN"):
            value = self._string_list(key)
        else:
            value = self._string(key)
        return Clause(kind, key, op, value)


def parse_version_filter(text: str) -> list[Clause]:
    """The comparisons of a model-version filter, ANDed (empty: all versions)."""
    if not isinstance(text, str):
        raise ValidationError(f"filter must be a string, got {type(text).__name__}")
    return _VersionFilterParser(text, "filter").filter()


def search_versions_query(clauses: list[Clause], *, max_results: int) -> Select[Any]:
    """``SELECT name, version`` of the versions matching every clause, by name then version."""
    if isinstance(max_results, bool) or not isinstance(max_results, int) or not 1 <= max_results <= MAX_RESULTS:
        raise ValidationError(f"max_results must be an integer from 1 to {MAX_RESULTS}, got {max_results!r}")
    current = and_(
        _STAGES.c.name == _VERSIONS.c.name, _STAGES.c.version == _VERSIONS.c.version, _STAGES.c.end_seq.is_(None)
    )
    source = _VERSIONS.join(_STAGES, current)
    query = select(_VERSIONS.c.name, _VERSIONS.c.version).select_from(source)
    return (
        query.where(*(_condition(clause) for clause in clauses))
        .order_by(_VERSIONS.c.name, _VERSIONS.c.version)
        .limit(max_results)
    )


def _condition(clause: Clause) -> ColumnElement[bool]:
    if clause.kind == "tag":
        same = and_(_TAGS.c.name == _VERSIONS.c.name, _TAGS.c.version == _VERSIONS.c.version, _TAGS.c.key == clause.key)
        return exists().where(same, _compare(_TAGS.c.value, clause.op, clause.value)).correlate(_VERSIONS)
    column = _STAGES.c.stage if clause.key == "stage" else _VERSIONS.c[clause.key]
    return _compare(column, clause.op, clause.value)
