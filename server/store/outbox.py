"""Durable per-recipient delivery in the store: sequence numbers, outbox rows and acks.

A durable message is staged in the same transaction as the change it reports (an alert
raised, assigned, ...): if the transaction commits, the message will be delivered, across
disconnections and server restarts; if it does not, nobody hears of it. Rows leave the outbox
only when their recipient acknowledges them, so a replay after ``resume(last_seq)`` sends
exactly the messages above ``last_seq``, byte for byte as first sent. A message to several
recipients stores its encoding once (``OutboxBody``); each recipient's row holds its seq.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import msgspec
from sqlalchemy import Table, bindparam, delete, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.store.models import Alert, Cursor, OutboxBody, OutboxMessage
from shared.protocol.common import Durable


class Staged(msgspec.Struct, frozen=True):
    """A durable message written to the outbox, ready to push once committed."""

    account_id: str
    seq: int
    payload: bytes


_encoder = msgspec.json.Encoder()


def _table(model: type[Alert] | type[OutboxMessage] | type[OutboxBody] | type[Cursor]) -> Table:
    """The Core table of a model, for executemany statements (one round trip for N rows)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


async def stage(
    session: AsyncSession,
    recipients: Iterable[str],
    message: Durable,
    *,
    alert_id: str | None,
    now: float,
) -> list[Staged]:
    """Allocate the next seq of each recipient and write its copy of ``message`` to the outbox.

    Args:
        session: the open transaction of the change being reported.
        recipients: account ids.
        message: the message every recipient gets; its ``seq`` is set per recipient.
        alert_id: the alert the message is about (for officer acknowledgement times and
            purges).
        now: current time.

    Returns:
        What to push to connected recipients after the commit.
    """
    accounts = list(dict.fromkeys(recipients))
    if not accounts:
        return []
    # Per recipient only a seq and a row: the seqs come from one UPDATE ... RETURNING per
    # chunk, the message is encoded once and the rows go in one multi-row insert. (A fan-out
    # to 1,000 officers was ~17 s of store round trips with a statement per recipient, and
    # still 2.8x a bare broadcast with an ORM cursor object and an encode per recipient.)
    # A message to several recipients also stores its encoding once (``OutboxBody``): each
    # row holds only the recipient's seq, and a replay splices it back in.
    seqs = await _next_seqs(session, accounts)
    parts = splice_parts(message) if len(accounts) >= SHARED_BODY_MIN_RECIPIENTS else None
    body_id: int | None = None
    if parts is not None:
        head, tail = parts
        body_id = int((await session.execute(
            insert(_table(OutboxBody)).returning(_table(OutboxBody).c.id),
            [{"alert_id": alert_id, "head": head, "tail": tail, "created_at": now}],
        )).scalar_one())
    encode = encoder_for(message)
    staged: list[Staged] = []
    rows: list[dict[str, object]] = []
    for account_id in accounts:
        seq = seqs[account_id]
        payload = encode(seq)
        rows.append({"account_id": account_id, "seq": seq, "alert_id": alert_id,
                     "payload": None if body_id is not None else payload,
                     "body_id": body_id, "created_at": now})
        staged.append(Staged(account_id, seq, payload))
    await session.execute(insert(_table(OutboxMessage)), rows)
    return staged


SHARED_BODY_MIN_RECIPIENTS = 16
"""Recipients from which a message stores its encoding once (``OutboxBody``). A shared body
costs two statements (its insert, and its delete once the last recipient acknowledged); a
payload per row costs its bytes per recipient (an alert card is ~3 KB). For the usual alert to
a dispatcher or two and the officers nearby the bytes are the cheaper; for a fan-out to
hundreds of officers they were megabytes of SQLite log per alert."""

_SEQ_FIELD = b',"seq":'


def splice_parts(message: Durable) -> tuple[bytes, bytes] | None:
    """``(head, tail)`` such that ``head + b"%d" % seq + tail`` is the JSON of ``message``
    with that seq, from a single encode; None when the encoding does not allow it.

    A tagged message with ``seq`` as its first field encodes as ``{"type":"...","seq":N,...``
    (msgspec writes the tag, then the fields in order): the bytes around the seq are encoded
    once and each recipient's seq is spliced in.
    """
    blob = _encoder.encode(msgspec.structs.replace(message, seq=0))  # type: ignore[type-var]
    at = blob.find(_SEQ_FIELD + b"0")
    head, tail = blob[:at], blob[at + len(_SEQ_FIELD) + 1:]
    if at < 0 or message.__struct_fields__[0] != "seq" or b"," in head or tail[:1] not in (
        b",", b"}"
    ):
        return None
    return head + _SEQ_FIELD, tail


def encoder_for(message: Durable) -> Callable[[int], bytes]:
    """The JSON of ``message`` for any seq, from a single encode (:func:`splice_parts`); a
    message whose encoding cannot be spliced is encoded per seq."""
    parts = splice_parts(message)
    if parts is None:

        def each(seq: int) -> bytes:
            return _encoder.encode(msgspec.structs.replace(message, seq=seq))  # type: ignore[type-var]

        return each
    prefix, tail = parts

    def spliced(seq: int) -> bytes:
        return b"%s%d%s" % (prefix, seq, tail)

    return spliced


async def _next_seqs(session: AsyncSession, accounts: Sequence[str]) -> dict[str, int]:
    """Advance the cursor of each account by one and return the new seqs (cursors missing
    are created at seq 1). Core statements: no ORM object per recipient, and one statement
    per chunk when every recipient has a cursor (the usual case: only a recipient's first
    message creates it)."""
    cursors = _table(Cursor)
    seqs: dict[str, int] = {}
    for i in range(0, len(accounts), _IN_CHUNK):
        chunk = accounts[i : i + _IN_CHUNK]
        # The UPDATE locks the rows (PostgreSQL) as the old SELECT ... FOR UPDATE did.
        rows = await session.execute(
            update(cursors).where(cursors.c.account_id.in_(chunk))
            .values(last_seq=cursors.c.last_seq + 1)
            .returning(cursors.c.account_id, cursors.c.last_seq)
        )
        seqs.update((str(a), int(s)) for a, s in rows.all())
        missing = [a for a in chunk if a not in seqs]
        if missing:
            await session.execute(insert(cursors), [
                {"account_id": a, "last_seq": 1, "acked_seq": 0} for a in missing])
            seqs.update((a, 1) for a in missing)
    return seqs


_IN_CHUNK = 500
"""Ids per ``IN (...)`` list: far under SQLite's and PostgreSQL's bound-parameter limits."""


async def positions(session: AsyncSession, account_id: str) -> tuple[int, int]:
    """``(last_seq, acked_seq)`` of a recipient."""
    row = await session.get(Cursor, account_id)
    return (0, 0) if row is None else (row.last_seq, row.acked_seq)


async def _positions_many(
    session: AsyncSession, accounts: Sequence[str]
) -> dict[str, tuple[int, int]]:
    """``(last_seq, acked_seq)`` of each account that has a cursor, locked for update
    (PostgreSQL; SQLite's writer is already exclusive). Rows, not ORM objects: an ack burst
    after a fan-out to 1,000 officers is 1,000 cursors, and building, tracking and flushing
    an ORM object for each cost ~4x the alert's own transaction."""
    cursors = _table(Cursor)
    found: dict[str, tuple[int, int]] = {}
    for i in range(0, len(accounts), _IN_CHUNK):
        chunk = accounts[i : i + _IN_CHUNK]
        rows = await session.execute(
            select(cursors.c.account_id, cursors.c.last_seq, cursors.c.acked_seq)
            .where(cursors.c.account_id.in_(chunk)).with_for_update()
        )
        found.update((str(a), (int(last), int(acked))) for a, last, acked in rows.all())
    return found


async def acknowledge_many(
    session: AsyncSession, acks: Mapping[str, Sequence[tuple[int, float]]],
    officers: frozenset[str] | set[str],
) -> dict[str, int]:
    """Record that each recipient holds every message up to its highest acknowledged seq,
    and drop those messages from the outbox; several recipients in one transaction.

    A seq above the last one issued to the recipient is clamped to it (a client cannot
    acknowledge the future), and an acknowledged seq never moves back. For officers, the
    first acknowledgement covering a message about an alert stamps the alert's
    officer-acknowledgement time.

    Args:
        session: an open transaction.
        acks: per account, its ``(seq, received_at)`` acknowledgements in arrival order.
        officers: the accounts among them that are officers (their acknowledgements stamp
            the alerts' officer-acknowledgement time, with the time the covering ack arrived).

    Returns:
        The acknowledged seq now on record, per account (0 for an account that was never
        sent a durable message).
    """
    accounts = list(acks)
    if not accounts:
        return {}
    known = await _positions_many(session, accounts)
    done: dict[str, int] = {}
    bounds: dict[str, tuple[int, int]] = {}
    for account_id in accounts:
        last, acked = known.get(account_id, (0, 0))
        upto = max(0, min(max(int(s) for s, _ in acks[account_id]), last))
        if upto > acked:
            bounds[account_id] = (acked, upto)
            acked = upto
        done[account_id] = acked
    # Recipients that acknowledged everything issued to them (the usual case: the ack of the
    # message just pushed) are written by set-based statements, ``IN (...)`` per chunk, with
    # no parameters per recipient; the others by one executemany each.
    whole = [a for a, (_, upto) in bounds.items() if upto == known[a][0]]
    part = {a: upto for a, (_, upto) in bounds.items() if upto != known[a][0]}
    cursors = _table(Cursor)
    for i in range(0, len(whole), _IN_CHUNK):
        await session.execute(
            update(cursors).where(cursors.c.account_id.in_(whole[i : i + _IN_CHUNK]))
            .values(acked_seq=cursors.c.last_seq)
        )
    if part:
        # The guard keeps an acknowledged seq monotonic even if two batches ever raced (they
        # do not: the write lock serialises them).
        await session.execute(
            update(cursors)
            .where(cursors.c.account_id == bindparam("b_account"),
                   cursors.c.acked_seq < bindparam("b_upto"))
            .values(acked_seq=bindparam("b_upto")),
            [{"b_account": a, "b_upto": upto} for a, upto in part.items()],
        )
    # The rows leaving are the messages newly acknowledged: rows at or below an earlier
    # acknowledged seq were deleted when it was recorded, and new rows are always staged
    # above it (for recipients that acknowledged everything issued, that is every row they
    # have). They say which alerts an officer's ack covers and which shared encodings may be
    # unused now: read as the DELETE's RETURNING (one statement per chunk), or just before
    # the DELETE for recipients that acknowledged only part of what was issued.
    outbox = _table(OutboxMessage)
    gone: list[tuple[str, int, str | None, int | None]] = []
    for i in range(0, len(whole), _IN_CHUNK):
        rows = await session.execute(
            delete(outbox).where(outbox.c.account_id.in_(whole[i : i + _IN_CHUNK]))
            .returning(outbox.c.account_id, outbox.c.seq, outbox.c.alert_id,
                       outbox.c.body_id))
        gone += [(str(a), int(q), al, b) for a, q, al, b in rows.all()]
    if part:
        accounts_part = list(part)
        for i in range(0, len(accounts_part), _IN_CHUNK):
            chunk = accounts_part[i : i + _IN_CHUNK]
            rows = await session.execute(
                select(outbox.c.account_id, outbox.c.seq, outbox.c.alert_id, outbox.c.body_id)
                .where(outbox.c.account_id.in_(chunk),
                       outbox.c.seq <= max(part[a] for a in chunk)))
            gone += [(str(a), int(q), al, b) for a, q, al, b in rows.all() if q <= part[a]]
        await session.execute(
            delete(outbox).where(outbox.c.account_id == bindparam("b_account"),
                                 outbox.c.seq <= bindparam("b_upto")),
            [{"b_account": a, "b_upto": upto} for a, upto in part.items()],
        )
    stamps = _ack_times(gone, officers, acks)
    if stamps:
        # The guard keeps the first stamp: an alert acknowledged before keeps its time.
        alerts = _table(Alert)
        await session.execute(
            update(alerts)
            .where(alerts.c.id == bindparam("b_id"), alerts.c.acked_at.is_(None))
            .values(acked_at=bindparam("b_at")),
            [{"b_id": alert_id, "b_at": at} for alert_id, at in stamps.items()],
        )
    await _drop_unused_bodies(session, sorted({b for *_, b in gone if b is not None}))
    return done


def _ack_times(
    gone: Sequence[tuple[str, int, str | None, int | None]],
    officers: frozenset[str] | set[str], acks: Mapping[str, Sequence[tuple[int, float]]],
) -> dict[str, float]:
    """First acknowledgement time of each alert carried by the messages officers newly
    acknowledged (``gone``: ``(account, seq, alert_id, body_id)`` rows)."""
    stamps: dict[str, float] = {}
    for account_id, seq, alert_id, _ in gone:
        if alert_id is None or account_id not in officers:
            continue
        # The first ack (in arrival order) that covers this message.
        at = next((t for s, t in acks[account_id] if s >= seq), acks[account_id][-1][1])
        if alert_id not in stamps or at < stamps[alert_id]:
            stamps[alert_id] = at
    return stamps


async def _drop_unused_bodies(session: AsyncSession, ids: Sequence[int]) -> None:
    """Delete those shared encodings that no outbox row uses any more (the last recipient
    acknowledged)."""
    outbox, bodies = _table(OutboxMessage), _table(OutboxBody)
    for i in range(0, len(ids), _IN_CHUNK):
        await session.execute(delete(bodies).where(
            bodies.c.id.in_(ids[i : i + _IN_CHUNK]),
            ~exists().where(outbox.c.body_id == bodies.c.id)))


async def pending(
    session: AsyncSession, account_id: str, after: int, limit: int
) -> Sequence[tuple[int, bytes]]:
    """Outbox messages of a recipient with seq above ``after``, in order."""
    rows = await session.execute(
        select(OutboxMessage.seq, OutboxMessage.payload, OutboxBody.head, OutboxBody.tail)
        .outerjoin(OutboxBody, OutboxBody.id == OutboxMessage.body_id)
        .where(OutboxMessage.account_id == account_id, OutboxMessage.seq > after)
        .order_by(OutboxMessage.seq)
        .limit(limit)
    )
    return [(int(s), bytes(p) if p is not None else b"%s%d%s" % (head, s, tail))
            for s, p, head, tail in rows.all()]
