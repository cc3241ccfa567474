"""A resumable websocket client for the JSON roles (officer, dispatcher).

No Textual here: the dispatcher console, the officer client and the tests all drive the same
:class:`ResumableConnection`. It speaks the handshake (``hello`` -> ``welcome`` or a typed
``error``), resumes from the last sequence number it handled, acknowledges every durable
message (those carrying ``seq``) after the handler has run, drops duplicates, and reconnects
with exponential backoff and jitter, reporting a typed :class:`ConnectionStatus` (with a
countdown) that a UI can show.

Typical use::

    conn = ResumableConnection("http://127.0.0.1:8000", token, "/ws/dispatch", dispatch_out)
    task = asyncio.create_task(conn.run(on_message, on_status))
    result = await conn.request(AssignAlert(ref=conn.next_ref(), alert_id=..., officer_id=...))
    await conn.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from shared.backoff import backoff_delay
from shared.protocol.base import FATAL_CLOSE_CODES, FATAL_ERROR_CODES, PROTOCOL_VERSION, CloseCode
from shared.protocol.codec import JsonCodec, ProtocolError
from shared.protocol.common import (
    Ack,
    CommandResult,
    Durable,
    Error,
    Hello,
    Ping,
    Pong,
    Resume,
    Welcome,
)
from shared.protocol.dispatch import Snapshot
from tui.connection_types import (
    ClientError,
    Connection,
    ConnectionStatus,
    ConnState,
    NotConnected,
    OnMessage,
    OnStatus,
    RequestTimeout,
    http_url,
    websocket_url,
)

__all__ = [
    "ClientError",
    "ConnState",
    "Connection",
    "ConnectionStatus",
    "NotConnected",
    "OnMessage",
    "OnStatus",
    "RequestTimeout",
    "ResumableConnection",
    "http_url",
    "websocket_url",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

def _describe(exc: BaseException) -> str:
    """A short reason for a failed connection attempt, fit for a status line."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.split(":")[0].lower()
    return str(exc) or type(exc).__name__


async def _call(callback: Callable[[Any], Awaitable[None] | None], arg: Any) -> None:
    result = callback(arg)
    if inspect.isawaitable(result):
        await result


class _Dropped(Exception):
    """The current connection ended; ``reason`` says why, ``fatal`` whether to give up."""

    def __init__(self, reason: str, *, fatal: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fatal = fatal


class ResumableConnection(Generic[T]):
    """Websocket client that survives drops without losing or repeating durable messages.

    Args:
        url: server address, ``http://host:port`` or ``ws://host:port``.
        token: bearer token of the account.
        path: websocket path of the role, e.g. ``/ws/dispatch``.
        out_codec: decoder for what the server sends to this role
            (``shared.protocol.codec.dispatch_out`` or ``officer_out``).
        client: free text naming the client software, sent in ``hello``.
        last_seq: sequence number already handled (a client that persisted it resumes there).
        open_timeout: seconds allowed for the TCP + websocket opening handshake.
        hello_timeout: seconds allowed for ``welcome`` after ``hello``.
        send_timeout: seconds allowed for one send.
        request_timeout: seconds :meth:`request` waits for the command's result.
        idle_timeout: seconds without any message after which an application ``ping`` is
            sent; a second silent period drops the connection.
        backoff_base: first reconnect delay, doubled per failed attempt.
        backoff_max: largest reconnect delay.
        rng: random source for the jitter (tests pass a seeded one).
        max_message_bytes: largest incoming message accepted.
    """

    def __init__(
        self,
        url: str,
        token: str,
        path: str,
        out_codec: JsonCodec[T],
        *,
        client: str = "",
        last_seq: int = 0,
        open_timeout: float = 10.0,
        hello_timeout: float = 10.0,
        send_timeout: float = 10.0,
        request_timeout: float = 10.0,
        idle_timeout: float = 20.0,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        rng: random.Random | None = None,
        max_message_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self.url = websocket_url(url, path)
        self.http_base = http_url(url)
        self.token = token
        self._codec = out_codec
        self._client = client
        self._last_seq = last_seq
        self._open_timeout = open_timeout
        self._hello_timeout = hello_timeout
        self._send_timeout = send_timeout
        self._request_timeout = request_timeout
        self._idle_timeout = idle_timeout
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._rng = rng or random.Random()
        self._max_message_bytes = max_message_bytes
        self._encoder = msgspec.json.Encoder()
        self._ws: ClientConnection | None = None
        self._pending: dict[int, asyncio.Future[CommandResult]] = {}
        self._ref = 0
        self._closing = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self._welcomed = False
        self.welcome: Welcome | None = None
        """The last ``welcome`` received (account name, role, limits)."""
        self.clock_offset = 0.0
        """Server clock minus local clock at the last ``welcome``, in seconds."""

    @property
    def last_seq(self) -> int:
        """Highest durable sequence number handled (and acknowledged)."""
        return self._last_seq

    @property
    def connected(self) -> bool:
        return self._ws is not None

    def next_ref(self) -> int:
        """A fresh request reference for a command."""
        self._ref += 1
        return self._ref

    def server_time(self) -> float:
        """The server's clock now, estimated from the last ``welcome``."""
        return time.time() + self.clock_offset

    async def run(self, on_message: OnMessage[T], on_status: OnStatus) -> None:
        """Connect, handle messages and reconnect until :meth:`close` or a fatal refusal.

        ``on_message`` gets every decoded message after the handshake, except duplicates,
        pongs and the results that answered a :meth:`request`. A durable message is
        acknowledged only after ``on_message`` returned. ``on_status`` gets every change of
        connection state. Both may be plain functions or coroutines. Returns once offline.
        """
        attempt = 0
        await _call(on_status, ConnectionStatus(state="connecting"))
        while not self._closing.is_set():
            self._welcomed = False
            try:
                await self._session(on_message, on_status)
                reason = "connection closed"
            except _Dropped as exc:
                if exc.fatal:
                    await _call(on_status, ConnectionStatus(state="offline", reason=exc.reason))
                    return
                reason = exc.reason
            finally:
                self._ws = None
                self._fail_pending()
            if self._closing.is_set():
                break
            # A connection that got as far as welcome resets the backoff: a server that
            # restarts once a day should not make the next reconnect wait 30 s.
            attempt = 1 if self._welcomed else attempt + 1
            await self._wait_backoff(attempt, reason, on_status)
        await _call(on_status, ConnectionStatus(state="offline", reason="closed"))

    async def send(self, message: Any) -> None:
        """Send one message now.

        Raises:
            NotConnected: no connection is up; nothing was sent.
        """
        ws = self._ws
        if ws is None:
            raise NotConnected()
        data = self._encoder.encode(message).decode()
        try:
            async with self._send_lock, asyncio.timeout(self._send_timeout):
                await ws.send(data)
        except (ConnectionClosed, TimeoutError) as exc:
            raise NotConnected(f"connection lost while sending: {exc}") from exc

    async def request(self, message: Any) -> CommandResult:
        """Send a command carrying ``ref`` and wait for its ``result``.

        An ``error`` echoing the same ``ref`` is turned into a refused result.

        Raises:
            NotConnected: not connected, or the connection dropped before the answer.
            RequestTimeout: no answer in time (the command may or may not have been applied).
        """
        ref = int(message.ref)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[CommandResult] = loop.create_future()
        self._pending[ref] = future
        try:
            await self.send(message)
            async with asyncio.timeout(self._request_timeout):
                return await future
        except TimeoutError as exc:
            raise RequestTimeout(ref) from exc
        finally:
            self._pending.pop(ref, None)

    async def close(self) -> None:
        """Stop reconnecting and close the socket (code 1000)."""
        self._closing.set()
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self._send_timeout):
                    await ws.close(CloseCode.NORMAL, "client closing")

    # -- one connection -------------------------------------------------------------------

    async def _session(self, on_message: OnMessage[T], on_status: OnStatus) -> None:
        try:
            ws = await connect(
                self.url,
                open_timeout=self._open_timeout,
                max_size=self._max_message_bytes,
                proxy=None,
                # Application pings (below) bound silence; websockets' own keepalive also
                # catches a peer that vanished without closing.
                ping_interval=self._idle_timeout,
                ping_timeout=self._idle_timeout,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise _Dropped(f"server answered HTTP {status}", fatal=status in (401, 403)) from exc
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise _Dropped(f"cannot connect: {_describe(exc)}") from exc
        try:
            await self._handshake(ws)
            self._welcomed = True
            self._ws = ws
            name = self.welcome.name if self.welcome else ""
            await _call(on_status, ConnectionStatus(state="connected", name=name))
            await self._receive(ws, on_message)
        except ConnectionClosed as exc:
            raise _Dropped(self._close_reason(exc), fatal=self._is_fatal(exc)) from exc
        except (NotConnected, TimeoutError) as exc:
            raise _Dropped(f"lost: {exc}") from exc
        finally:
            self._ws = None
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self._send_timeout):
                    await ws.close()

    async def _handshake(self, ws: ClientConnection) -> None:
        hello = Hello(token=self.token, protocol=PROTOCOL_VERSION, client=self._client)
        try:
            async with asyncio.timeout(self._hello_timeout):
                await ws.send(self._encoder.encode(hello).decode())
                raw = await ws.recv()
        except TimeoutError as exc:
            raise _Dropped("no welcome from the server in time") from exc
        try:
            first = self._codec.decode(raw)
        except ProtocolError as exc:
            raise _Dropped(f"bad welcome: {exc.message}") from exc
        if isinstance(first, Error):
            fatal = first.fatal or first.code in FATAL_ERROR_CODES
            text = f"{first.code}: {first.message}" if first.message else first.code
            raise _Dropped(text, fatal=fatal)
        if not isinstance(first, Welcome):
            raise _Dropped(f"expected welcome, got {type(first).__name__}")
        if first.last_seq < self._last_seq:
            # The server's history restarted (e.g. a fresh database): keeping our higher
            # number would silently drop every new message as a "duplicate".
            log.warning(
                "server last_seq %d below ours %d: resuming from the server's",
                first.last_seq, self._last_seq,
            )
            self._last_seq = first.last_seq
        self.welcome = first
        self.clock_offset = first.server_time - time.time()
        async with asyncio.timeout(self._send_timeout):
            await ws.send(self._encoder.encode(Resume(last_seq=self._last_seq)).decode())

    async def _receive(self, ws: ClientConnection, on_message: OnMessage[T]) -> None:
        pinged = False
        while True:
            try:
                async with asyncio.timeout(self._idle_timeout):
                    raw = await ws.recv()
            except TimeoutError:
                if pinged:
                    raise _Dropped("lost: server silent") from None
                pinged = True
                await self.send(Ping(ref=0))
                continue
            pinged = False
            try:
                message = self._codec.decode(raw)
            except ProtocolError as exc:
                # A newer server may send message types this client does not know: skip them.
                log.warning("undecodable message skipped: %s", exc.message)
                continue
            await self._dispatch(ws, message, on_message)

    async def _dispatch(self, ws: ClientConnection, message: T, on_message: OnMessage[T]) -> None:
        if isinstance(message, Pong):
            return
        if isinstance(message, CommandResult | Error) and self._resolve(message):
            return
        if not isinstance(message, Durable):
            # The dispatcher snapshot carries the sequence number it reflects: replays at or
            # below it are already in the picture.
            seq_upto = message.last_seq if isinstance(message, Snapshot) else None
            await self._handle(message, on_message)
            if seq_upto is not None and seq_upto > self._last_seq:
                self._last_seq = seq_upto
                await self._ack(ws)
            return
        seq = message.seq
        if seq <= self._last_seq:
            log.debug("duplicate seq %s dropped (last %d)", seq, self._last_seq)
            await self._ack(ws)  # the server resent it: it may have missed our ack
            return
        await self._handle(message, on_message)
        self._last_seq = seq
        await self._ack(ws)

    def _resolve(self, message: CommandResult | Error) -> bool:
        """Hand a result (or an error echoing a ref) to its waiting request, if any."""
        if message.ref is None:
            return False
        future = self._pending.get(message.ref)
        if future is None or future.done():
            return False
        if isinstance(message, Error):
            future.set_result(
                CommandResult(ref=message.ref, ok=False, code=message.code,
                              message=message.message)
            )
        else:
            future.set_result(message)
        return True

    async def _handle(self, message: T, on_message: OnMessage[T]) -> None:
        try:
            await _call(on_message, message)
        except Exception:
            # A handler bug must not turn into an endless replay of the same message.
            log.exception("message handler failed on %s", type(message).__name__)

    async def _ack(self, ws: ClientConnection) -> None:
        async with self._send_lock, asyncio.timeout(self._send_timeout):
            await ws.send(self._encoder.encode(Ack(seq=self._last_seq)).decode())

    # -- between connections --------------------------------------------------------------

    def backoff_delay(self, attempt: int) -> float:
        """Delay before attempt ``attempt`` (1-based): exponential, capped, with jitter."""
        return backoff_delay(attempt, self._backoff_base, self._backoff_max, self._rng)

    async def _wait_backoff(self, attempt: int, reason: str, on_status: OnStatus) -> None:
        delay = self.backoff_delay(attempt)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        while not self._closing.is_set():
            left = deadline - loop.time()
            if left <= 0:
                return
            await _call(
                on_status,
                ConnectionStatus(state="reconnecting", retry_in=left, attempt=attempt,
                                 reason=reason),
            )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(1.0, left)):
                    await self._closing.wait()

    def _fail_pending(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(NotConnected("connection lost before the answer"))
        self._pending.clear()

    @staticmethod
    def _is_fatal(exc: ConnectionClosed) -> bool:
        return exc.rcvd is not None and exc.rcvd.code in FATAL_CLOSE_CODES

    @staticmethod
    def _close_reason(exc: ConnectionClosed) -> str:
        if exc.rcvd is None:
            return "lost: connection dropped"
        text = f" {exc.rcvd.reason}" if exc.rcvd.reason else ""
        return f"lost: closed by server ({exc.rcvd.code}){text}"
