"""The base of every payload model: strict pydantic v2, no extra fields, a
schema version per event type, and one ``check`` that turns pydantic's errors
into ``ledger.errors.ValidationError`` with the field path in the message.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from ledger.errors import ValidationError

__all__ = [
    "Digest",
    "FiniteFloat",
    "Name",
    "Payload",
    "Stage",
    "Strict",
    "Tags",
    "Text",
]

# Text the read models store as SQL text: PostgreSQL text cannot hold NUL.
Text = Annotated[str, Field(pattern=r"^[^\x00]*$")]
Name = Annotated[str, Field(min_length=1, max_length=1024, pattern=r"^[^\x00]+$")]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Digest = Annotated[str, Field(pattern=r"^(sha256:)?[0-9a-f]{64}$")]
Tags = dict[Annotated[str, Field(min_length=1, max_length=250, pattern=r"^[^\x00]+$")], Text]
Stage = Literal["None", "Staging", "Production", "Archived"]


class Strict(BaseModel):
    """A strict, closed, immutable model (also used for nested objects)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Payload(Strict):
    """The payload of one event type."""

    TYPE: ClassVar[str]
    SCHEMA_VERSION: ClassVar[int] = 1

    @classmethod
    def check(cls, data: Any) -> dict[str, Any]:
        """Validate ``data`` and return its canonical dict (defaults filled in)."""
        if not isinstance(data, dict):
            raise ValidationError(f"payload must be a JSON object, got {type(data).__name__}")
        try:
            model = cls.__pydantic_validator__.validate_python(data)
        except pydantic.ValidationError as e:
            raise ValidationError(_describe(e)) from e
        # The validator and serializer directly: model_validate/model_dump add
        # a third to the cost of every append (benchmarks/append.py).
        result: dict[str, Any] = cls.__pydantic_serializer__.to_python(model)
        return result


def _describe(error: pydantic.ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False)[:5]:
        path = ".".join(str(p) for p in item["loc"]) or "payload"
        message = item["msg"]
        if "\\x00" in message:
            message = "text may not contain NUL (U+0000)"
        elif item["type"] == "string_unicode":
            message = "text is not valid UTF-8 (it holds a lone surrogate)"
        parts.append(f"{path}: {message} (got {_short(item.get('input'))})")
    more = error.error_count() - len(parts)
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
