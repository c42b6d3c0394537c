"""Data versions (``dataset.version_registered``) as pure rules: how a
reference to a version is written, what a registration may say about its
lineage, when a second registration is the same one, and the words of each
refusal.

Owns: the spellings of a ``derived_from`` item a caller may use
(``"loans@v2"``, ``("loans", "v2")``, ``{"name": ..., "version": ...}`` or a
view with ``name`` and ``version``), the two spellings of a schema
(``{column: type}`` or ``[{"name", "type"}]``), and the errors of the rules.
The rules that read the ledger's state (a parent is registered; a version is
registered once and never changes; an input's digest matches its registered
version, and a registration's digest the inputs that named it before it) are
applied inside the append transaction by ``ledger.store.dataset_projector``
and the service's plans (``ledger.datasets``); nothing here reads or writes
anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, NamedTuple

from ledger.errors import ConflictError, NotFoundError, ValidationError

__all__ = [
    "CONTENT_FIELDS",
    "DataVersionRef",
    "check_lineage",
    "columns_of",
    "content_differences",
    "input_conflict",
    "logged_input_conflict",
    "missing_parent",
    "parse_refs",
    "registration_conflict",
]

# What a registration says about its data; two registrations of one version
# with the same content are the same registration (a retried call).
CONTENT_FIELDS: Final = ("digest", "source", "transform", "columns", "num_rows", "derived_from")
_SHOWN: Final = 80  # characters of a value quoted in a message


class DataVersionRef(NamedTuple):
    """A data version by name and version; written ``name@version``."""

    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version}


def parse_refs(derived_from: object) -> list[DataVersionRef]:
    """The parents a caller named, in order. Each is ``"name@version"`` (split
    at the last ``@``), a ``(name, version)`` pair, a ``{name, version}``
    mapping, or anything with ``name`` and ``version`` attributes (a
    ``DataVersion``); a single one need not be in a list."""
    if derived_from is None:
        return []
    single = isinstance(derived_from, str | Mapping) or hasattr(derived_from, "version")
    items: Iterable[object] = [derived_from] if single else _iterable(derived_from)
    return [_ref(item) for item in items]


def _iterable(value: object) -> Iterable[object]:
    if isinstance(value, Iterable):
        return value
    raise ValidationError(
        f"derived_from must be a list of data versions (NAME@VERSION strings, (name, version) pairs "
        f"or {{name, version}} mappings), got {type(value).__name__}"
    )


def _ref(item: object) -> DataVersionRef:
    name: object = None
    version: object = None
    if isinstance(item, str):
        name, _, version = item.rpartition("@")
    elif isinstance(item, Mapping) and set(item) == {"name", "version"}:
        name, version = item["name"], item["version"]
    elif isinstance(item, Sequence) and len(item) == 2:  # a (name, version) pair
        name, version = item
    elif hasattr(item, "name") and hasattr(item, "version"):
        name, version = item.name, item.version
    if isinstance(name, str) and isinstance(version, str) and name and version:
        return DataVersionRef(name, version)
    raise ValidationError(
        f"derived_from item {item!r} is not a data version: expected NAME@VERSION, a (name, version) pair "
        "of strings or a {name, version} mapping"
    )


def columns_of(schema: object) -> list[dict[str, str]] | None:
    """A schema as the payloads hold it, ``[{"name", "type"}]``, from
    ``{column: type}`` or from that list itself."""
    if schema is None:
        return None
    if isinstance(schema, Mapping):
        return [{"name": str(name), "type": str(kind)} for name, kind in schema.items()]
    if isinstance(schema, Sequence) and not isinstance(schema, str):
        columns = []
        for column in schema:
            if not isinstance(column, Mapping) or "name" not in column or "type" not in column:
                raise ValidationError(
                    f"schema column {column!r} is not a {{name, type}} mapping "
                    "(a schema is {column: type} or [{name, type}, ...])"
                )
            columns.append({"name": str(column["name"]), "type": str(column["type"])})
        return columns
    raise ValidationError(f"schema must be {{column: type}} or [{{name, type}}, ...], got {type(schema).__name__}")


def check_lineage(name: str, version: str, parents: Sequence[DataVersionRef]) -> None:
    """ValidationError when a version names itself, or one parent twice, in ``derived_from``."""
    me = DataVersionRef(name, version)
    if me in parents:
        raise ValidationError(f"data version {me} cannot be derived from itself")
    seen: set[DataVersionRef] = set()
    for parent in parents:
        if parent in seen:
            raise ValidationError(f"data version {me} names {parent} twice in derived_from")
        seen.add(parent)


def content_differences(held: Mapping[str, Any], offered: Mapping[str, Any]) -> list[str]:
    """How the content ``offered`` for a version differs from the content it is
    registered with (both as payloads hold it): ``field held (refused offered)``
    for each field that differs. The order of ``derived_from`` does not matter."""
    differences = []
    for field in CONTENT_FIELDS:
        mine, theirs = held.get(field), offered.get(field)
        if field == "derived_from":
            mine, theirs = _parents(mine), _parents(theirs)
            if set(mine) != set(theirs):
                differences.append(f"derived_from [{_list(mine)}] (refused [{_list(theirs)}])")
        elif mine != theirs:
            differences.append(f"{field} {_shown(mine)} (refused {_shown(theirs)})")
    return differences


def _parents(value: Any) -> list[DataVersionRef]:
    return [DataVersionRef(ref["name"], ref["version"]) for ref in value or ()]


def _list(refs: Sequence[DataVersionRef]) -> str:
    return ", ".join(str(ref) for ref in refs)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def registration_conflict(
    ref: DataVersionRef, seq: int, *, differences: Sequence[str] = (), redacted_by: int | None = None
) -> ConflictError:
    """The error of a second registration of ``ref``, registered by event ``seq``."""
    where = f"data version {ref} is already registered (event {seq})"
    if redacted_by is not None:
        return ConflictError(
            f"{where} and that registration was redacted by event {redacted_by}: its content cannot be "
            "compared any more; register the data under a new version"
        )
    if not differences:
        return ConflictError(f"{where}; a data version is registered once")
    return ConflictError(
        f"{where} with {'; '.join(differences)}: a data version never changes, register new content under a new version"
    )


def input_conflict(
    run_id: str, ref: DataVersionRef, digest: str, seq: int, held: str, redacted_by: int | None
) -> ConflictError:
    """The error of an input of ``ref`` whose digest cannot be the registered one's."""
    where = f"run {run_id!r} input {ref}"
    if redacted_by is not None:
        return ConflictError(
            f"{where}: data version {ref} (event {seq}) was redacted by event {redacted_by}, so digest "
            f"{_shown(digest)} cannot be checked against it; register the data under a new version"
        )
    return ConflictError(
        f"{where}: digest {_shown(digest)} does not match data version {ref}, registered by event {seq} with "
        f"digest {_shown(held)}; log the version that was read, or register this data as a new version"
    )


def logged_input_conflict(ref: DataVersionRef, digest: str, run_id: str, seq: int, logged: str) -> ConflictError:
    """The error of a registration of ``ref`` whose digest is not the one an
    earlier input of ``ref`` (event ``seq``, of run ``run_id``) was logged with."""
    return ConflictError(
        f"data version {ref} cannot be registered with digest {_shown(digest)}: run {run_id!r} logged {ref} as "
        f"an input by event {seq} with digest {_shown(logged)}; register {ref} with the digest that run read, "
        "or register this data as a new version"
    )


def missing_parent(ref: DataVersionRef, parent: DataVersionRef) -> NotFoundError:
    return NotFoundError(f"data version {ref} derives from {parent}, which is not registered: register {parent} first")
