"""Run search on a real SQLite file and a real PostgreSQL database: the same
filter and order cases as the unit tests, so both backends agree on LIKE
case, NaN metrics, missing keys sorting last and float bounds on BIGINT times.

Each backend gets one fresh database and runs every case in it (a database
per case would make the PostgreSQL run slow); a failure lists every case that
disagreed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine

from tests.unit.test_search import FILTER_CASES, ORDER_CASES, check_injections_are_data, search, seed


@pytest.fixture
def engine(uri: str) -> Iterator[Engine]:
    engine = create_engine(uri)
    seed(engine)
    yield engine
    engine.dispose()


def test_filters(engine: Engine) -> None:
    wrong = [
        (text, experiment_ids, expected, found)
        for text, experiment_ids, expected in FILTER_CASES
        if sorted(found := search(engine, text, experiment_ids=experiment_ids)) != sorted(expected)
    ]
    assert wrong == []


def test_order(engine: Engine) -> None:
    wrong = [
        (order_by, text, expected, found)
        for order_by, text, experiment_ids, max_results, expected in ORDER_CASES
        if (found := search(engine, text, order_by, experiment_ids, max_results)) != expected
    ]
    assert wrong == []


def test_injection_attempts_are_data(engine: Engine) -> None:
    check_injections_are_data(engine)
