"""Group commit of acknowledgements: the acks that arrive while one is being written share
the next transaction.

After an alert reaches 1,000 officers, 1,000 acks arrive within a few milliseconds; one write
transaction each kept the store's writer (and so the next alert) busy for seconds. Here the
first ack starts a flush at once (no added delay when the server is quiet); acks arriving
meanwhile wait and are written together by the next flush, coalesced per recipient. Each
caller still returns only once its ack is committed, so nothing about the durability of
acknowledgements changes: a recipient's acked seq is monotonic, rows leave the outbox only
when acknowledged, and an officer's first ack of an alert stamps the alert with the time
that ack arrived.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from server.store.db import Database
from server.store.outbox import acknowledge_many

log = logging.getLogger("vigil.ws")

Spawn = Callable[[Awaitable[Any], str], "asyncio.Task[Any]"]


class AckBatcher:
    """Writes acknowledgements in shared transactions (see module docstring)."""

    def __init__(self, db: Database, write_lock: asyncio.Lock, spawn: Spawn) -> None:
        self._db = db
        self._lock = write_lock
        self._spawn = spawn
        self._acks: dict[str, list[tuple[int, float]]] = {}
        self._officers: set[str] = set()
        self._waiters: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[Any] | None = None
        self.flushes = 0
        """Transactions written (fewer than acks under load: that is the point)."""

    async def ack(self, account_id: str, seq: int, at: float, *, officer: bool) -> None:
        """Record that ``account_id`` holds every message up to ``seq`` (received at ``at``);
        returns once committed.

        Raises:
            Exception: whatever the store raised while writing the batch holding this ack.
        """
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._acks.setdefault(account_id, []).append((int(seq), at))
        if officer:
            self._officers.add(account_id)
        self._waiters.append(waiter)
        if self._flusher is None or self._flusher.done():
            self._flusher = self._spawn(self._flush_all(), "ack-flush")
        await waiter

    async def _flush_all(self) -> None:
        waiters: list[asyncio.Future[None]] = []
        try:
            while self._waiters:
                acks, officers, waiters = self._acks, self._officers, self._waiters
                self._acks, self._officers, self._waiters = {}, set(), []
                try:
                    async with self._lock, self._db.sessions() as session, session.begin():
                        await acknowledge_many(session, acks, officers)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # every caller of this batch hears of it
                    log.exception("writing %d acknowledgements failed", len(acks))
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


def _settle(waiters: list[asyncio.Future[None]], exc: Exception | None) -> None:
    for waiter in waiters:
        if waiter.done():
            continue
        if exc is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(exc)
