"""Helpers the ``mlledger`` commands share: how a command-line argument
becomes what the services take.

Owns: reading a TIME_OR_SEQ argument (``--as-of``). What a seq or a time
means, and its errors, are the service's (``Ledger``'s ``as_of``).
"""

from __future__ import annotations

import re
from typing import Final, overload

__all__ = ["moment"]

_WHOLE_NUMBER: Final = re.compile(r"-?[0-9]+")


@overload
def moment(text: str) -> int | str: ...


@overload
def moment(text: None) -> None: ...


@overload
def moment(text: str | None) -> int | str | None: ...


def moment(text: str | None) -> int | str | None:
    """A seq when ``text`` is a whole number (a negative one too, for the
    service to refuse), else the text itself, a time for the service to
    parse; None stays None."""
    if text is None:
        return None
    return int(text) if _WHOLE_NUMBER.fullmatch(text) else text
