"""``/ws/dispatch``: snapshot after ``resume``, then deltas; dispatcher commands."""

from __future__ import annotations

import logging
from typing import Any, assert_never

from litestar import WebSocket, websocket
from sqlalchemy import or_, select

from server.auth import Principal
from server.runtime import Runtime
from server.services.alerts import AlertService
from server.store.models import Alert, Camera, Deployment, Officer
from server.store.outbox import positions
from server.store.views import (
    alert_views,
    camera_view,
    deployment_views,
    deployments_stats,
    officer_view,
)
from server.ws.commands import alert_command
from server.ws.connection import Connection, serve_json_role
from server.ws.officer import fetcher, handle_ack
from shared.protocol.base import ErrorCode
from shared.protocol.codec import dispatch_in
from shared.protocol.common import Ack, Hello, Ping, Pong, Resume
from shared.protocol.dispatch import (
    AddNote,
    AssignAlert,
    DismissAlert,
    DispatchIn,
    ReopenAlert,
    Snapshot,
)

log = logging.getLogger("vigil.ws")

RECENTLY_CLOSED_S = 3600.0
"""Closed alerts younger than this are part of the snapshot."""


def decode(raw: bytes | str) -> DispatchIn:
    return dispatch_in.decode(raw)


async def snapshot(runtime: Runtime, account_id: str) -> Snapshot:
    """The current picture for a dispatcher (see ``Snapshot``)."""
    now = runtime.clock()
    await runtime.frame_counts.flush()  # the figures include every frame answered so far
    async with runtime.db.sessions() as session:
        last_seq, _ = await positions(session, account_id)
        alerts = (
            await session.execute(
                select(Alert)
                .where(or_(Alert.state.in_(("new", "assigned", "accepted")),
                           Alert.last_seen >= now - RECENTLY_CLOSED_S))
                .order_by(Alert.first_seen)
            )
        ).scalars().all()
        officers = (await session.execute(select(Officer))).scalars().all()
        cameras = (await session.execute(select(Camera))).scalars().all()
        deps = (await session.execute(select(Deployment))).scalars().all()
        return Snapshot(
            server_time=now,
            alerts=tuple(await alert_views(session, alerts)),
            officers=tuple(officer_view(o, runtime.publisher.connected(o.id)) for o in officers),
            cameras=tuple(camera_view(c) for c in cameras),
            deployments=tuple(await deployment_views(session, deps)),
            stats=tuple(await deployments_stats(session, deps)),
            last_seq=last_seq,
            ack_timeout_s=runtime.settings.ack_timeout_s,
        )


@websocket("/ws/dispatch")
async def dispatch_socket(socket: WebSocket[Any, Any, Any]) -> None:
    """A dispatcher console."""
    await serve_json_role(socket, "dispatcher", decode, _handle)


async def _handle(
    runtime: Runtime, conn: Connection, me: Principal, message: DispatchIn
) -> None:
    """One dispatcher message (the connection turns a failure into a typed error)."""
    match message:
        case Resume():
            # The snapshot supersedes every earlier delta: acknowledge up to it and go live
            # from there.
            conn.session.hold_updates()
            snap = await snapshot(runtime, me.account_id)
            await handle_ack(runtime, me.account_id, snap.last_seq, officer=False)
            conn.send(snap)
            conn.session.release_updates()
            conn.session.go_live(snap.last_seq, fetcher(runtime, me.account_id))
        case Ack():
            await handle_ack(runtime, me.account_id, message.seq, officer=False)
        case Ping():
            conn.send(Pong(ref=message.ref, server_time=runtime.clock()))
        case AssignAlert() | DismissAlert() | AddNote() | ReopenAlert():
            await alert_command(AlertService(runtime), conn, me, message)
        case Hello():
            conn.error(ErrorCode.BAD_MESSAGE, "hello was already received")
        case _:
            assert_never(message)
