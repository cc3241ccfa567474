"""``/ws/officer``: alerts routed to an officer; position, status, accept and resolve."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any, assert_never

from litestar import WebSocket, websocket

from server.auth import Principal
from server.runtime import Runtime
from server.services.alerts import AlertService
from server.store.group_commit import OfficerUpdate
from server.store.models import Officer
from server.store.outbox import pending, positions
from server.store.views import officer_view
from server.ws.commands import alert_command
from server.ws.connection import Connection, serve_json_role
from server.ws.session import FetchPending
from shared.protocol.base import ErrorCode, OfficerStatus
from shared.protocol.codec import officer_in
from shared.protocol.common import Ack, Hello, Ping, Pong, Resume
from shared.protocol.dispatch import OfficerUpdated
from shared.protocol.officer import (
    AcceptAlert,
    DeclineAlert,
    OfficerIn,
    ResolveAlert,
    UpdatePosition,
    UpdateStatus,
)

log = logging.getLogger("vigil.ws")

REPLAY_BATCH = 100


def decode(raw: bytes | str) -> OfficerIn:
    return officer_in.decode(raw)


def fetcher(runtime: Runtime, account_id: str) -> FetchPending:
    """Reads this recipient's outbox after a seq (for :meth:`Session.go_live`)."""

    async def fetch(after: int) -> Sequence[tuple[int, bytes]]:
        async with runtime.db.sessions() as session:
            return await pending(session, account_id, after, REPLAY_BATCH)

    return fetch


async def handle_ack(runtime: Runtime, account_id: str, seq: int, *, officer: bool) -> None:
    """Record an acknowledgement; returns once committed (shared with concurrent acks)."""
    await runtime.acks.ack(account_id, seq, runtime.clock(), officer=officer)


async def resume_point(runtime: Runtime, conn: Connection, account_id: str,
                       last_seq: int) -> int:
    """Where durable delivery resumes: after ``last_seq``, or after the last seq issued to
    this account when ``last_seq`` is above it (answered with a non-fatal ``bad_message``).

    A client cannot have handled a seq the server never issued (a phone restored from another
    server's backup, a bug). Resuming after it would skip every message up to it, so the
    client would silently receive nothing for a long time; resuming from what was really
    issued keeps messages flowing, and the error tells the client its counter is wrong.
    """
    async with runtime.db.sessions() as session:
        issued, _ = await positions(session, account_id)
    if last_seq <= issued:
        return last_seq
    conn.error(ErrorCode.BAD_MESSAGE,
               f"resume last_seq {last_seq} is above the last seq issued to this account "
               f"({issued}): resuming after {issued}")
    return issued


async def officer_changed(runtime: Runtime, officer_id: str) -> None:
    """Tell dispatchers about an officer's position, status or connection (not durable)."""
    async with runtime.db.sessions() as session:
        officer = await session.get(Officer, officer_id)
    if officer is not None:
        runtime.publisher.broadcast("dispatcher", OfficerUpdated(
            officer=officer_view(officer, runtime.publisher.connected(officer_id))))


@websocket("/ws/officer")
async def officer_socket(socket: WebSocket[Any, Any, Any]) -> None:
    """A field officer's phone (or the terminal officer client)."""
    await serve_json_role(socket, "officer", decode, _handle, officer_changed)


async def _handle(
    runtime: Runtime, conn: Connection, me: Principal, message: OfficerIn
) -> None:
    """One officer message (the connection turns a failure into a typed error)."""
    match message:
        case Resume():
            after = await resume_point(runtime, conn, me.account_id, message.last_seq)
            await handle_ack(runtime, me.account_id, after, officer=True)
            conn.session.go_live(after, fetcher(runtime, me.account_id))
        case Ack():
            await handle_ack(runtime, me.account_id, message.seq, officer=True)
        case Ping():
            conn.send(Pong(ref=message.ref, server_time=runtime.clock()))
        case UpdatePosition():
            if not (-90 <= message.lat <= 90 and -180 <= message.lon <= 180):
                conn.error(ErrorCode.BAD_MESSAGE, "position out of range")
                return
            await _update(runtime, me.account_id, lat=message.lat, lon=message.lon)
        case UpdateStatus():
            await _update(runtime, me.account_id, status=message.status)
        case AcceptAlert() | DeclineAlert() | ResolveAlert():
            await alert_command(AlertService(runtime), conn, me, message,
                                then=functools.partial(_after_command, runtime, me, message))
        case Hello():
            conn.error(ErrorCode.BAD_MESSAGE, "hello was already received")
        case _:
            assert_never(message)


async def _update(
    runtime: Runtime, officer_id: str, *, lat: float | None = None, lon: float | None = None,
    status: OfficerStatus | None = None,
) -> None:
    # Group-committed with other officers' updates: 1,000 officers reporting their positions
    # as they connect would otherwise hold the store's writer (and the next alert) for seconds.
    await runtime.officer_updates.submit(officer_id,
                                         OfficerUpdate(lat, lon, status, runtime.clock()))
    await officer_changed(runtime, officer_id)


async def _after_command(
    runtime: Runtime, me: Principal, message: AcceptAlert | DeclineAlert | ResolveAlert
) -> None:
    # Accepting makes the officer busy until they resolve (so the nearest-officer suggestion
    # skips them); resolving makes them available again. Written before the result, so a
    # client that reads the result sees the new status everywhere.
    if isinstance(message, AcceptAlert):
        await _update(runtime, me.account_id, status="busy")
    elif isinstance(message, ResolveAlert):
        await _update(runtime, me.account_id, status="available")
