"""``ledger.collector.no_collections``: the collector is paused inside the block
and left as it was after it, also when the block raises or nests."""

from __future__ import annotations

import gc

import pytest

from ledger.collector import no_collections


def test_the_collector_is_paused_inside_and_resumed_after() -> None:
    assert gc.isenabled()
    with no_collections():
        assert not gc.isenabled()
        with no_collections():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner block leaves it paused for the outer one
    assert gc.isenabled()


def test_it_resumes_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError, match="boom"), no_collections():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_collector_paused_before_stays_paused() -> None:
    gc.disable()
    try:
        with no_collections():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
