"""Group commit of small frequent writes (acknowledgements, officer positions): the items
that arrive while one batch is being written share the next transaction.

After an alert reaches 1,000 officers, 1,000 acks arrive within a few milliseconds, and 1,000
officers connecting report 1,000 positions; one write transaction each kept the store's writer
(and so the next alert, which waits for the same lock) busy for seconds. Here the first item
starts a flush at once (no added delay when the server is quiet); items arriving meanwhile
wait and are written together by the next flush, grouped per account. Each caller still
returns only once its item is committed, so durability does not change: a recipient's acked
seq is monotonic, rows leave the outbox only when acknowledged, and an officer's first ack of
an alert stamps the alert with the time that ack arrived.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, NamedTuple, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.store.db import Database
from server.store.models import Officer
from server.store.outbox import acknowledge_many
from shared.protocol.base import OfficerStatus

log = logging.getLogger("vigil.ws")

Spawn = Callable[[Awaitable[Any], str], "asyncio.Task[Any]"]

V = TypeVar("V")

WriteBatch = Callable[[AsyncSession, dict[str, list[V]]], Awaitable[None]]
"""Writes one batch (per key, its items in arrival order) inside an open transaction."""


class GroupCommit(Generic[V]):
    """Writes items in shared transactions, coalesced per key (see module docstring)."""

    def __init__(self, db: Database, write_lock: asyncio.Lock, spawn: Spawn,
                 write: WriteBatch[V], what: str) -> None:
        self._db = db
        self._lock = write_lock
        self._spawn = spawn
        self._write = write
        self._what = what
        self._items: dict[str, list[V]] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[Any] | None = None
        self.flushes = 0
        """Transactions written (fewer than items under load: that is the point)."""

    async def submit(self, key: str, item: V) -> None:
        """Add an item for ``key``; returns once it is committed.

        Raises:
            Exception: whatever the store raised while writing the batch holding this item.
        """
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._items.setdefault(key, []).append(item)
        self._waiters.append(waiter)
        if self._flusher is None or self._flusher.done():
            self._flusher = self._spawn(self._flush_all(), f"{self._what}-flush")
        await waiter

    async def _flush_all(self) -> None:
        waiters: list[asyncio.Future[None]] = []
        try:
            while self._waiters:
                items, waiters = self._items, self._waiters
                self._items, self._waiters = {}, []
                try:
                    async with self._lock, self._db.sessions() as session, session.begin():
                        await self._write(session, items)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # every caller of this batch hears of it
                    log.exception("writing a batch of %s failed", self._what)
                    _settle(waiters, exc)
                else:
                    self.flushes += 1
                    _settle(waiters, None)
                waiters = []
        finally:
            # Cancelled at shutdown: callers are being torn down too; do not leave them hanging.
            for waiter in [*waiters, *self._waiters]:
                if not waiter.done():
                    waiter.cancel()


class AckBatcher(GroupCommit[tuple[int, float, bool]]):
    """Acknowledgements, in shared transactions."""

    def __init__(self, db: Database, write_lock: asyncio.Lock, spawn: Spawn) -> None:
        super().__init__(db, write_lock, spawn, _write_acks, "acks")

    async def ack(self, account_id: str, seq: int, at: float, *, officer: bool) -> None:
        """Record that ``account_id`` holds every message up to ``seq`` (received at ``at``);
        returns once committed."""
        await self.submit(account_id, (int(seq), at, officer))


async def _write_acks(session: AsyncSession,
                      items: dict[str, list[tuple[int, float, bool]]]) -> None:
    acks = {a: [(seq, at) for seq, at, _ in v] for a, v in items.items()}
    officers = {a for a, v in items.items() if any(officer for _, _, officer in v)}
    await acknowledge_many(session, acks, officers)


class OfficerUpdate(NamedTuple):
    lat: float | None
    lon: float | None
    status: OfficerStatus | None
    at: float


class OfficerUpdates(GroupCommit[OfficerUpdate]):
    """Officers' positions and statuses, in shared transactions."""

    def __init__(self, db: Database, write_lock: asyncio.Lock, spawn: Spawn) -> None:
        super().__init__(db, write_lock, spawn, _write_officers, "officer-updates")


async def _write_officers(session: AsyncSession, items: dict[str, list[OfficerUpdate]]) -> None:
    ids = list(items)
    for i in range(0, len(ids), 500):
        rows = await session.execute(select(Officer).where(Officer.id.in_(ids[i : i + 500])))
        for officer in rows.scalars():
            for update in items[officer.id]:  # in arrival order: the last one wins
                if update.lat is not None and update.lon is not None:
                    officer.lat, officer.lon = update.lat, update.lon
                if update.status is not None:
                    officer.status = update.status
                officer.last_seen = update.at


def _settle(waiters: list[asyncio.Future[None]], exc: Exception | None) -> None:
    for waiter in waiters:
        if waiter.done():
            continue
        if exc is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(exc)
