"""Pausing Python's cyclic garbage collector during bulk work.

Owns ``no_collections``: a block that allocates hundreds of thousands of
small objects holding no reference cycles (a lineage graph being built, the
100,000 events of a report being read and folded) triggers collection after
collection, each rescanning every object still alive; at 100,000 cited
events that was a third of a report's time. The collector is paused for the
block and resumed after it, as it was.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["no_collections"]


@contextmanager
def no_collections() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (nested blocks are fine)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
