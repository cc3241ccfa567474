"""Durable per-recipient delivery in the store: sequence numbers, outbox rows and acks.

A durable message is staged in the same transaction as the change it reports (an alert
raised, assigned, ...): if the transaction commits, the message will be delivered, across
disconnections and server restarts; if it does not, nobody hears of it. Rows leave the outbox
only when their recipient acknowledges them, so a replay after ``resume(last_seq)`` sends
exactly the messages above ``last_seq``, byte for byte as first sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import msgspec
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.store.models import Alert, Cursor, OutboxMessage
from shared.protocol.base import WireMessage


class Staged(msgspec.Struct, frozen=True):
    """A durable message written to the outbox, ready to push once committed."""

    account_id: str
    seq: int
    payload: bytes


_encoder = msgspec.json.Encoder()


async def _cursor(session: AsyncSession, account_id: str) -> Cursor:
    row = (
        await session.execute(
            select(Cursor).where(Cursor.account_id == account_id).with_for_update()
        )
    ).scalar_one_or_none()
    if row is None:
        row = Cursor(account_id=account_id, last_seq=0, acked_seq=0)
        session.add(row)
    return row


async def stage(
    session: AsyncSession,
    recipients: Iterable[str],
    build: Callable[[str, int], WireMessage],
    *,
    alert_id: str | None,
    now: float,
) -> list[Staged]:
    """Allocate the next seq of each recipient and write its message to the outbox.

    Args:
        session: the open transaction of the change being reported.
        recipients: account ids.
        build: makes the message for one recipient and seq.
        alert_id: the alert the message is about (for officer acknowledgement times and
            purges).
        now: current time.

    Returns:
        What to push to connected recipients after the commit.
    """
    staged: list[Staged] = []
    for account_id in dict.fromkeys(recipients):
        cursor = await _cursor(session, account_id)
        seq = (cursor.last_seq or 0) + 1
        cursor.last_seq = seq
        payload = _encoder.encode(build(account_id, seq))
        session.add(
            OutboxMessage(
                account_id=account_id, seq=seq, alert_id=alert_id, payload=payload,
                created_at=now,
            )
        )
        staged.append(Staged(account_id, seq, payload))
    return staged


async def positions(session: AsyncSession, account_id: str) -> tuple[int, int]:
    """``(last_seq, acked_seq)`` of a recipient."""
    row = await session.get(Cursor, account_id)
    return (0, 0) if row is None else (row.last_seq, row.acked_seq)


async def acknowledge(
    session: AsyncSession, account_id: str, seq: int, now: float, *, officer: bool
) -> int:
    """Record that a recipient holds every message up to ``seq`` and drop them.

    A seq above the last issued one is clamped to it (a client cannot acknowledge the future).
    For officers, the first acknowledgement of a message about an alert stamps the alert's
    officer-acknowledgement time.

    Returns:
        The acknowledged seq now on record.
    """
    cursor = await _cursor(session, account_id)
    upto = max(0, min(int(seq), cursor.last_seq))
    if upto > cursor.acked_seq:
        if officer:
            alert_ids = (
                await session.execute(
                    select(OutboxMessage.alert_id).where(
                        OutboxMessage.account_id == account_id,
                        OutboxMessage.seq <= upto,
                        OutboxMessage.alert_id.is_not(None),
                    )
                )
            ).scalars().all()
            if alert_ids:
                await session.execute(
                    update(Alert)
                    .where(Alert.id.in_(set(alert_ids)), Alert.acked_at.is_(None))
                    .values(acked_at=now)
                )
        cursor.acked_seq = upto
    await session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.account_id == account_id, OutboxMessage.seq <= upto
        )
    )
    return cursor.acked_seq


async def pending(
    session: AsyncSession, account_id: str, after: int, limit: int
) -> Sequence[tuple[int, bytes]]:
    """Outbox messages of a recipient with seq above ``after``, in order."""
    rows = await session.execute(
        select(OutboxMessage.seq, OutboxMessage.payload)
        .where(OutboxMessage.account_id == account_id, OutboxMessage.seq > after)
        .order_by(OutboxMessage.seq)
        .limit(limit)
    )
    return [(int(s), bytes(p)) for s, p in rows.all()]
