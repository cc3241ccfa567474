"""The append-only, hash-chained audit log: table, append, verify, export.

Every alert, every human action and every purge is one record: ``seq`` (1, 2, 3 ... without
gaps), ``at``, ``actor``, ``action``, ``object_ids`` (the ids it concerns), ``details`` (small
scalars: counts, codes, thresholds), ``prev_hash`` and ``hash = sha256(canonical encoding of
all the other fields)``. The canonical encoding is msgspec JSON with sorted keys, so the same
record hashes the same on SQLite and PostgreSQL and in an exported file.

Why each check detects what it does:

- an edited record no longer hashes to its stored ``hash`` (or its successor's ``prev_hash``
  no longer matches, if the attacker also rewrote ``hash``: the successor still hashes
  correctly, so the edited record is the one before it);
- a removed record leaves a gap in ``seq`` and breaks its successor's ``prev_hash``;
- an inserted record has a seq of 0 or less, or past the head, or made room by renumbering
  the records after it (which then hash correctly only under their old seq);
- removing the newest records (truncation) is caught by the one-row ``audit_head``, updated in
  the same transaction as every append.

A chain without a secret can be recomputed by someone who may write the whole database; the
defence there is to record the head hash ``vigil audit verify`` prints somewhere else (the
operations log, a ticket). Records hold ids and short scalars only: :func:`clean_details`
refuses bytes, arrays and long texts, so an image or a template can never reach it.

Records are never deleted: nothing in Vigil prunes this table, which keeps the log for at
least the six months the AI Act's Art. 26(6) asks for, whatever the alert retention.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from sqlalchemy import Float, Integer, String, Table, Text, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from server.store.models import Base

GENESIS = "0" * 64
"""``prev_hash`` of the first record."""

Scalar = str | int | float | bool | None

_MAX_TEXT = 500
"""Longest text detail: room for a reason or a reference, none for an encoded image or a
template (a 128-float template is about 2,500 characters as text)."""


class AuditRecord(Base):
    """One audit record (see the module docstring)."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(48), index=True)
    object_ids: Mapped[str] = mapped_column(Text)
    """Canonical JSON object of the ids the record concerns."""
    details: Mapped[str] = mapped_column(Text)
    """Canonical JSON object of small scalars (counts, codes, thresholds, hashes)."""
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The newest record's seq and hash (one row, id 1): detects a truncated log."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    """An audit record as served over REST and exported as JSON lines."""

    seq: int
    at: float
    actor: str
    action: str
    object_ids: dict[str, Scalar]
    details: dict[str, Scalar]
    prev_hash: str
    hash: str


class VerifyReport(msgspec.Struct, frozen=True, kw_only=True):
    """Result of :func:`verify`."""

    ok: bool
    records: int
    """Records read."""
    head_seq: int
    head_hash: str
    """Record this hash elsewhere: a later verify must reach it again."""
    bad_seq: int | None = None
    """The record tampered with: the edited or inserted one, the first removed one (for a
    truncated log: the first missing one, after the last that remains)."""
    problem: str = ""
    """``edited``, ``inserted``, ``removed``, ``truncated`` or ``unreadable``."""
    message: str = ""


_canonical = msgspec.json.Encoder(order="sorted")
_decoder = msgspec.json.Decoder(dict[str, Scalar])


def canonical(value: Any) -> bytes:
    """The canonical JSON encoding (sorted keys, no whitespace)."""
    return _canonical.encode(value)


def record_hash(
    *, seq: int, at: float, actor: str, action: str, object_ids: dict[str, Scalar],
    details: dict[str, Scalar], prev_hash: str,
) -> str:
    """sha256 (hex) of the canonical encoding of a record's fields other than its hash."""
    body = {"seq": seq, "at": at, "actor": actor, "action": action,
            "object_ids": object_ids, "details": details, "prev_hash": prev_hash}
    return hashlib.sha256(canonical(body)).hexdigest()


def clean_details(values: dict[str, Any]) -> tuple[dict[str, Scalar], dict[str, Scalar]]:
    """Split keyword values into ids (``*_id`` keys) and details; drop ``None``.

    Raises:
        TypeError: a value is not a small scalar (bytes, arrays, objects).
        ValueError: a text is longer than ``_MAX_TEXT``.
    """
    ids: dict[str, Scalar] = {}
    details: dict[str, Scalar] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool | int | float | str):
            if isinstance(value, str) and len(value) > _MAX_TEXT:
                raise ValueError(f"audit detail {key} is longer than {_MAX_TEXT} characters")
            (ids if key.endswith("_id") else details)[key] = value
        else:
            raise TypeError(f"audit detail {key} must be a scalar, not {type(value).__name__}")
    return ids, details


async def append(
    session: AsyncSession, *, actor: str, action: str, at: float, **values: Any
) -> AuditEntry:
    """Append one record in the caller's transaction (it commits with the change it records).

    The head row is read ``FOR UPDATE`` so concurrent writers (several server processes on
    PostgreSQL) chain one after the other; ``seq`` being the primary key makes a fork fail.
    """
    ids, details = clean_details(values)
    # The change being recorded reaches the store first, as before (a no-op when nothing is
    # pending). Then Core statements on the two tables, no ORM object: this runs inside
    # every alert's transaction, while the store's one writer is held.
    await session.flush()
    heads, records = _table(AuditHead), _table(AuditRecord)
    head = (await session.execute(
        select(heads.c.seq, heads.c.hash).where(heads.c.id == 1).with_for_update()
    )).first()
    prev_seq, prev = (0, GENESIS) if head is None else (int(head[0]), str(head[1]))
    seq = prev_seq + 1
    digest = record_hash(seq=seq, at=at, actor=actor, action=action, object_ids=ids,
                         details=details, prev_hash=prev)
    await session.execute(insert(records), [{
        "seq": seq, "at": at, "actor": actor, "action": action,
        "object_ids": canonical(ids).decode(), "details": canonical(details).decode(),
        "prev_hash": prev, "hash": digest}])
    if head is None:
        await session.execute(insert(heads), [{"id": 1, "seq": seq, "hash": digest}])
    else:
        await session.execute(update(heads).where(heads.c.id == 1).values(seq=seq, hash=digest))
    return AuditEntry(seq=seq, at=at, actor=actor, action=action, object_ids=ids,
                      details=details, prev_hash=prev, hash=digest)


def _table(model: type[AuditHead] | type[AuditRecord]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


class ChainAudit:
    """The server's audit hook (:class:`server.runtime.AuditHook`): the hash-chained log."""

    async def record(
        self, session: AsyncSession, *, actor: str, action: str, at: float, **ids: Any
    ) -> None:
        await append(session, actor=actor, action=action, at=at, **ids)


def to_entry(row: AuditRecord) -> AuditEntry:
    """A stored record as an :class:`AuditEntry`.

    Raises:
        msgspec.DecodeError: the stored JSON was damaged.
    """
    return AuditEntry(seq=row.seq, at=row.at, actor=row.actor, action=row.action,
                      object_ids=_decoder.decode(row.object_ids),
                      details=_decoder.decode(row.details), prev_hash=row.prev_hash,
                      hash=row.hash)


async def iter_records(
    session: AsyncSession, *, after_seq: int = 0, batch: int = 1000
) -> AsyncIterator[AuditRecord]:
    """Every record with ``seq > after_seq`` in order, read in batches."""
    last = after_seq
    while True:
        rows = (await session.execute(
            select(AuditRecord).where(AuditRecord.seq > last).order_by(AuditRecord.seq)
            .limit(batch))).scalars().all()
        if not rows:
            return
        for row in rows:
            yield row
        last = rows[-1].seq


def _self_consistent(row: AuditRecord, entry: AuditEntry, *, seq: int) -> bool:
    """Whether the record's stored hash is the hash of its fields, taking ``seq`` as its seq."""
    return record_hash(seq=seq, at=entry.at, actor=entry.actor, action=entry.action,
                       object_ids=entry.object_ids, details=entry.details,
                       prev_hash=entry.prev_hash) == row.hash


def _check(row: AuditRecord, expected_seq: int, prev_hash: str,
           head_seq: int) -> tuple[int, str, str] | None:
    """``(bad_seq, problem, message)`` for a record that breaks the chain, else None.

    The record named is the one tampered with, not merely the first one that notices:
    a gap before the head is a removal (named by the first missing seq), a seq past the head
    an insertion; a record whose hash matches its content but whose ``prev_hash`` does not
    match its predecessor means the predecessor was edited and re-hashed; a record that
    hashes correctly only under the seq before its own was shifted up to make room for an
    insertion there, and one that hashes correctly only under the seq after its own was
    shifted down to close the gap a removal left.
    """
    if row.seq > head_seq:
        return (row.seq, "inserted",
                f"record {row.seq} was added outside the audit writer (the log's head "
                f"is {head_seq})")
    if row.seq > expected_seq:
        return (expected_seq, "removed",
                f"records {expected_seq} to {row.seq - 1} are missing"
                if row.seq - 1 > expected_seq else f"record {expected_seq} is missing")
    try:
        entry = to_entry(row)
    except msgspec.DecodeError:
        return (row.seq, "unreadable",
                f"record {row.seq}: stored ids or details are not valid JSON")
    if not _self_consistent(row, entry, seq=row.seq):
        if row.seq > 1 and _self_consistent(row, entry, seq=row.seq - 1):
            return (row.seq - 1, "inserted",
                    f"record {row.seq - 1} was inserted (the records after it were "
                    "renumbered)")
        if _self_consistent(row, entry, seq=row.seq + 1):
            return (row.seq, "removed",
                    f"record {row.seq} was removed (the records after it were renumbered "
                    "to close the gap)")
        return (row.seq, "edited", f"record {row.seq} was changed after it was written")
    if row.prev_hash != prev_hash:
        if row.seq == 1:
            return (1, "edited", "record 1 does not start from the genesis hash")
        return (row.seq - 1, "edited",
                f"record {row.seq - 1} was changed and re-hashed after it was written "
                f"(record {row.seq} no longer follows it)")
    return None


async def verify(session: AsyncSession) -> VerifyReport:
    """Walk the whole chain; report the record that breaks it and why.

    Problems: ``edited`` (changed, with or without a recomputed hash), ``inserted`` (any
    seq: before 1, between records, past the head), ``removed`` (a gap), ``truncated`` (the
    newest records are gone: the head row says more were written) and ``unreadable``.
    """
    head = await session.get(AuditHead, 1)
    head_seq, head_hash = (head.seq, head.hash) if head is not None else (0, GENESIS)

    def broken(count: int, bad_seq: int, problem: str, message: str) -> VerifyReport:
        return VerifyReport(ok=False, records=count, head_seq=head_seq, head_hash=head_hash,
                            bad_seq=bad_seq, problem=problem, message=message)

    # The writer numbers records from 1: anything at or below 0 was put there by hand.
    early = (await session.execute(select(AuditRecord.seq).where(AuditRecord.seq < 1)
                                   .order_by(AuditRecord.seq).limit(1))).scalar_one_or_none()
    if early is not None:
        return broken(0, early, "inserted",
                      f"record {early} was added outside the audit writer (seqs start at 1)")
    expected, prev, count = 1, GENESIS, 0
    async for row in iter_records(session):
        count += 1
        problem = _check(row, expected, prev, head_seq)
        if problem is not None:
            return broken(count, *problem)
        expected, prev = row.seq + 1, row.hash
    last = expected - 1
    if last < head_seq:
        return broken(count, last + 1, "truncated",
                      f"the log ends at record {last} but its head says {head_seq}: the "
                      "newest records were removed")
    if prev != head_hash:
        return broken(count, last, "edited",
                      f"record {last}, the newest, was changed and re-hashed after it was "
                      "written (the head holds its original hash)")
    return VerifyReport(ok=True, records=count, head_seq=head_seq, head_hash=head_hash)


_line_encoder = msgspec.json.Encoder(order="sorted")


async def export_lines(session: AsyncSession, *, after_seq: int = 0) -> AsyncIterator[bytes]:
    """The log as JSON lines (one record per line, newline-terminated), in seq order.

    A damaged record is exported as stored (its JSON fields as strings) so the export never
    hides what ``verify`` reports.
    """
    async for row in iter_records(session, after_seq=after_seq):
        try:
            yield _line_encoder.encode(to_entry(row)) + b"\n"
        except msgspec.DecodeError:
            raw = {"seq": row.seq, "at": row.at, "actor": row.actor, "action": row.action,
                   "object_ids": row.object_ids, "details": row.details,
                   "prev_hash": row.prev_hash, "hash": row.hash, "damaged": True}
            yield _line_encoder.encode(raw) + b"\n"
