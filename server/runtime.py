"""The server's live resources: built once by :func:`open_runtime` in the app's lifespan,
frozen afterwards, and released in reverse order when the lifespan ends (or when a start-up
step fails, so a failed start leaks neither the worker pool nor engine worker processes).

Two containers, so that each use case asks only for what it needs:

- :class:`Core`: settings, database, clock, audit hook, publisher, the alert-window tracker,
  watchlist matchers and the write lock. Every service (alerts, governance, watchlists) runs
  on a ``Core``; tests of the store-level rules build one over a fresh database without
  loading an engine.
- :class:`Runtime`: a ``Core`` plus the face engine, worker pool, background tasks,
  group-committed writers and the process-wide counters (the frame pipeline needs them).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from server.recognition.engine import FaceEngine
from server.recognition.matching import MatcherCache
from server.recognition.process_engine import ProcessEngine, releases_gil
from server.recognition.tracker import CooldownTracker
from server.settings import Settings
from server.store.audit import ChainAudit
from server.store.db import Database
from server.store.frame_counts import FrameCounts, WriteGuard, no_guard
from server.store.frame_targets import FrameTargets
from server.store.group_commit import AckBatcher, OfficerUpdates
from server.store.outbox import Staged
from server.store.retention import retention_seconds
from server.store.routing import Routing
from shared.protocol.base import WireMessage

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

    def close_camera(self, camera_id: str, *, unless_account: str, message: str) -> None:
        """Close the live stream of a camera unless ``unless_account`` holds it (rebound)."""

    async def shutdown(self, flush_s: float) -> None:
        """Stop live traffic: flush what is queued (up to ``flush_s``), close with 1001."""


class LogAudit:
    """Audit hook that only logs: one structured INFO line per action (ids only)."""

    async def record(
        self, session: AsyncSession, *, actor: str, action: str, at: float, **ids: Any
    ) -> None:
        detail = " ".join(f"{k}={v}" for k, v in sorted(ids.items()) if v is not None)
        log.info("audit action=%s actor=%s %s", action, actor, detail)


class BackgroundTasks:
    """Tasks owned by the lifespan: a failure is logged when it happens (not lost with the
    task), and :meth:`aclose` cancels and awaits whatever still runs."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        log_failure(task)

    async def aclose(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)


def log_failure(task: asyncio.Task[Any]) -> None:
    """Done-callback: log a task's exception (cancellation is not a failure)."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("task %s failed: %s", task.get_name(), type(exc).__name__, exc_info=exc)


async def periodic(period_s: float, step: Callable[[], Awaitable[object]], what: str) -> None:
    """Run ``step`` every ``period_s`` seconds until cancelled; a failing pass is logged and
    the next one runs on time (sweeps must not die of one bad row)."""
    while True:
        try:
            await step()
        except Exception:
            log.exception("%s failed", what)
        await asyncio.sleep(period_s)


@dataclass(frozen=True, kw_only=True)
class Core:
    """What every use case needs (see module docstring)."""

    settings: Settings
    db: Database
    publisher: Publisher
    """Reaches connected clients (the websocket hub)."""
    tracker: CooldownTracker
    """Open alert windows per (camera, entry): a new sighting within the cooldown updates the
    alert instead of raising another one."""
    clock: Clock = time.time
    audit: AuditHook = field(default_factory=LogAudit)
    matchers: MatcherCache = field(default_factory=MatcherCache)
    """Watchlist matchers per (watchlist, model, version); services drop stale ones."""
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held around whole write transactions of use cases (alerts, outbox, governance, acks).

    On SQLite it is the single writer, and it must cover the transaction, not only the commit:
    a deferred transaction that read and then writes after another writer committed fails with
    ``SQLITE_BUSY`` at once instead of waiting. On PostgreSQL it still orders use cases that
    read, decide and write without row locks (two decisions on one alert, a fan-out's cursor
    updates over many recipients in one statement); freeing PostgreSQL of it needs those to
    lock their rows first. The frame path never takes it: frame counters are flushed once a
    second (under it on SQLite only), the deployment lookup is in memory."""
    frame_targets: FrameTargets = field(init=False)
    """Camera -> active deployments and watchlist version, for the frame path. Every service
    that changes one of them calls ``frame_targets.invalidate()`` after its commit."""
    frame_counts: FrameCounts = field(init=False)
    """Frame counters in memory, written once a second (and at shutdown); readers of the
    figures flush first."""
    routing: Routing = field(init=False)
    """Dispatchers and officers (status, position, expiry) a new alert can be routed to, read
    from the store again after any committed write to accounts or officers."""

    def __post_init__(self) -> None:
        # Built with the container (they need its database), never replaced afterwards.
        object.__setattr__(self, "frame_targets", FrameTargets(self.db))
        object.__setattr__(self, "routing", Routing(self.db))
        # The counter flush touches only counter columns and retries what fails, so only
        # SQLite's single writer needs the lock; PostgreSQL's row locks suffice.
        guard: WriteGuard = (lambda: self.write_lock) if self.db.is_sqlite else no_guard
        object.__setattr__(self, "frame_counts", FrameCounts(self.db, guard))


@dataclass(frozen=True, kw_only=True)
class Runtime(Core):
    """A :class:`Core` plus recognition resources and background work (module docstring)."""

    engine: FaceEngine
    pool: Executor
    """Blocking work (inference, decoding, search) runs here, never on the event loop."""
    tasks: BackgroundTasks
    acks: AckBatcher
    """Acknowledgements, written in shared transactions (group commit)."""
    officer_updates: OfficerUpdates
    """Officers' positions and statuses, written in shared transactions (group commit)."""
    matcher_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Serialises watchlist index builds (they save to the same file)."""
    counters: dict[str, int] = field(default_factory=dict)
    """Process-wide counters (frames dropped, refused, ...), never anything about a face."""
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once shutdown began: cameras are refused, frames no longer taken."""

    @property
    def accepting(self) -> bool:
        return not self.stopping.is_set()

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    async def in_pool(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking work (inference, decoding, search) in the worker pool."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        """A background task owned by the lifespan (cancelled and awaited at shutdown)."""
        return self.tasks.spawn(coro, name)


async def _last_flush(counts: FrameCounts) -> None:
    """The shutdown flush: a failure is logged (the counts are lost), the rest still closes."""
    try:
        await counts.flush()
    except Exception:
        log.exception("writing the last frame counters failed")


def load_engine(settings: Settings) -> FaceEngine:
    """The configured engine (``server.recognition.engines.create_engine``)."""
    from server.recognition.engines import create_engine

    return create_engine(settings)


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    publisher: Publisher,
    engine: FaceEngine | None = None,
    clock: Clock | None = None,
    audit: AuditHook | None = None,
) -> AsyncIterator[Runtime]:
    """Start every resource in order and release the started ones in reverse, on exit or as
    soon as a later step fails.

    Args:
        settings: server settings.
        publisher: reaches connected clients (the websocket hub).
        engine: a face engine to use as given (tests share a loaded one); else the configured
            engine is loaded, in worker processes when it holds the GIL (``ProcessEngine``).
        clock: epoch-seconds clock (tests and the governance layer inject one).
        audit: audit hook; default: the hash-chained log (``server.store.audit``).

    Raises:
        Exception: whatever a start-up step raised, after the steps before it were undone.
    """
    retention_seconds(settings)  # refuse a retention under 24 h before starting anything
    async with AsyncExitStack() as stack:
        db = Database(settings.database_url)
        stack.push_async_callback(db.close)
        await db.migrate()
        pool = ThreadPoolExecutor(max(1, settings.workers), thread_name_prefix="vigil")
        stack.callback(pool.shutdown, wait=True, cancel_futures=True)
        loop = asyncio.get_running_loop()
        loaded = engine if engine is not None else await loop.run_in_executor(
            pool, load_engine, settings)
        if engine is None and not releases_gil(loaded):
            # A GIL-holding engine (dlib) in threads would stall this event loop for the
            # length of every call: run it in worker processes instead.
            owned = await loop.run_in_executor(pool, ProcessEngine.wrap, loaded,
                                               settings.workers)
            stack.callback(owned.close)
            log.info("engine %s runs in %d worker processes", loaded.name, owned.workers)
            loaded = owned
        tasks = BackgroundTasks()
        write_lock = asyncio.Lock()
        runtime = Runtime(
            settings=settings, db=db, publisher=publisher,
            clock=clock if clock is not None else time.time,
            audit=audit if audit is not None else ChainAudit(),
            write_lock=write_lock, engine=loaded, pool=pool,
            tracker=CooldownTracker(settings.cooldown_s), tasks=tasks,
            acks=AckBatcher(db, write_lock, tasks.spawn),
            officer_updates=OfficerUpdates(db, write_lock, tasks.spawn),
        )
        # The last counts are written after ingest and every task stopped (the stack
        # unwinds in reverse), before the database closes.
        stack.push_async_callback(_last_flush, runtime.frame_counts)
        stack.push_async_callback(tasks.aclose)
        tasks.spawn(periodic(max(0.05, settings.counter_flush_s), runtime.frame_counts.flush,
                             "frame counter flush"), "frame-counts")
        yield runtime
