"""The resumable client against a fake protocol server: no duplicates, nothing missed."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.protocol.codec import dispatch_out
from shared.protocol.common import Ack, CommandResult
from shared.protocol.dispatch import AssignAlert, DismissAlert, Snapshot
from shared.protocol.officer import AlertRaised, AlertUpdated
from tests.tui.tui_fakes import FakeServer, alert, eventually, snapshot
from tui.connection import (
    ConnectionStatus,
    NotConnected,
    RequestTimeout,
    ResumableConnection,
    http_url,
    websocket_url,
)


class Client:
    """Runs a connection in a task and records what it delivers."""

    def __init__(self, conn: ResumableConnection[Any]) -> None:
        self.conn = conn
        self.messages: list[Any] = []
        self.statuses: list[ConnectionStatus] = []
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.conn.run(self.messages.append, self.statuses.append))

    @property
    def seqs(self) -> list[int]:
        return [m.seq for m in self.messages if hasattr(m, "seq")]

    @property
    def state(self) -> str:
        return self.statuses[-1].state if self.statuses else ""

    async def stop(self) -> None:
        await self.conn.close()
        if self.task is not None:
            async with asyncio.timeout(5):
                await self.task


def make_conn(server: FakeServer, token: str | None = None, **kw: Any) -> Client:
    conn = ResumableConnection(
        server.url, token or server.token, "/ws/dispatch", dispatch_out,
        client="test", backoff_base=0.05, backoff_max=0.2, rng=random.Random(1), **kw,
    )
    return Client(conn)


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    srv = FakeServer()
    await srv.start()
    yield srv
    await srv.stop()


async def test_messages_arrive_in_order_and_are_acked(server: FakeServer) -> None:
    for n in (1, 2, 3):
        await server.push(AlertRaised(seq=0, alert=alert(n)))
    client = make_conn(server)
    client.start()
    await eventually(lambda: server.acked == 3)
    assert client.seqs == [1, 2, 3]
    assert client.state == "connected"
    assert client.statuses[-1].name == "Dispatcher Dee"
    assert server.resumes == [0]
    await server.push(AlertUpdated(seq=0, alert=alert(1, version=2)))
    await eventually(lambda: server.acked == 4)
    assert client.conn.last_seq == 4
    await client.stop()
    assert client.state == "offline"


async def test_drop_mid_stream_resumes_without_loss_or_duplicate(server: FakeServer) -> None:
    client = make_conn(server)
    client.start()
    await eventually(lambda: server.live)
    for n in (1, 2, 3):
        await server.push(AlertRaised(seq=0, alert=alert(n)))
    await eventually(lambda: server.acked == 3)
    server.drop()
    # Messages produced while the client is away wait in the outbox.
    for n in (4, 5):
        await server.push(AlertRaised(seq=0, alert=alert(n)))
    await eventually(lambda: client.seqs == [1, 2, 3, 4, 5])
    assert server.resumes == [0, 3]
    assert any(s.state == "reconnecting" and s.retry_in > 0 for s in client.statuses)
    assert client.state == "connected"
    await eventually(lambda: server.acked == 5)
    await client.stop()


async def test_replayed_duplicates_are_dropped_but_acknowledged() -> None:
    server = FakeServer(replay_all=True)  # forgets acks: replays everything on every resume
    await server.start()
    try:
        client = make_conn(server)
        client.start()
        for n in (1, 2):
            await server.push(AlertRaised(seq=0, alert=alert(n)))
        await eventually(lambda: client.seqs == [1, 2])
        server.drop()
        await server.push(AlertRaised(seq=0, alert=alert(3)))
        await eventually(lambda: server.handshakes == 2 and client.seqs == [1, 2, 3])
        # Re-acks of the duplicates tell the server the client already has them.
        await eventually(lambda: len([m for m in server.received if isinstance(m, Ack)]) >= 5)
        acks = [m.seq for m in server.received if isinstance(m, Ack)]
        assert acks[-3:] == [2, 2, 3]
        assert client.seqs == [1, 2, 3]
        await client.stop()
    finally:
        await server.stop()


async def test_server_restart_is_survived() -> None:
    server = FakeServer()
    await server.start()
    port = server.port
    client = make_conn(server)
    client.start()
    await server.push(AlertRaised(seq=0, alert=alert(1)))
    await eventually(lambda: server.acked == 1)
    outbox, acked = server.outbox, server.acked
    await server.stop()
    await eventually(lambda: client.state == "reconnecting")
    # The "restarted" server keeps its durable outbox, as the real one keeps it in the store.
    restarted = FakeServer()
    restarted.outbox, restarted.acked = outbox, acked
    await restarted.push(AlertRaised(seq=0, alert=alert(2)))
    await restarted.start(port)
    try:
        await eventually(lambda: client.seqs == [1, 2])
        assert restarted.resumes == [1]
        await client.stop()
    finally:
        await restarted.stop()


async def test_snapshot_moves_last_seq_so_older_replays_are_skipped() -> None:
    server = FakeServer(snapshot=lambda srv: snapshot((alert(1), alert(2)), last_seq=2))
    await server.start()
    try:
        for n in (1, 2, 3):
            await server.push(AlertRaised(seq=0, alert=alert(n)))
        client = make_conn(server)
        client.start()
        await eventually(lambda: client.conn.last_seq == 3)
        assert isinstance(client.messages[0], Snapshot)
        assert client.seqs == [3]
        await client.stop()
    finally:
        await server.stop()


async def test_server_with_fresh_history_is_not_ignored(server: FakeServer) -> None:
    # The client believes it handled seq 40; the server restarted from an empty outbox.
    client = make_conn(server, last_seq=40)
    client.start()
    await eventually(lambda: server.live)
    await server.push(AlertRaised(seq=0, alert=alert(1)))
    await eventually(lambda: client.seqs == [1])
    assert server.resumes == [0]
    await client.stop()


async def test_bad_token_goes_offline_without_retrying(server: FakeServer) -> None:
    client = make_conn(server, token="wrong")
    client.start()
    assert client.task is not None
    async with asyncio.timeout(5):
        await client.task
    assert client.state == "offline"
    assert "unauthorised" in client.statuses[-1].reason
    assert server.handshakes == 0
    assert not any(s.state == "reconnecting" for s in client.statuses)


async def test_unreachable_server_keeps_retrying_with_a_countdown() -> None:
    server = FakeServer()
    await server.start()
    port = server.port
    await server.stop()  # nothing listens on the port any more
    client = make_conn(server)
    client.start()
    await eventually(lambda: sum(s.state == "reconnecting" for s in client.statuses) >= 3)
    attempts = [s.attempt for s in client.statuses if s.state == "reconnecting"]
    assert attempts == sorted(attempts)
    assert attempts[-1] >= 2
    assert "cannot connect" in client.statuses[-1].reason
    # Start listening again on the same port: the client gets in by itself.
    await server.start(port)
    try:
        await eventually(lambda: client.state == "connected")
        await client.stop()
    finally:
        await server.stop()


async def test_request_resolves_with_the_servers_result(server: FakeServer) -> None:
    client = make_conn(server)
    with pytest.raises(NotConnected):
        await client.conn.request(AssignAlert(ref=1, alert_id="al-1", officer_id="of-1"))
    client.start()
    await eventually(lambda: server.live)
    ok = await client.conn.request(
        AssignAlert(ref=client.conn.next_ref(), alert_id="al-1", officer_id="of-1")
    )
    assert ok.ok
    assert ok.alert_id == "al-1"
    server.command_handler = lambda cmd: CommandResult(
        ref=cmd.ref, ok=False, code="invalid_state", message="alert already dismissed"
    )
    refused = await client.conn.request(
        DismissAlert(ref=client.conn.next_ref(), alert_id="al-1", reason="poor_image")
    )
    assert not refused.ok
    assert refused.code == "invalid_state"
    assert [c.ref for c in server.commands] == [1, 2]
    # Results are answers to requests, not messages for the UI.
    assert not any(isinstance(m, CommandResult) for m in client.messages)
    await client.stop()


async def test_request_times_out_when_the_server_stays_silent(server: FakeServer) -> None:
    client = make_conn(server, request_timeout=0.2)
    client.start()
    await eventually(lambda: server.live)
    server.command_handler = lambda cmd: CommandResult(ref=cmd.ref + 1000, ok=True)
    with pytest.raises(RequestTimeout):
        await client.conn.request(AssignAlert(ref=7, alert_id="al-1", officer_id="of-1"))
    await client.stop()


def test_backoff_grows_is_capped_and_jittered() -> None:
    conn = ResumableConnection(
        "http://h", "t", "/ws/dispatch", dispatch_out, backoff_base=1.0, backoff_max=8.0,
        rng=random.Random(3),
    )
    delays = [conn.backoff_delay(a) for a in range(1, 8)]
    for attempt, delay in enumerate(delays, start=1):
        ceiling = min(8.0, 2.0 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert len({round(d, 6) for d in delays[4:]}) > 1  # jitter: capped delays still differ


def test_urls() -> None:
    assert websocket_url("http://h:1", "/ws/dispatch") == "ws://h:1/ws/dispatch"
    assert websocket_url("https://h/", "ws/officer") == "wss://h/ws/officer"
    assert websocket_url("h:1", "/ws/x") == "ws://h:1/ws/x"
    assert http_url("ws://h:1") == "http://h:1"
    assert http_url("h:1") == "http://h:1"
