"""One websocket connection: a bounded send queue, a sender task and durable replay.

Everything the server sends goes through :meth:`Session.send` (non-durable) or
:meth:`Session.deliver` (durable, with a seq). Both only enqueue; the sender task writes to
the socket with a timeout. A client that lets ``send_queue_size`` messages pile up, or does
not take one within the send timeout, is a slow consumer: it is disconnected with close code
4009 and resumes later from its last acknowledged seq, so the pipeline never waits for it and
memory never grows without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

from litestar import WebSocket

from server.runtime import log_failure
from shared.protocol.base import CloseCode

log = logging.getLogger("vigil.ws")

SEND_TIMEOUT_S = 10.0
"""A single write taking longer than this marks the client a slow consumer."""

FetchPending = Callable[[int], Awaitable[Sequence[tuple[int, bytes]]]]
"""Reads durable messages of this recipient with seq above the argument, in order."""


class _Close:
    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


class Session:
    """A connected client (see module docstring)."""

    def __init__(
        self,
        socket: WebSocket[Any, Any, Any],
        *,
        mode: Literal["text", "binary"],
        queue_limit: int,
        account_id: str = "",
        role: str = "",
    ) -> None:
        self.socket = socket
        self.mode = mode
        self.queue_limit = max(1, queue_limit)
        self.account_id = account_id
        self.role = role
        self._queue: deque[bytes | _Close] = deque()
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self._closing = False
        # Durable delivery state: after resume, messages flow in seq order from sent_seq.
        self.sent_seq = 0
        self.live = False
        self._dirty = False
        self._fetch: FetchPending | None = None
        # Non-durable state updates (officer positions, statistics): open once the client has
        # resumed; held while its snapshot is built so none falls between snapshot and live.
        self.updates_open = False
        self._held: list[bytes] | None = None
        self._pump: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._sender = asyncio.create_task(self._send_loop(), name="ws-sender")
        self._sender.add_done_callback(log_failure)

    # -- outgoing -------------------------------------------------------------------------
    def send(self, payload: bytes) -> bool:
        """Queue one encoded message; False (and a 4009 close) when the client lags."""
        if self._closing:
            return False
        if len(self._queue) >= self.queue_limit:
            log.warning("slow consumer %s (%s): closing", self.account_id, self.role)
            self._queue.clear()
            self.close(CloseCode.SLOW_CONSUMER, "slow consumer")
            return False
        self._queue.append(payload)
        self._idle.clear()
        self._ready.set()
        return True

    def hold_updates(self) -> None:
        """Start taking non-durable updates, holding them until :meth:`release_updates`
        (call before reading the snapshot the client will get)."""
        self.updates_open = True
        self._held = []

    def release_updates(self) -> None:
        """Send the updates held since :meth:`hold_updates` (call after the snapshot)."""
        held, self._held = self._held or [], None
        for payload in held:
            self.send(payload)

    def send_update(self, payload: bytes) -> None:
        """Queue a non-durable update (dropped before the client has resumed)."""
        if not self.updates_open:
            return
        if self._held is not None:
            if len(self._held) < self.queue_limit:
                self._held.append(payload)
            return
        self.send(payload)

    def close(self, code: int, reason: str = "") -> None:
        """Close after what is already queued has been sent."""
        if self._closing:
            return
        self._closing = True
        self._queue.append(_Close(code, reason))
        self._ready.set()

    async def _send_loop(self) -> None:
        try:
            while True:
                await self._ready.wait()
                while self._queue:
                    item = self._queue.popleft()
                    if isinstance(item, _Close):
                        await self._close_socket(item.code, item.reason)
                        return
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a
                    # cancellation that races with completion, and stop() would hang.
                    async with asyncio.timeout(SEND_TIMEOUT_S):
                        await self._write(item)
                self._ready.clear()
                self._idle.set()
        except TimeoutError:
            log.warning("slow consumer %s (%s): send timed out", self.account_id, self.role)
            await self._close_socket(CloseCode.SLOW_CONSUMER, "slow consumer")
        except Exception:  # the peer went away mid-write: the receive loop notices too
            self.closed.set()
            self._idle.set()

    async def _write(self, payload: bytes) -> None:
        if self.mode == "text":
            await self.socket.send_text(payload.decode("utf-8"))
        else:
            await self.socket.send_bytes(payload)

    async def _close_socket(self, code: int, reason: str) -> None:
        self.close_code = code
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2.0):
                await self.socket.close(code=code, reason=reason)
        self.closed.set()
        self._idle.set()

    # -- durable --------------------------------------------------------------------------
    def go_live(self, after: int, fetch: FetchPending) -> None:
        """Start durable delivery of every message with seq above ``after``."""
        self.sent_seq = after
        self._fetch = fetch
        self.live = False
        self._kick()

    def deliver(self, seq: int, payload: bytes) -> None:
        """A durable message for this recipient was just committed."""
        if self._fetch is None or seq <= self.sent_seq:
            return
        if self.live and seq == self.sent_seq + 1:
            if self.send(payload):
                self.sent_seq = seq
            return
        # Out of order or still replaying: the pump reads it from the outbox in order.
        self._dirty = True
        self._kick()

    def _kick(self) -> None:
        if self._pump is None or self._pump.done():
            self.live = False
            self._pump = asyncio.create_task(self._replay(), name="ws-replay")
            self._pump.add_done_callback(log_failure)

    async def _replay(self) -> None:
        assert self._fetch is not None
        while not self._closing and not self.closed.is_set():
            # Flow control: a long backlog is replayed as fast as the client reads it, never
            # faster (queueing it all at once would trip the slow-consumer limit on a client
            # that is only catching up).
            if self._queue:
                await self._idle.wait()
                continue
            self._dirty = False
            rows = await self._fetch(self.sent_seq)
            if rows:
                for seq, payload in rows[: self.queue_limit]:
                    if not self.send(payload):
                        return
                    self.sent_seq = seq
                continue
            if not self._dirty:
                self.live = True  # no await between the empty read and this line
                return

    async def stop(self) -> None:
        """Cancel and await this session's tasks (the socket is already closed)."""
        tasks = [t for t in (self._pump, self._sender) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def drained(self) -> None:
        """Wait until everything queued has been written (or the socket closed); callers
        bound it with a timeout (used at shutdown before closing)."""
        await self._idle.wait()
