"""The server's live resources, owned by the app's lifespan and shared by every handler.

One :class:`Runtime` per app: settings, database, face engine, worker pool, live sessions,
watchlist matchers, cooldown tracker, the injectable clock and the audit hook. The governance
layer plugs in by passing its own ``audit`` (hash-chained) and ``clock`` to ``create_app``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from server.recognition.engine import FaceEngine
from server.recognition.matching import MatcherCache
from server.recognition.tracker import CooldownTracker
from server.store.db import Database
from server.store.group_commit import AckBatcher, OfficerUpdates
from server.store.outbox import Staged
from shared.protocol.base import WireMessage
from shared.settings import Settings

log = logging.getLogger("vigil")

T = TypeVar("T")

Clock = Callable[[], float]
"""Epoch seconds; injected so that tests (and retention) can move time without sleeping."""


class AuditHook(Protocol):
    """Receives every alert, human action and purge (ids and counts only, never images).

    ``session`` is the transaction of the change, so an audit record commits with it.
    """

    async def record(
        self, session: AsyncSession, *, actor: str, action: str, at: float, **ids: Any
    ) -> None: ...


class Publisher(Protocol):
    """How use cases reach connected clients, after their transaction committed.

    The websocket hub (``server.ws.hub.Hub``) implements it; services and the pipeline know
    only this, so they never import the websocket layer.
    """

    def deliver(self, staged: Iterable[Staged]) -> None:
        """Push committed durable messages to whichever recipients are connected."""

    def broadcast(self, role: str, message: WireMessage) -> None:
        """Send a non-durable message to every connected session of a role."""

    def connected(self, account_id: str) -> bool:
        """Whether the account has a live session."""

    def close_account(self, account_id: str, message: str) -> int:
        """Close every live session of a (revoked) account; returns how many."""

    async def shutdown(self, flush_s: float) -> None:
        """Stop live traffic: flush what is queued (up to ``flush_s``), close with 1001."""


class LogAudit:
    """Default audit hook: one structured INFO line per action (ids only)."""

    async def record(
        self, session: AsyncSession, *, actor: str, action: str, at: float, **ids: Any
    ) -> None:
        detail = " ".join(f"{k}={v}" for k, v in sorted(ids.items()) if v is not None)
        log.info("audit action=%s actor=%s %s", action, actor, detail)


@dataclass
class Runtime:
    """Live resources (see module docstring)."""

    settings: Settings
    db: Database
    publisher: Publisher
    """Reaches connected clients (the websocket hub)."""
    clock: Clock = time.time
    audit: AuditHook = field(default_factory=LogAudit)
    engine: FaceEngine | None = None
    matchers: MatcherCache = field(default_factory=MatcherCache)
    tracker: CooldownTracker | None = None
    pool: ThreadPoolExecutor | None = None
    accepting: bool = True
    """False once shutdown began: cameras are refused, frames no longer taken."""
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    matcher_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Serialises watchlist index builds (they save to the same file)."""
    """Serialises alert/outbox writes in this process (sequence allocation, SQLite writer)."""
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    counters: dict[str, int] = field(default_factory=dict)
    """Process-wide counters (frames dropped, refused, ...), never anything about a face."""
    acks: AckBatcher = field(init=False)
    """Acknowledgements, written in shared transactions (group commit)."""
    officer_updates: OfficerUpdates = field(init=False)
    """Officers' positions and statuses, written in shared transactions (group commit)."""

    def __post_init__(self) -> None:
        self.acks = AckBatcher(self.db, self.write_lock, self.spawn)
        self.officer_updates = OfficerUpdates(self.db, self.write_lock, self.spawn)

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    async def in_pool(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking work (inference, decoding, search) in the worker pool."""
        assert self.pool is not None, "runtime not started"
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, fn, *args)

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        """A background task owned by the lifespan (cancelled and awaited at shutdown)."""
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        task.set_name(name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def cancel_tasks(self) -> None:
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
