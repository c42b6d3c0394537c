"""The hand-written insert column lists agree with the table declarations."""

from __future__ import annotations

from ledger.store.dialects import EVENT_COLUMNS, PAYLOAD_COLUMNS
from ledger.store.tables import Event, PayloadRow


def test_insert_columns_match_the_table_declaration() -> None:
    assert EVENT_COLUMNS == tuple(c.name for c in Event.__table__.columns)
    assert PAYLOAD_COLUMNS == tuple(c.name for c in PayloadRow.__table__.columns)
