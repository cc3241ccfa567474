"""What every websocket shares: handshake, limits, typed errors and close codes.

Sequence: accept, then the first message must be a valid ``hello`` within
``HELLO_TIMEOUT_S`` (else ``error`` + close 4000), with our protocol version (else 4002) and a
valid token of the endpoint's role (else 4001); then ``welcome``. A token that expires while
its socket is open gets a fatal ``unauthorised`` error and close 4001 at the expiry instant,
as revocation does (see :meth:`Connection.watch_expiry`). Afterwards every message is
size-checked (``message_too_large``, not fatal) and rate-limited (a flood gets
``rate_limited`` and close 4008). A message that does not decode gets ``bad_message`` and the
connection goes on: bad input costs only that message, never another client.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

import msgspec
from litestar import WebSocket

from server.auth import Principal, authenticate
from server.errors import VigilError
from server.runtime import Runtime
from server.store.models import Camera
from server.store.outbox import positions
from server.ws.hub import Hub
from server.ws.session import Session
from shared.protocol.base import PROTOCOL_VERSION, CloseCode, ErrorCode, Role
from shared.protocol.codec import ProtocolError
from shared.protocol.common import AlertCommand, Error, Hello, Limits, Ping, Welcome

log = logging.getLogger("vigil.ws")

HELLO_TIMEOUT_S = 10.0
EXPIRY_RECHECK_S = 0.5
"""Longest real-time wait between two looks at the clock while a token is valid: the clock is
injectable (tests, governance) and may jump, so the watchdog never sleeps past this."""

M = TypeVar("M")
"""A role's incoming message union."""


class Closed(Exception):
    """The peer disconnected (or we closed the socket)."""


class RateLimiter:
    """Token bucket: ``rate`` messages per second with a burst of two seconds' worth."""

    def __init__(self, rate: float) -> None:
        self.rate = max(0.1, rate)
        self.capacity = max(5.0, 2.0 * self.rate)
        self.tokens = self.capacity
        self.last = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


def encoder_for(mode: Literal["text", "binary"]) -> Callable[[Any], bytes]:
    return msgspec.msgpack.encode if mode == "binary" else msgspec.json.encode


class Connection:
    """One accepted socket of one role, before and after ``hello``."""

    def __init__(
        self, socket: WebSocket[Any, Any, Any], runtime: Runtime, *, role: Role,
        mode: Literal["text", "binary"], max_bytes: int,
    ) -> None:
        self.socket = socket
        self.runtime = runtime
        self.role = role
        self.mode = mode
        self.max_bytes = max_bytes
        self.encode = encoder_for(mode)
        self.session = Session(socket, mode=mode, queue_limit=runtime.settings.send_queue_size,
                               role=role)
        self.limiter = RateLimiter(runtime.settings.max_messages_per_second)
        self._expiry: asyncio.Task[None] | None = None

    async def receive(self, wait_s: float | None = None) -> bytes | str:
        """The next message's raw data (text or bytes)."""
        try:
            async with asyncio.timeout(wait_s):
                event = await self.socket.receive()
        except Exception as exc:  # disconnect raised by the ASGI wrapper, or timeout
            if isinstance(exc, TimeoutError):
                raise
            raise Closed() from exc
        if event["type"] == "websocket.disconnect":
            raise Closed()
        data: bytes | str | None = event.get("bytes")  # type: ignore[assignment]
        if data is None:
            data = event.get("text") or ""  # type: ignore[assignment]
        return data or b""

    def send(self, message: Any) -> None:
        self.session.send(self.encode(message))

    def error(self, code: str, message: str = "", *, ref: int | None = None,
              close: int | None = None) -> None:
        """Send a typed error; with ``close``, close the connection after it."""
        self.send(Error(code=code, message=message, ref=ref, fatal=close is not None))
        if close is not None:
            self.session.close(close, code)

    async def handshake(
        self, decode: Callable[[bytes | str], object]
    ) -> tuple[Hello, Principal] | None:
        """Receive and check ``hello`` and its token; on success returns both (the caller
        sends ``welcome``), else sends an error, closes and returns None."""
        try:
            raw = await self.receive(HELLO_TIMEOUT_S)
        except TimeoutError:
            self.error(ErrorCode.HELLO_REQUIRED, "no hello received in time",
                       close=CloseCode.BAD_HELLO)
            return None
        if len(raw) > self.runtime.settings.max_message_bytes:
            self.error(ErrorCode.MESSAGE_TOO_LARGE, "hello too large", close=CloseCode.BAD_HELLO)
            return None
        try:
            hello = decode(raw)
        except ProtocolError as exc:
            # A specific refusal (too deep) keeps its code; anything else is "not a hello".
            code = ErrorCode.HELLO_REQUIRED if exc.code == ErrorCode.BAD_MESSAGE else exc.code
            self.error(code, f"the first message must be hello: {exc}",
                       close=CloseCode.BAD_HELLO)
            return None
        if not isinstance(hello, Hello):
            self.error(ErrorCode.HELLO_REQUIRED, "the first message must be hello",
                       close=CloseCode.BAD_HELLO)
            return None
        if hello.protocol != PROTOCOL_VERSION:
            self.error(ErrorCode.PROTOCOL_VERSION,
                       f"server speaks protocol {PROTOCOL_VERSION}, client {hello.protocol}",
                       close=CloseCode.PROTOCOL_VERSION)
            return None
        try:
            async with self.runtime.db.sessions() as session:
                principal = await authenticate(session, hello.token, self.runtime.clock())
        except VigilError as exc:
            self.error(ErrorCode.UNAUTHORISED, exc.message, close=CloseCode.UNAUTHORISED)
            return None
        if principal.role != self.role:
            self.error(ErrorCode.FORBIDDEN, f"this endpoint is for the {self.role} role",
                       close=CloseCode.UNAUTHORISED)
            return None
        self.session.account_id = principal.account_id
        if principal.expires_at is not None:
            self._expiry = asyncio.create_task(self.watch_expiry(principal.expires_at),
                                               name="ws-expiry")
        return hello, principal

    async def still_valid(self, hello: Hello, *, camera_id: str | None = None) -> bool:
        """Check the token again (and, for a camera, its binding) once the session is
        registered with the hub; close (4001) and return False when it no longer holds.

        A revocation (or a camera re-bound to another account) closes the sessions the hub
        holds right after it commits. One committed between this connection's ``hello`` check
        and its registration would find no session to close and the socket would stay open,
        still receiving alerts; this second look, after registering, sees any such commit.
        """
        try:
            async with self.runtime.db.sessions() as session:
                principal = await authenticate(session, hello.token, self.runtime.clock())
                camera = await session.get(Camera, camera_id) if camera_id else None
        except VigilError as exc:
            self.error(ErrorCode.UNAUTHORISED, exc.message, close=CloseCode.UNAUTHORISED)
            return False
        return camera_id is None or self.camera_bound(camera, principal)

    def camera_bound(self, camera: Camera | None, principal: Principal) -> bool:
        """Whether ``camera`` exists and is bound to the token's account; if not, close
        (fatal ``forbidden``, 4001). Fail closed: a camera registered without a bound account
        accepts no token at all."""
        if camera is None or camera.account_id != principal.account_id:
            self.error(ErrorCode.FORBIDDEN, "unknown camera id or not this token's camera",
                       close=CloseCode.UNAUTHORISED)
            return False
        return True

    async def watch_expiry(self, expires_at: float) -> None:
        """Close this connection (fatal ``unauthorised``, 4001) once the runtime's clock
        reaches ``expires_at``: REST refuses the token from that instant, so the socket must
        stop receiving alerts then too. Sleeps until the expiry, at most
        ``EXPIRY_RECHECK_S`` at a time, so an injected clock that jumps is noticed."""
        while True:
            left = expires_at - self.runtime.clock()
            if left <= 0:
                log.info("%s %s: token expired, closing", self.role, self.session.account_id)
                self.error(ErrorCode.UNAUTHORISED, "token expired", close=CloseCode.UNAUTHORISED)
                return
            await asyncio.sleep(min(left, EXPIRY_RECHECK_S))

    async def welcome(self, principal: Principal) -> None:
        async with self.runtime.db.sessions() as session:
            last, acked = await positions(session, principal.account_id)
        settings = self.runtime.settings
        self.send(Welcome(
            protocol=PROTOCOL_VERSION, role=self.role, account_id=principal.account_id,
            name=principal.name, server_time=self.runtime.clock(), last_seq=last,
            acked_seq=acked,
            limits=Limits(max_message_bytes=self.max_bytes,
                          max_frame_bytes=settings.max_image_bytes,
                          max_messages_per_second=settings.max_messages_per_second),
        ))

    async def next_message(self, decode: Callable[[bytes | str], M]) -> M | None:
        """The next decoded message, or None when it was refused (error already sent).

        Raises:
            Closed: the peer went away or the connection is being closed.
        """
        if self.session.closed.is_set():
            raise Closed()
        raw = await self.receive()
        if not self.limiter.allow():
            self.error(ErrorCode.RATE_LIMITED, "too many messages",
                       close=CloseCode.RATE_LIMITED)
            raise Closed()
        if len(raw) > self.max_bytes:
            self.error(ErrorCode.MESSAGE_TOO_LARGE, f"{len(raw)} bytes, limit {self.max_bytes}")
            return None
        try:
            message = decode(raw)
        except ProtocolError as exc:
            self.error(exc.code, exc.message)
            return None
        if isinstance(message, Hello):
            self.error(ErrorCode.BAD_MESSAGE, "hello was already received")
            return None
        return message

    async def handle(self, message: M, handler: Callable[[M], Awaitable[None]]) -> None:
        """Run one message's handler; a failure costs that message only, never the connection.

        A :class:`VigilError` is answered with its code; anything else (a database error, a
        bug) is logged and answered ``internal_error``, with the message's ``ref`` if it has
        one. Disconnects still end the connection.

        Raises:
            Closed: the peer went away or the connection is being closed.
        """
        ref = message.ref if isinstance(message, AlertCommand | Ping) else None
        try:
            await handler(message)
        except Closed:
            raise
        except VigilError as exc:
            self.error(exc.code, exc.message, ref=ref)
        except Exception:
            # Officer and dispatcher messages carry no face data; the traceback is what we need.
            log.exception("%s message %s failed", self.role, type(message).__name__)
            self.error(ErrorCode.INTERNAL_ERROR, "internal error", ref=ref)

    async def finish(self) -> None:
        """Close (if still open) and stop this connection's tasks."""
        if self._expiry is not None and not self._expiry.done():
            self._expiry.cancel()
            await asyncio.wait([self._expiry])
        if not self.session.closed.is_set():
            self.session.close(CloseCode.NORMAL, "")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(3.0):
                    await self.session.closed.wait()
        await self.session.stop()




async def serve_json_role(
    socket: WebSocket[Any, Any, Any],
    role: Role,
    decode: Callable[[bytes | str], M],
    handle: Callable[[Runtime, Connection, Principal, M], Awaitable[None]],
    on_presence: Callable[[Runtime, str], Awaitable[None]] | None = None,
) -> None:
    """The life of an officer or dispatcher socket: handshake, register with the hub,
    ``welcome``, one message at a time through ``handle``, then unregister and close.

    Args:
        on_presence: called after the account joins and after it leaves (officers tell
            dispatchers they are connected or gone).
    """
    runtime: Runtime = socket.app.state.runtime
    hub: Hub = socket.app.state.hub
    await socket.accept()
    conn = Connection(socket, runtime, role=role, mode="text",
                      max_bytes=runtime.settings.max_message_bytes)
    conn.session.start()
    signed_in: Principal | None = None
    try:
        accepted = await conn.handshake(decode)
        if accepted is None:
            return
        hello, signed_in = accepted
        hub.register(conn.session)
        if not await conn.still_valid(hello):
            return
        await conn.welcome(signed_in)
        if on_presence is not None:
            await on_presence(runtime, signed_in.account_id)
        while True:
            message = await conn.next_message(decode)
            if message is not None:
                await conn.handle(message, functools.partial(handle, runtime, conn, signed_in))
    except Closed:
        pass
    finally:
        if signed_in is not None:
            hub.unregister(conn.session)
            if on_presence is not None:
                await on_presence(runtime, signed_in.account_id)
        await conn.finish()
