"""mlledger: a tamper-evident, hash-chained audit and lineage ledger for ML.

import ledger
with ledger.open() as lg:             # MLLEDGER_URI, or sqlite:///mlledger/ledger.db
    lg.append("experiment.created", {"experiment_id": "e1", "name": "credit-scoring"})
    assert lg.verify().ok
"""

from ledger.api import DEFAULT_URI, Ledger, default_actor, default_uri, open  # noqa: A004 - ledger.open()
from ledger.errors import (
    ConflictError,
    EncodingError,
    IntegrityError,
    LedgerError,
    NotFoundError,
    PolicyError,
    SchemaVersionError,
    StorageError,
    ValidationError,
)
from ledger.events import PendingEvent, RecordedEvent
from ledger.verify import Fault, VerifyReport

__all__ = [
    "DEFAULT_URI",
    "ConflictError",
    "EncodingError",
    "Fault",
    "IntegrityError",
    "Ledger",
    "LedgerError",
    "NotFoundError",
    "PendingEvent",
    "PolicyError",
    "RecordedEvent",
    "SchemaVersionError",
    "StorageError",
    "ValidationError",
    "VerifyReport",
    "default_actor",
    "default_uri",
    "open",
]
__version__ = "0.1.0"
