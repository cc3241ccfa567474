"""Who is connected, and pushing committed durable messages to them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence

import msgspec

from server.store.outbox import Staged
from server.ws.session import Session
from shared.protocol.base import CloseCode, ErrorCode, WireMessage
from shared.protocol.common import Error

log = logging.getLogger("vigil.ws")

_encoder = msgspec.json.Encoder()


class Hub:
    """Registry of live sessions by account (one session per account: a new connection with
    the same credentials replaces the old one, which is closed with 4010)."""

    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}
        self.cameras: dict[str, Session] = {}
        self.listeners: list[Callable[[Sequence[Staged]], None]] = []
        """Called with every batch of committed durable messages (Web Push wakes phones
        with it); a listener must not block."""

    def register(self, session: Session, *, camera_id: str | None = None) -> None:
        table, key = (self.cameras, camera_id) if camera_id else (self.sessions,
                                                                   session.account_id)
        old = table.get(key)
        if old is not None and old is not session:
            old.close(CloseCode.REPLACED, "replaced by a newer connection")
        table[key] = session

    def unregister(self, session: Session, *, camera_id: str | None = None) -> None:
        table, key = (self.cameras, camera_id) if camera_id else (self.sessions,
                                                                   session.account_id)
        if table.get(key) is session:
            del table[key]

    def close_account(self, account_id: str, message: str) -> int:
        """Close every live session of an account (revoked): a fatal ``unauthorised`` error,
        then close 4001. Returns how many sessions were closed."""
        closed = 0
        for session in self.all_sessions():
            if session.account_id != account_id:
                continue
            error = Error(code=ErrorCode.UNAUTHORISED, message=message, fatal=True)
            payload = (msgspec.msgpack.encode(error) if session.mode == "binary"
                       else _encoder.encode(error))
            session.send(payload)
            session.close(CloseCode.UNAUTHORISED, ErrorCode.UNAUTHORISED)
            closed += 1
        return closed

    def connected(self, account_id: str) -> bool:
        return account_id in self.sessions

    def deliver(self, staged: Iterable[Staged]) -> None:
        """Push committed durable messages to whichever recipients are connected."""
        items = list(staged)
        for item in items:
            session = self.sessions.get(item.account_id)
            if session is not None:
                session.deliver(item.seq, item.payload)
        for listener in self.listeners:
            listener(items)

    def broadcast(self, role: str, message: WireMessage) -> None:
        """Send a non-durable message to every connected session of a role."""
        payload = _encoder.encode(message)
        for session in list(self.sessions.values()):
            if session.role == role:
                session.send_update(payload)

    def all_sessions(self) -> list[Session]:
        return [*self.sessions.values(), *self.cameras.values()]

    def close_camera(self, camera_id: str, *, unless_account: str, message: str) -> None:
        """Close the live stream of ``camera_id`` unless ``unless_account`` holds it (the
        camera was bound to another account): a fatal ``forbidden`` error, as at ``hello``
        for a camera not bound to the token, then close 4001."""
        session = self.cameras.get(camera_id)
        if session is not None and session.account_id != unless_account:
            session.send(msgspec.msgpack.encode(
                Error(code=ErrorCode.FORBIDDEN, message=message, fatal=True)))
            session.close(CloseCode.UNAUTHORISED, message)

    async def shutdown(self, flush_s: float) -> None:
        """Graceful stop of live traffic: close cameras (no more frames), let every send queue
        flush for up to ``flush_s``, then close every socket with 1001."""
        sessions = self.all_sessions()
        for session in list(self.cameras.values()):
            session.close(CloseCode.GOING_AWAY, "server shutting down")
        await asyncio.gather(
            *(asyncio.wait_for(s.drained(), flush_s) for s in sessions),
            return_exceptions=True,
        )
        for session in sessions:
            session.close(CloseCode.GOING_AWAY, "server shutting down")
        await asyncio.gather(
            *(asyncio.wait_for(s.closed.wait(), flush_s) for s in sessions),
            return_exceptions=True,
        )
