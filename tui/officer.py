"""The officer client: a library the terminal client, the demo and the benchmark all use.

:func:`run_officer` connects as an officer through :class:`tui.connection.ResumableConnection`
(hello, resume from the last handled seq, ack, duplicates dropped, reconnect with backoff),
reports a position (fixed, or a simulated patrol with ``walk``) and a status, hands every
received message to an :class:`OfficerOutput`, and runs commands: accept an assignment,
resolve it with an outcome, change status. It returns when ``stop`` is set, after
``exit_after`` alerts, or when the server refuses the officer for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine, Iterator
from typing import Any, Protocol

import msgspec

from shared.protocol.alerts import AlertView
from shared.protocol.base import OfficerStatus, Outcome
from shared.protocol.codec import JsonCodec
from shared.protocol.common import CommandResult
from shared.protocol.officer import (
    AcceptAlert,
    AlertAssigned,
    AlertRaised,
    OfficerOut,
    ResolveAlert,
    UpdatePosition,
    UpdateStatus,
)
from tui.connection import ClientError, ConnectionStatus, ResumableConnection
from tui.officer_state import OfficerState, patrol

CLIENT_NAME = "vigil-officer/0.1"


class OfficerOptions(msgspec.Struct, kw_only=True, frozen=True):
    """How the officer client connects and behaves."""

    server: str
    token: str
    lat: float | None = None
    lon: float | None = None
    """Fixed position, sent on every (re)connection."""
    walk: tuple[float, float] | None = None
    """Centre of a simulated patrol; the position moves every ``position_interval_s``."""
    walk_radius_m: float = 250.0
    walk_step_m: float = 15.0
    position_interval_s: float = 5.0
    status: OfficerStatus = "available"
    exit_after: int = 0
    """Return after this many distinct alerts (0: run until stopped)."""
    auto_accept: bool = False
    """Accept every assignment as it arrives (scripts, tests, simulated officers)."""
    auto_resolve: Outcome | None = None
    """After accepting automatically, resolve with this outcome."""
    resolve_delay_s: float = 0.0
    """Simulated time to reach the person and check before resolving automatically."""
    seed: int | None = None
    """Seed of the simulated patrol (reproducible demos)."""
    backoff_max_s: float = 30.0


class OfficerSummary(msgspec.Struct, kw_only=True, frozen=True):
    """What one officer client run received and did."""

    alerts: int
    """Distinct alerts received (new nearby or assigned)."""
    messages: int
    """Messages handed to the output (duplicates already dropped)."""
    accepted: int
    resolved: int
    last_seq: int
    reason: str = ""
    """Why the client stopped (``exit_after``, ``stopped``, or the server's refusal)."""


class OfficerOutput(Protocol):
    """Where the client reports what happens (terminal cards, JSON lines, a test recorder)."""

    def message(self, message: OfficerOut, alert: AlertView | None, received_at: float) -> None:
        """A message arrived; ``alert`` is the alert it changed, None for a stale copy."""

    def status(self, status: ConnectionStatus) -> None:
        """The connection state changed."""

    def result(self, action: str, alert_id: str, result: CommandResult) -> None:
        """A command this client sent was answered."""


class Officer:
    """One running officer client (see :func:`run_officer`)."""

    def __init__(self, options: OfficerOptions, out: OfficerOutput) -> None:
        self.options = options
        self.out = out
        self.state = OfficerState()
        self.conn: ResumableConnection[OfficerOut] = ResumableConnection(
            options.server, options.token, "/ws/officer", JsonCodec(OfficerOut),
            client=CLIENT_NAME, backoff_max=options.backoff_max_s,
        )
        self.messages = 0
        self.accepted = 0
        self.resolved = 0
        self.reason = ""
        self.done = asyncio.Event()
        self._position: tuple[float, float] | None = (
            (options.lat, options.lon) if options.lat is not None and options.lon is not None
            else None
        )
        self._walk: Iterator[tuple[float, float]] | None = (
            patrol(*options.walk, radius_m=options.walk_radius_m, step_m=options.walk_step_m,
                   seed=options.seed) if options.walk else None
        )
        if self._walk is not None:
            self._position = next(self._walk)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def position(self) -> tuple[float, float] | None:
        return self._position

    # -- connection callbacks ---------------------------------------------------------------
    async def on_message(self, message: OfficerOut) -> None:
        received = time.time()
        self.messages += 1
        alert = self.state.apply(message)
        self.out.message(message, alert, received)
        if (self.options.auto_accept and isinstance(message, AlertAssigned)
                and alert is not None and alert.state == "assigned"):
            self._spawn(self._auto_accept(alert.id))
        if (self.options.exit_after and isinstance(message, AlertRaised | AlertAssigned)
                and self.state.alert_count >= self.options.exit_after):
            self.reason = "exit_after"
            self.done.set()

    def on_status(self, status: ConnectionStatus) -> None:
        self.out.status(status)
        if status.state == "connected":
            self._spawn(self._report())
        elif status.state == "offline" and status.reason != "closed":
            self.reason = status.reason
            self.done.set()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _report(self) -> None:
        with contextlib.suppress(ClientError):
            if self._position is not None:
                await self.conn.send(UpdatePosition(lat=self._position[0], lon=self._position[1]))
            await self.conn.send(UpdateStatus(status=self.options.status))

    async def _walker(self) -> None:
        assert self._walk is not None
        while not self.done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.done.wait(), self.options.position_interval_s)
            if self.done.is_set():
                return
            self._position = next(self._walk)
            if self.conn.connected:
                with contextlib.suppress(ClientError):
                    await self.conn.send(
                        UpdatePosition(lat=self._position[0], lon=self._position[1]))

    # -- commands ---------------------------------------------------------------------------
    async def accept(self, alert_id: str) -> CommandResult:
        """Accept an assignment (the officer goes to check in person)."""
        result = await self._request("accept", alert_id,
                                     AcceptAlert(ref=self.conn.next_ref(), alert_id=alert_id))
        self.accepted += result.ok
        return result

    async def resolve(self, alert_id: str, outcome: Outcome, note: str = "") -> CommandResult:
        """Close an accepted alert with what the officer found."""
        result = await self._request(
            "resolve", alert_id,
            ResolveAlert(ref=self.conn.next_ref(), alert_id=alert_id, outcome=outcome, note=note),
        )
        self.resolved += result.ok
        return result

    async def set_status(self, status: OfficerStatus) -> None:
        await self.conn.send(UpdateStatus(status=status))

    async def _request(self, action: str, alert_id: str,
                       command: AcceptAlert | ResolveAlert) -> CommandResult:
        try:
            result = await self.conn.request(command)
        except ClientError as exc:
            result = CommandResult(ref=command.ref, ok=False, code=exc.code, message=exc.message)
        self.out.result(action, alert_id, result)
        return result

    async def _auto_accept(self, alert_id: str) -> None:
        result = await self.accept(alert_id)
        if result.ok and self.options.auto_resolve is not None:
            if self.options.resolve_delay_s > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.done.wait(), self.options.resolve_delay_s)
                if self.done.is_set():
                    return
            await self.resolve(alert_id, self.options.auto_resolve, note="automatic (simulated)")

    # -- lifecycle --------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event | None = None) -> OfficerSummary:
        """Run until ``stop``, ``exit_after`` or a refusal; see :func:`run_officer`."""
        runner = asyncio.create_task(self.conn.run(self.on_message, self.on_status))
        walker = asyncio.create_task(self._walker()) if self._walk is not None else None
        stopper = asyncio.create_task(stop.wait()) if stop is not None else None
        waiter = asyncio.create_task(self.done.wait())
        try:
            waits = {t for t in (runner, stopper, waiter) if t is not None}
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if not self.reason:
                self.reason = "stopped" if stop is not None and stop.is_set() else "offline"
        finally:
            self.done.set()
            await self.conn.close()
            for task in (walker, stopper, waiter, *self._tasks):
                if task is not None:
                    task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(runner, 10)
            await asyncio.gather(*(t for t in (walker, stopper, waiter) if t is not None),
                                 return_exceptions=True)
        return OfficerSummary(alerts=self.state.alert_count, messages=self.messages,
                              accepted=self.accepted, resolved=self.resolved,
                              last_seq=self.conn.last_seq, reason=self.reason)


async def run_officer(
    options: OfficerOptions, out: OfficerOutput, *, stop: asyncio.Event | None = None
) -> OfficerSummary:
    """Run an officer client until ``stop`` is set, ``exit_after`` alerts, or a refusal.

    Args:
        options: server, token, position or patrol, automatic behaviour.
        out: receives every message, connection state and command result.
        stop: set it to end the client cleanly.

    Returns:
        What was received and done; ``reason`` says why it ended.
    """
    return await Officer(options, out).run(stop)
