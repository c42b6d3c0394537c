"""The mlledger exception tree: one root, a few branches, messages that say
what went wrong, where, and what was expected.

    LedgerError
    ├── ValidationError        bad input: unknown event type, wrong field types,
    │   │                      non-finite numbers, integers out of range,
    │   │                      oversized payloads, non-UTF-8 text
    │   └── EncodingError      a value that has no RFC 8785 encoding
    ├── NotFoundError          a seq, event id or ledger that does not exist
    ├── ConflictError          an event id reused with different content
    ├── PolicyError            a governance rule refused the change
    ├── StorageError           the database could not be reached or used
    │   └── SchemaVersionError the database schema is newer than this code
    └── IntegrityError         the ledger failed a check (verification)
        ├── ProofError         a Merkle inclusion or consistency proof that
        │                      does not prove what it claims
        └── SignatureError     a checkpoint note with no valid signature by
                               the expected key

Third-party exceptions are translated at the layer that meets them, with
``raise ... from e``; the CLI maps this tree to exit codes and prints
``str(error)`` without a traceback.
"""

from __future__ import annotations

__all__ = [
    "ConflictError",
    "EncodingError",
    "IntegrityError",
    "LedgerError",
    "NotFoundError",
    "PolicyError",
    "ProofError",
    "SchemaVersionError",
    "SignatureError",
    "StorageError",
    "ValidationError",
]


class LedgerError(Exception):
    """Root of every error mlledger raises on purpose."""


class ValidationError(LedgerError):
    """Input was refused before anything was written."""


class EncodingError(ValidationError):
    """A value cannot be written as I-JSON / RFC 8785 canonical JSON."""


class NotFoundError(LedgerError):
    """The thing asked for does not exist in this ledger."""


class ConflictError(LedgerError):
    """The write contradicts what the ledger already holds."""


class PolicyError(LedgerError):
    """A governance rule refused the change."""


class StorageError(LedgerError):
    """The database could not be reached, created or used."""


class SchemaVersionError(StorageError):
    """The database was written by a newer mlledger than this one."""


class IntegrityError(LedgerError):
    """The stored ledger does not match what its hashes commit to."""


class ProofError(IntegrityError):
    """A Merkle inclusion or consistency proof does not verify (RFC 9162)."""


class SignatureError(IntegrityError):
    """A signed checkpoint note is not signed by the expected key (C2SP signed-note)."""
