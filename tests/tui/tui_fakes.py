"""A tiny in-test websocket server speaking the dispatcher protocol, and builders of views.

The fake keeps a durable outbox (seq = position + 1), honours ``resume``, records acks and
commands, and can drop a connection mid-stream or replay already-acknowledged messages, so the
client's resume logic can be tested without the real server.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from shared.protocol.alerts import (
    AlertEvent,
    AlertView,
    CameraView,
    DeploymentStats,
    DeploymentView,
    OfficerView,
)
from shared.protocol.base import PROTOCOL_VERSION, CloseCode, ErrorCode
from shared.protocol.codec import ProtocolError, dispatch_in, dispatch_out
from shared.protocol.common import (
    Ack,
    CommandResult,
    Error,
    Hello,
    Limits,
    Ping,
    Pong,
    Resume,
    Welcome,
)
from shared.protocol.dispatch import Snapshot
from shared.protocol.officer import AlertRaised, AlertUpdated, AlertWithdrawn

Durable = AlertRaised | AlertUpdated | AlertWithdrawn
CommandHandler = Callable[[Any], CommandResult]


async def eventually(predicate: Callable[[], bool], within: float = 5.0) -> None:
    """Poll ``predicate`` until true; fail the test after ``within`` seconds.

    Polling, not an event: the state watched lives in other tasks (client, server, app) that
    have no reason to signal tests.
    """
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


class FakeServer:
    """Dispatcher websocket endpoint with a durable outbox.

    Args:
        token: the only token accepted.
        snapshot: builds the snapshot sent after ``resume`` (None: no snapshot).
        replay_all: replay the whole outbox on every resume, ignoring the client's
            ``last_seq`` and acks (a server that lost its ack records): the client must
            drop the duplicates.
    """

    def __init__(
        self,
        token: str = "tok-dispatch",
        *,
        snapshot: Callable[[FakeServer], Snapshot] | None = None,
        replay_all: bool = False,
    ) -> None:
        self.token = token
        self.snapshot = snapshot
        self.replay_all = replay_all
        self.outbox: list[Durable] = []
        self.acked = 0
        self.received: list[Any] = []
        self.commands: list[Any] = []
        self.handshakes = 0
        self.resumes: list[int] = []
        self.command_handler: CommandHandler = lambda cmd: CommandResult(
            ref=cmd.ref, ok=True, alert_id=getattr(cmd, "alert_id", None)
        )
        self.on_command: Callable[[Any], Awaitable[None]] | None = None
        self._server: Server | None = None
        self._live: ServerConnection | None = None
        self._lock = asyncio.Lock()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> None:
        self._server = await serve(self._handler, "127.0.0.1", port)
        self.port = next(iter(self._server.sockets)).getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self._live = None

    async def push(self, message: Durable) -> None:
        """Store a durable message (its ``seq`` is replaced) and send it if a client is live."""
        async with self._lock:
            seq = len(self.outbox) + 1
            stored = _with_seq(message, seq)
            self.outbox.append(stored)
            if self._live is not None:
                with contextlib.suppress(ConnectionClosed):
                    await self._live.send(dispatch_out.encode(stored).decode())

    async def send_live(self, message: Any) -> None:
        """Send a non-durable message (officer/stats updates) to the live client."""
        async with self._lock:
            if self._live is not None:
                with contextlib.suppress(ConnectionClosed):
                    await self._live.send(dispatch_out.encode(message).decode())

    def drop(self) -> None:
        """Cut the live connection without a close frame, as a network failure would."""
        if self._live is not None:
            self._live.transport.abort()
            self._live = None

    @property
    def live(self) -> bool:
        return self._live is not None

    async def _handler(self, ws: ServerConnection) -> None:
        try:
            async with asyncio.timeout(5):
                raw = await ws.recv()
            try:
                hello = dispatch_in.decode(raw)
            except ProtocolError as exc:
                await self._refuse(ws, ErrorCode.BAD_MESSAGE, exc.message, CloseCode.BAD_HELLO)
                return
            if not isinstance(hello, Hello):
                await self._refuse(ws, ErrorCode.HELLO_REQUIRED, "", CloseCode.BAD_HELLO)
                return
            if hello.token != self.token:
                await self._refuse(ws, ErrorCode.UNAUTHORISED, "bad token",
                                   CloseCode.UNAUTHORISED)
                return
            self.handshakes += 1
            welcome = Welcome(
                protocol=PROTOCOL_VERSION, role="dispatcher", account_id="d1",
                name="Dispatcher Dee", server_time=time.time(), last_seq=len(self.outbox),
                acked_seq=self.acked,
                limits=Limits(max_message_bytes=64000, max_frame_bytes=0,
                              max_messages_per_second=50),
            )
            await ws.send(dispatch_out.encode(welcome).decode())
            async with asyncio.timeout(5):
                resume = dispatch_in.decode(await ws.recv())
            assert isinstance(resume, Resume)
            self.resumes.append(resume.last_seq)
            start = 0 if self.replay_all else resume.last_seq
            async with self._lock:
                if self.snapshot is not None:
                    await ws.send(dispatch_out.encode(self.snapshot(self)).decode())
                for message in self.outbox[start:]:
                    await ws.send(dispatch_out.encode(message).decode())
                self._live = ws
            async for raw in ws:
                await self._on_message(ws, dispatch_in.decode(raw))
        except ConnectionClosed:
            pass
        finally:
            if self._live is ws:
                self._live = None

    async def _on_message(self, ws: ServerConnection, message: Any) -> None:
        self.received.append(message)
        if isinstance(message, Ack):
            if not self.replay_all:
                self.acked = max(self.acked, message.seq)
        elif isinstance(message, Ping):
            await ws.send(dispatch_out.encode(Pong(ref=message.ref)).decode())
        elif hasattr(message, "ref"):
            self.commands.append(message)
            result = self.command_handler(message)
            await ws.send(dispatch_out.encode(result).decode())
            if self.on_command is not None and result.ok:
                await self.on_command(message)

    async def _refuse(self, ws: ServerConnection, code: str, text: str, close: int) -> None:
        await ws.send(dispatch_out.encode(Error(code=code, message=text, fatal=True)).decode())
        await ws.close(close, code)


def _with_seq(message: Durable, seq: int) -> Durable:
    if isinstance(message, AlertWithdrawn):
        return AlertWithdrawn(seq=seq, alert_id=message.alert_id, reason=message.reason)
    if isinstance(message, AlertRaised):
        return AlertRaised(seq=seq, alert=message.alert, route=message.route)
    return AlertUpdated(seq=seq, alert=message.alert)


# -- builders of deterministic views ----------------------------------------------------------

T0 = 1_790_000_000.0
"""A fixed epoch (2026-09-21) so that snapshots never depend on the wall clock."""


def alert(
    n: int,
    *,
    version: int = 1,
    state: str = "new",
    similarity: float = 0.71,
    camera: str = "cam-1",
    category: str = "wanted_serious_crime",
    deployment: str = "dep-1",
    **changes: Any,
) -> AlertView:
    """A plausible alert numbered ``n`` (first seen ``n`` minutes after :data:`T0`)."""
    cams = {"cam-1": ("Gate A", "King's Cross, exit 1", 51.5308, -0.1238),
            "cam-2": ("Gate B", "St Pancras, concourse", 51.5322, -0.1260)}
    name, place, lat, lon = cams.get(camera, (camera, "unknown", None, None))
    fields: dict[str, Any] = dict(
        id=f"al-{n}", version=version, deployment_id=deployment, camera_id=camera,
        camera_name=name, place="King's Cross and St Pancras", camera_place=place, lat=lat,
        lon=lon, entry_id=f"en-{n}", incident_id=f"al-{n}",
        subject_ref=f"SUBJ-{n:03d}", display_name=f"Subject {n}", category=category,
        reason="Court warrant for armed robbery", legal_basis="PACE s.24, warrant 12/2026",
        reference_image_date="2026-03-14", similarity=similarity, threshold=0.6,
        first_seen=T0 + 60 * n, last_seen=T0 + 60 * n + 5, sightings=1, state=state,
        probe_url=f"/api/alerts/al-{n}/probe", reference_url=f"/api/alerts/al-{n}/reference",
        events=(AlertEvent(at=T0 + 60 * n, actor="system", action="raised"),),
    )
    fields.update(changes)
    return AlertView(**fields)


def officers() -> tuple[OfficerView, ...]:
    return (
        OfficerView(id="of-1", call_sign="Alpha-1", status="available", lat=51.5312,
                    lon=-0.1229, last_seen=T0 + 590, connected=True),
        OfficerView(id="of-2", call_sign="Bravo-2", status="busy", lat=51.5300,
                    lon=-0.1240, last_seen=T0 + 500, connected=True),
        OfficerView(id="of-3", call_sign="Charlie-3", status="available", lat=51.5260,
                    lon=-0.1320, last_seen=T0 + 300, connected=True),
        OfficerView(id="of-4", call_sign="Delta-4", status="off_duty", lat=None, lon=None,
                    last_seen=None, connected=False),
    )


def cameras() -> tuple[CameraView, ...]:
    return (
        CameraView(id="cam-1", name="Gate A", lat=51.5308, lon=-0.1238),
        CameraView(id="cam-2", name="Gate B", lat=51.5322, lon=-0.1260),
    )


def deployments() -> tuple[DeploymentView, ...]:
    return (
        DeploymentView(
            id="dep-1", name="Op Lantern", purpose="locate_serious_crime_suspect",
            place="King's Cross", lat=51.5310, lon=-0.1240, camera_ids=("cam-1", "cam-2"),
            watchlist_id="wl-1", threshold=0.6, notify_radius_m=500.0, starts_at=T0,
            ends_at=T0 + 8 * 3600, active=True,
        ),
    )


def stats() -> tuple[DeploymentStats, ...]:
    return (
        DeploymentStats(
            deployment_id="dep-1", faces_processed=12120, frames_processed=3000, alerts=11,
            dismissed=2, confirmed=7, not_the_person=1, not_located=1, adjudicated=11,
            false_alerts=3, false_alert_rate=3 / 12120, precision=7 / 11,
        ),
    )


def snapshot(alerts: tuple[AlertView, ...] = (), last_seq: int = 0,
             ack_timeout_s: float = 0.0) -> Snapshot:
    return Snapshot(
        server_time=T0 + 600, alerts=alerts, officers=officers(), cameras=cameras(),
        deployments=deployments(), stats=stats(), last_seq=last_seq,
        ack_timeout_s=ack_timeout_s,
    )


class ScriptedConnection:
    """A connection without a socket: delivers ``messages`` on run, answers requests.

    For snapshot and Pilot tests that need a deterministic state and no network.
    """

    def __init__(self, messages: list[Any], name: str = "Dispatcher Dee") -> None:
        from tui.connection import ConnectionStatus

        self.messages = messages
        self.requests: list[Any] = []
        self.answer: CommandHandler = lambda cmd: CommandResult(ref=cmd.ref, ok=True)
        self._status = ConnectionStatus(state="connected", name=name)
        self._closed = asyncio.Event()
        self._ref = 0
        self.on_message: Callable[[Any], Any] | None = None

    @property
    def last_seq(self) -> int:
        return 0

    def next_ref(self) -> int:
        self._ref += 1
        return self._ref

    async def run(self, on_message: Any, on_status: Any) -> None:
        self.on_message = on_message
        on_status(self._status)
        for message in self.messages:
            on_message(message)
        await self._closed.wait()

    async def deliver(self, message: Any) -> None:
        """Hand one more server message to the app, as the socket would."""
        assert self.on_message is not None
        self.on_message(message)

    async def send(self, message: Any) -> None:
        self.requests.append(message)

    async def request(self, message: Any) -> CommandResult:
        self.requests.append(message)
        return self.answer(message)

    async def close(self) -> None:
        self._closed.set()


def consistent_snapshot(server: FakeServer) -> Snapshot:
    """What a real server's snapshot holds: every alert at its latest version, and the seq
    it reflects (so the replay after it carries only newer messages)."""
    alerts: dict[str, AlertView] = {}
    for message in server.outbox:
        if isinstance(message, AlertWithdrawn):
            alerts.pop(message.alert_id, None)
        elif message.alert.id not in alerts or alerts[message.alert.id].version < (
            message.alert.version
        ):
            alerts[message.alert.id] = message.alert
    return snapshot(tuple(alerts.values()), last_seq=len(server.outbox))
