"""The ledger's signing key and its checkpoints (DESIGN §5): the service side.

Owns: where the signing key lives and how it is created (a signer-key file,
``PRIVATE+KEY+<name>+<id>+<key>``, mode 0600: ``--key-file``, else
``MLLEDGER_KEY_FILE``, else ``keys/ledger.key`` beside a SQLite ledger, else
``./mlledger/keys/ledger.key``), signing and storing checkpoints, the
automatic checkpoint every N events with its copy to a directory an operator
mounts write-once, and checking a ledger against checkpoints kept outside it.
Note formats are ``ledger.checkpoint``'s; tree hashes and proofs are
``ledger.merkle``'s and the store's.

The ledger records its verifier key in ``ledger_meta`` when the key is made,
so a key that is not the ledger's is refused before it signs anything. An
auditor never takes the verifier key from the ledger itself: ``mlledger key
public`` prints it once, for safe keeping elsewhere.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.checkpoint import Checkpoint, open_note, origin_for, parse_signer_key, parse_verifier_key, sign
from ledger.checkpoint import signer_key as signer_key_text
from ledger.checkpoint import verifier_key as verifier_key_text
from ledger.encoding import format_time, hash_bytes
from ledger.errors import (
    ConflictError,
    IntegrityError,
    LedgerError,
    NotFoundError,
    ProofError,
    SignatureError,
    ValidationError,
)
from ledger.files import ledger_home, write_new
from ledger.keys import generate_private_key
from ledger.merkle import CompactRange, verify_consistency, verify_inclusion, verify_multiproof
from ledger.proofs import proof_document

if TYPE_CHECKING:
    from ledger.events import Sealed
    from ledger.store import EventStore

__all__ = [
    "KEY_FILE_ENV",
    "CheckpointCommands",
    "CheckpointFinding",
    "SigningKey",
    "StoredCheckpoint",
    "default_key_path",
    "note_file_name",
    "read_notes",
]

KEY_FILE_ENV: Final = "MLLEDGER_KEY_FILE"
_VERIFIER_META: Final = "verifier_key"
_EVERY_META: Final = "checkpoint_every"
_DIR_META: Final = "checkpoint_dir"
_SCHEDULE_TTL: Final = 5.0  # seconds a writer trusts the schedule it read
_log = logging.getLogger("mlledger")

FindingKind = Literal[
    "consistent", "unreadable", "signature", "origin", "fork", "truncated", "inconsistent", "tree_damaged"
]


def default_key_path(uri: str) -> Path:
    """``MLLEDGER_KEY_FILE``, else ``keys/ledger.key`` beside a SQLite file, else ``./mlledger/keys/ledger.key``."""
    configured = os.environ.get(KEY_FILE_ENV)
    return Path(configured) if configured else ledger_home(uri) / "keys" / "ledger.key"


def _key_label(verifier: str) -> str:
    """``<name>+<key id>`` of a verifier key: enough to tell keys apart."""
    return "+".join(verifier.split("+")[:2])


def note_file_name(size: int) -> str:
    """The file name of the checkpoint of ``size`` events in a checkpoint directory (sorts by size)."""
    return f"checkpoint-{size:012d}.note"


@dataclass(frozen=True)
class SigningKey:
    """The ledger's Ed25519 signing key and the name it signs under."""

    name: str
    private_key: Ed25519PrivateKey
    path: Path

    @property
    def verifier_key(self) -> str:
        return verifier_key_text(self.name, self.private_key.public_key())


@dataclass(frozen=True)
class StoredCheckpoint:
    """A signed checkpoint as the ledger stores it; or, from
    ``covering_checkpoint(sign=False)``, the unsigned head of the tree (no
    time, no note: ``signed`` is false)."""

    size: int
    root: bytes
    time: str
    note: str
    signed: bool = True  # False only for the unsigned head: a stored row is signed

    def to_json(self) -> dict[str, Any]:
        return {"tree_size": self.size, "root": self.root.hex(), "time": self.time, "note": self.note}


@dataclass(frozen=True)
class CheckpointFinding:
    """What one checkpoint says about the ledger: consistent, or why not and
    where the first differing ``seq`` lies (``first_seq`` ≤ it < ``first_seq_end``)."""

    source: str
    kind: FindingKind
    detail: str
    size: int | None = None
    first_seq: int | None = None
    first_seq_end: int | None = None

    @property
    def ok(self) -> bool:
        return self.kind == "consistent"

    def __str__(self) -> str:
        size = "" if self.size is None else f" (size {self.size})"
        return f"checkpoint {self.source}{size}: {self.kind}: {self.detail}"

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "ok": self.ok,
            "kind": self.kind,
            "size": self.size,
            "detail": self.detail,
            "first_seq": self.first_seq,
            "first_seq_end": self.first_seq_end,
        }


def read_notes(path: str | Path) -> list[tuple[str, str]]:
    """(name, text) of the checkpoint note in ``path``, or of every ``*.note``
    file in the directory ``path`` (sorted by name; hidden files skipped)."""
    where = Path(path)
    try:
        if where.is_dir():
            files = sorted(p for p in where.glob("*.note") if p.is_file() and not p.name.startswith("."))
        else:
            files = [where]
        # Undecodable bytes become U+FFFD: such a file fails as an unreadable note, not the whole check.
        return [(str(file), file.read_bytes().decode("utf-8", errors="replace")) for file in files]
    except OSError as e:
        raise ValidationError(f"cannot read checkpoints from {path}: {e}") from e


def create_key_file(path: Path, name: str) -> SigningKey:
    """A new signing key written to ``path`` with mode 0600; an existing file is never overwritten."""
    private_key = generate_private_key()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise ValidationError(f"cannot create the signing key at {path}: {e.strerror}") from e
    if not write_new(path, (signer_key_text(name, private_key) + "\n").encode("ascii"), mode=0o600):
        raise ConflictError(f"a signing key already exists at {path}; it is never overwritten")
    return SigningKey(name, private_key, path)


def load_key_file(path: Path) -> SigningKey:
    """The signing key in ``path``; refused when others may read the file."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError as e:
        raise NotFoundError(
            f"no signing key at {path}: `mlledger init` creates one; or give its path with --key-file or {KEY_FILE_ENV}"
        ) from e
    except (OSError, UnicodeDecodeError) as e:
        raise ValidationError(f"cannot read the signing key at {path}: {e}") from e
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValidationError(
            f"the signing key {path} is readable by others (mode {stat.S_IMODE(mode):04o}): run `chmod 600 {path}`"
        )
    name, private_key = parse_signer_key(text)
    return SigningKey(name, private_key, path)


class CheckpointCommands:
    """The checkpoint half of ``ledger.Ledger``."""

    store: EventStore
    uri: str
    _clock: Callable[[], str]
    _schedule: tuple[int, str | None] | None = None
    _schedule_read: float = 0.0
    _schedule_warned: bool = False

    if TYPE_CHECKING:

        @property
        def ledger_id(self) -> str: ...

        def size(self) -> int: ...

    # -- the key ---------------------------------------------------------------

    def key_path(self, path: str | Path | None = None) -> Path:
        """``path``, else the default signing-key location of this ledger."""
        return Path(path) if path else default_key_path(self.uri)

    def setup_signing_key(self, path: str | Path | None = None) -> tuple[SigningKey, str]:
        """The ledger's signing key and how it was found: "created" (mode
        0600) or "adopted" (an existing file) when the ledger had none yet,
        else "existing" (checked to be the ledger's)."""
        where = self.key_path(path)
        recorded = self.store.meta(_VERIFIER_META)
        if recorded is not None:
            if not where.exists():
                raise NotFoundError(
                    f"this ledger's signing key ({_key_label(recorded)}) is not at {where}: give its path with "
                    f"--key-file or {KEY_FILE_ENV}"
                )
            return self.signing_key(where), "existing"
        origin = origin_for(self.ledger_id)
        if not where.exists():
            key, status = create_key_file(where, origin), "created"
        else:
            key, status = load_key_file(where), "adopted"
        self.store.set_meta({_VERIFIER_META: key.verifier_key})
        return key, status

    def signing_key(self, path: str | Path | None = None) -> SigningKey:
        """The signing key at ``path`` (or the default), checked to be this ledger's."""
        key = load_key_file(self.key_path(path))
        expected = self.verifier_key()
        if key.verifier_key != expected:
            raise ValidationError(
                f"the signing key {key.path} ({_key_label(key.verifier_key)}) is not this ledger's "
                f"({_key_label(expected)})"
            )
        return key

    def verifier_key(self) -> str:
        """The verifier key recorded when the ledger's signing key was made."""
        recorded = self.store.meta(_VERIFIER_META)
        if recorded is None:
            raise NotFoundError("this ledger has no signing key yet: run `mlledger init` to create one")
        return recorded

    # -- checkpoints -------------------------------------------------------------

    def create_checkpoint(self, *, key: SigningKey | None = None) -> StoredCheckpoint:
        """Sign the tree of every event so far, store the checkpoint (one per
        size: signing is deterministic) and copy it to the checkpoint
        directory when one is set."""
        key = key or self.signing_key()
        size = self.size()
        root = self.store.merkle_root(size)
        self._refuse_to_sign_a_rewrite(size, root)
        note = sign(Checkpoint(origin_for(self.ledger_id), size, root), key.name, key.private_key)
        stored_root, time, stored_note = self.store.add_checkpoint(
            size, root.hex(), format_time(datetime.now(UTC)), note
        )
        if stored_root != root.hex():
            raise IntegrityError(
                f"checkpoint of size {size}: the stored checkpoint has root {stored_root[:12]}…, the tree now has "
                f"{root.hex()[:12]}…: the events before seq {size} changed since it was signed"
            )
        checkpoint = StoredCheckpoint(size, root, time, stored_note)
        directory = self.checkpoint_schedule()[1]
        if directory:
            self._publish(checkpoint, Path(directory))
        return checkpoint

    def _refuse_to_sign_a_rewrite(self, size: int, root: bytes) -> None:
        """The tree about to be signed must extend the last checkpoint this
        ledger signed: the key never vouches for a history that contradicts
        its own earlier word (a rewrite, or a fork copied in)."""
        last = self._last_checkpoint(below=size)
        if last is None:
            return
        try:
            verify_consistency(last.size, size, last.root, root, self.store.consistency_proof(last.size, size))
        except (ProofError, IntegrityError) as e:
            raise IntegrityError(
                f"refusing to sign the tree of {size} events: it does not extend the checkpoint of {last.size} "
                f"events signed on {last.time} ({e}); run `mlledger verify --checkpoint` with the notes kept elsewhere"
            ) from e

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every checkpoint stored in the ledger, smallest first."""
        return [StoredCheckpoint(s, bytes.fromhex(r), t, n) for s, r, t, n in self.store.checkpoints()]

    def _last_checkpoint(self, below: int | None = None) -> StoredCheckpoint | None:
        row = self.store.last_checkpoint(below)
        return None if row is None else StoredCheckpoint(row[0], bytes.fromhex(row[1]), row[2], row[3])

    def covering_checkpoint(self, seq: int, *, key: SigningKey | None = None, sign: bool = True) -> StoredCheckpoint:
        """The latest stored checkpoint that includes event ``seq``; when none
        does, one is made now (with ``key``, else the default signing key), or
        without ``sign`` the tree of every event so far is given unsigned:
        that never writes and needs no signing key (``mlledger models show``)."""
        latest = self._last_checkpoint()
        if latest is not None and latest.size > seq:
            return latest
        size = self.size()
        if seq >= size:
            raise NotFoundError(f"event {seq} does not exist (the ledger has {size} events)")
        if not sign:
            return StoredCheckpoint(size, self.store.merkle_root(size), "", "", signed=False)
        try:
            return self.create_checkpoint(key=key)
        except NotFoundError as e:
            raise NotFoundError(f"no checkpoint includes event {seq}, and none can be made now: {e}") from e

    def prove(self, seq: int, *, checkpoint: StoredCheckpoint | None = None) -> dict[str, Any]:
        """The proof document (``ledger.proofs``) that event ``seq`` is in the
        tree a signed checkpoint commits to (default: ``covering_checkpoint``)."""
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise ValidationError(f"seq must be a whole number >= 0, got {seq!r}")
        signed = checkpoint or self.covering_checkpoint(seq)
        if seq >= signed.size:
            raise ValidationError(f"event {seq} is not in the checkpoint of {signed.size} events")
        row = self.store.row(seq)
        path = self.checked_inclusion_proof(row, signed)
        return proof_document(row, signed.size, signed.root, path, signed.note)

    def checked_inclusion_proof(self, row: Sequence[Any], signed: StoredCheckpoint) -> list[bytes]:
        """The inclusion proof of the stored event ``row`` in ``signed``'s tree,
        checked before it is handed out: a damaged stored tree gives no proof."""
        seq = row[0]
        path = self.store.inclusion_proof(seq, signed.size)
        try:
            verify_inclusion(seq, signed.size, hash_bytes(row[9]), path, signed.root)
        except ProofError as e:
            raise IntegrityError(
                f"event {seq}: the stored Merkle tree gives no valid proof against the checkpoint of "
                f"{signed.size} events ({e}): run `mlledger verify`"
            ) from e
        return path

    def checked_multiproof(self, rows: Sequence[Sequence[Any]], signed: StoredCheckpoint) -> list[bytes]:
        """The multiproof (``ledger.merkle``) of the stored events ``rows`` (in
        seq order) in ``signed``'s tree, checked before it is handed out."""
        seqs = [row[0] for row in rows]
        if not seqs:
            raise ValidationError("a multiproof needs at least one event")
        proof = self.store.multiproof(seqs, signed.size)
        try:
            verify_multiproof(signed.size, seqs, [hash_bytes(row[9]) for row in rows], proof, signed.root)
        except ProofError as e:
            raise IntegrityError(
                f"events {seqs[0]}..{seqs[-1]}: the stored Merkle tree gives no valid multiproof against the "
                f"checkpoint of {signed.size} events ({e}): run `mlledger verify`"
            ) from e
        return proof

    def checkpoint_schedule(self) -> tuple[int, str | None]:
        """(every N events, directory) of automatic checkpoints; N = 0: off.
        Read again after ``_SCHEDULE_TTL`` seconds, so running writers follow
        a schedule another process sets."""
        now = time.monotonic()
        if self._schedule is None or now - self._schedule_read > _SCHEDULE_TTL:
            every = self.store.meta(_EVERY_META)
            self._schedule = (int(every) if every else 0, self.store.meta(_DIR_META))
            self._schedule_read = now
        return self._schedule

    def set_checkpoint_schedule(self, every: int, directory: str | Path | None = None) -> None:
        """Checkpoint automatically whenever an append crosses a multiple of
        ``every`` events (0: never), copying each note to ``directory``."""
        if isinstance(every, bool) or not isinstance(every, int) or every < 0:
            raise ValidationError(f"checkpoint every: expected a whole number of events >= 0, got {every!r}")
        folder = None if directory is None else str(Path(directory).resolve())
        if folder is not None and not Path(folder).is_dir():
            raise ValidationError(f"checkpoint directory {folder} does not exist (create or mount it first)")
        self.store.set_meta({_EVERY_META: str(every) if every else None, _DIR_META: folder})
        self._schedule = None

    def _append_sealed(self, batch: Any) -> list[Sealed]:
        """``store.append`` followed by the automatic checkpoint it may be due."""
        sealed = self.store.append(batch, self._clock)
        every = self.checkpoint_schedule()[0]
        if every and sealed and sealed[0].seq // every != (sealed[-1].seq + 1) // every:
            self._auto_checkpoint()
        return sealed

    def _auto_checkpoint(self) -> None:
        # The events are committed: a checkpoint that cannot be made is a
        # warning for the operator, never a failed append for the caller.
        try:
            self.create_checkpoint()
        except LedgerError as e:
            if not self._schedule_warned:
                _log.warning("mlledger: automatic checkpoint skipped: %s", e)
                self._schedule_warned = True

    def _publish(self, checkpoint: StoredCheckpoint, directory: Path) -> None:
        """Write the note once to ``directory``: an existing file is never
        replaced, and one that says something else is a fork."""
        path = directory / note_file_name(checkpoint.size)
        if write_new(path, checkpoint.note.encode("utf-8")):
            return
        try:
            existing = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ValidationError(f"cannot read {path}: {e}") from e
        if existing != checkpoint.note:
            raise IntegrityError(f"{path} holds another checkpoint of size {checkpoint.size}: the ledger forked")

    # -- checking against checkpoints kept elsewhere ----------------------------------

    def check_checkpoints(
        self, notes: Sequence[tuple[str, str]], verifier: str, *, size: int, root: bytes | None
    ) -> list[CheckpointFinding]:
        """What each signed note in ``notes`` (source, text) says about the
        first ``size`` events, whose Merkle root, recomputed from the events
        by ``verify``, is ``root`` (None when the chain itself is broken).

        A note must verify with ``verifier`` (taken from the auditor, not the
        ledger) and name this ledger; then the tree of its size must be a
        prefix of today's: an RFC 9162 consistency proof from its root to
        ``root``. A proof that fails is confirmed by recomputing the root of
        that size from the events, so damage to the stored tree alone is
        never taken for a rewrite of history.
        """
        key = parse_verifier_key(verifier)
        origin = origin_for(self.ledger_id)
        findings: list[CheckpointFinding] = []
        opened: list[tuple[str, Checkpoint]] = []
        for source, text in notes:
            try:
                checkpoint = open_note(text, key)
            except SignatureError as e:
                findings.append(CheckpointFinding(source, "signature", f"{e} (signed by another key, or altered)"))
                continue
            except ValidationError as e:
                findings.append(CheckpointFinding(source, "unreadable", str(e)))
                continue
            if checkpoint.origin != origin:
                detail = f"the note is for {checkpoint.origin}, this ledger is {origin}"
                findings.append(CheckpointFinding(source, "origin", detail, checkpoint.size))
                continue
            opened.append((source, checkpoint))
        opened.sort(key=lambda item: item[1].size)
        findings += self._forks(opened)
        # Proofs first; the roots of the notes whose proof failed then come
        # from one pass over the events, however many notes failed.
        failed = [
            cp.size for _, cp in opened if cp.size <= size and root is not None and not self._extends(cp, size, root)
        ]
        recomputed = self._roots_from_events(failed)
        verdicts = [self._check_one(source, cp, size, root, recomputed) for source, cp in opened]
        matching = [v.size for v in verdicts if v.size is not None and (v.ok or v.kind == "tree_damaged")]
        for verdict in verdicts:
            if verdict.kind in ("inconsistent", "truncated") and verdict.size is not None:
                findings.append(_bracketed(verdict, max((m for m in matching if m < verdict.size), default=0), size))
            else:
                findings.append(verdict)
        return findings

    def _forks(self, opened: Sequence[tuple[str, Checkpoint]]) -> list[CheckpointFinding]:
        """Two genuine notes of one size with different roots: the ledger forked."""
        findings = []
        first: dict[int, tuple[str, Checkpoint]] = {}
        for source, checkpoint in opened:
            seen = first.setdefault(checkpoint.size, (source, checkpoint))
            if seen[1].root != checkpoint.root:
                detail = f"{seen[0]} and {source} sign different roots for the same {checkpoint.size} events"
                findings.append(CheckpointFinding(source, "fork", detail, checkpoint.size))
        return findings

    def _extends(self, checkpoint: Checkpoint, size: int, root: bytes) -> bool:
        """Whether the stored tree proves today's ``root`` extends ``checkpoint``."""
        try:
            proof = self.store.consistency_proof(checkpoint.size, size)
            verify_consistency(checkpoint.size, size, checkpoint.root, root, proof)
        except (ProofError, IntegrityError):
            return False
        return True

    def _check_one(
        self, source: str, checkpoint: Checkpoint, size: int, root: bytes | None, recomputed: dict[int, bytes]
    ) -> CheckpointFinding:
        if checkpoint.size > size:
            detail = (
                f"the checkpoint covers {checkpoint.size} events, the ledger has {size}: "
                f"events {size}..{checkpoint.size - 1} were cut off (truncated)"
            )
            return CheckpointFinding(source, "truncated", detail, checkpoint.size)
        if root is None:
            detail = "the chain is broken (see the faults above), so no tree root can be trusted"
            return CheckpointFinding(source, "inconsistent", detail, checkpoint.size)
        if checkpoint.size not in recomputed:
            since = f"the ledger extends it ({size - checkpoint.size} events since)"
            return CheckpointFinding(source, "consistent", since, checkpoint.size)
        if recomputed[checkpoint.size] == checkpoint.root:
            detail = (
                "the events match it, but the stored Merkle tree gave a failing consistency proof: merkle_nodes is "
                "damaged (proofs that read the damaged nodes fail; history itself is intact)"
            )
            return CheckpointFinding(source, "tree_damaged", detail, checkpoint.size)
        detail = f"the first {checkpoint.size} events are not those it signed: history was rewritten or forked"
        return CheckpointFinding(source, "inconsistent", detail, checkpoint.size)

    def _roots_from_events(self, sizes: Sequence[int]) -> dict[int, bytes]:
        """The roots of the first ``size`` events for each of ``sizes``, from
        the stored event hashes alone, in one pass."""
        wanted = sorted(set(sizes))
        roots: dict[int, bytes] = {}
        if not wanted:
            return roots
        tree = CompactRange()
        if wanted[0] == 0:
            roots[0] = tree.root()
        for row in self.store.scan(0, wanted[-1]):
            tree.append(hash_bytes(row[9]))
            if tree.end in wanted:
                roots[tree.end] = tree.root()
        return roots


def _bracketed(finding: CheckpointFinding, good: int, size: int) -> CheckpointFinding:
    """``finding`` with the range its first differing seq lies in: from the
    largest smaller checkpoint that still matches (``good``) to its own size
    (a truncation: to the first missing seq)."""
    assert finding.size is not None
    end = min(finding.size, size + 1)
    where = (
        f"the first differing seq is {good}" if end - good == 1 else f"the first differing seq is in {good}..{end - 1}"
    )
    return CheckpointFinding(finding.source, finding.kind, f"{finding.detail}; {where}", finding.size, good, end)
