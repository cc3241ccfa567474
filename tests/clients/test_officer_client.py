"""The officer client: state, patrol, command parsing, and a run against an in-test server
that drops the connection mid-stream and replays (no alert lost, none shown twice)."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec
import pytest
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from shared.geo import distance_m
from shared.protocol.alerts import AlertView
from shared.protocol.base import CloseCode
from shared.protocol.codec import officer_in, officer_out
from shared.protocol.common import Ack, CommandResult, Error, Hello, Limits, Resume, Welcome
from shared.protocol.officer import (
    AcceptAlert,
    AlertAssigned,
    AlertRaised,
    AlertUpdated,
    AlertWithdrawn,
    OfficerOut,
    ResolveAlert,
    UpdatePosition,
    UpdateStatus,
)
from tui.connection import ConnectionStatus
from tui.officer import OfficerOptions, run_officer
from tui.officer_cli import options_from_args, parse_point
from tui.officer_state import OfficerState, patrol
from tui.officer_view import Accept, Resolve, SetStatus, Simple, parse_command

from .conftest import FakeServer, Handler

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "protocol"
Start = Callable[[Handler], Awaitable[FakeServer]]


def _alert(alert_id: str = "al_1", version: int = 1, state: str = "new") -> AlertView:
    raised = msgspec.json.decode((GOLDEN / "officer/out/alert_raised.json").read_bytes(),
                                 type=AlertRaised)
    return msgspec.structs.replace(raised.alert, id=alert_id, version=version,
                                   state=state)  # type: ignore[arg-type]


def test_state_keeps_the_newest_version_and_ignores_replays() -> None:
    state = OfficerState()
    assert state.apply(AlertRaised(seq=1, alert=_alert("a", 1))) is not None
    assert state.apply(AlertRaised(seq=1, alert=_alert("a", 1))) is None
    assert state.apply(AlertUpdated(seq=2, alert=_alert("a", 3))) is not None
    assert state.apply(AlertUpdated(seq=3, alert=_alert("a", 2))) is None
    assert state.alerts["a"].version == 3
    assert state.alert_count == 1


def test_state_tracks_assignments_to_accept_and_resolve() -> None:
    state = OfficerState()
    state.apply(AlertAssigned(seq=1, alert=_alert("a", 2, "assigned")))
    state.apply(AlertAssigned(seq=2, alert=_alert("b", 2, "assigned")))
    assert state.to_accept() == "a"
    state.apply(AlertUpdated(seq=3, alert=_alert("a", 3, "accepted")))
    assert state.to_accept() == "b"
    assert state.to_resolve() == "a"
    state.apply(AlertWithdrawn(seq=4, alert_id="b", reason="reassigned"))
    assert state.to_accept() is None
    assert [a.id for a in state.open_alerts()] == ["a"]


def test_patrol_stays_near_its_centre_and_moves() -> None:
    centre = (51.5152, -0.1418)
    points = list(itertools.islice(patrol(*centre, radius_m=250, step_m=15, seed=3), 200))
    assert all(distance_m(*centre, *p) <= 250 * 1.2 for p in points)
    steps = [distance_m(*a, *b) for a, b in itertools.pairwise(points)]
    assert math.fsum(steps) / len(steps) > 5


def test_parse_command() -> None:
    state = OfficerState()
    assert isinstance(parse_command("a", state), str)  # nothing to accept yet
    state.apply(AlertAssigned(seq=1, alert=_alert("a", 2, "assigned")))
    assert parse_command("a", state) == Accept("a")
    assert parse_command("accept zz", state) == Accept("zz")
    assert parse_command("r c a", state) == Resolve("a", "confirmed_match")
    assert parse_command("r l a", state) == Resolve("a", "not_located")
    assert parse_command("r n a gone", state) == Resolve("a", "not_the_person", "gone")
    assert isinstance(parse_command("r bogus a", state), str)
    assert parse_command("s busy", state) == SetStatus("busy")
    assert parse_command("s off", state) == SetStatus("off_duty")
    assert parse_command("q", state) == Simple("quit")


class OfficerServer:
    """Speaks the officer role: hello, resume replay, acks, accept/resolve; drops once."""

    def __init__(self, durable: list[OfficerOut], *, drop_after_first: int) -> None:
        self.durable = durable
        self.drop_after_first = drop_after_first
        self.connections = 0
        self.resumes: list[int] = []
        self.acked = 0
        self.positions: list[UpdatePosition] = []
        self.statuses: list[str] = []
        self.commands: list[AcceptAlert | ResolveAlert] = []

    async def __call__(self, ws: ServerConnection) -> None:
        self.connections += 1
        hello = officer_in.decode(await ws.recv())
        assert isinstance(hello, Hello)
        await ws.send(officer_out.encode(Welcome(
            protocol=1, role="officer", account_id="off_1", name="PC 1", server_time=0.0,
            last_seq=len(self.durable), acked_seq=self.acked,
            limits=Limits(max_message_bytes=64000, max_frame_bytes=1, max_messages_per_second=50),
        )).decode())
        resume = officer_in.decode(await ws.recv())
        assert isinstance(resume, Resume)
        self.resumes.append(resume.last_seq)
        # Replay one already-handled message too: the client must drop the duplicate.
        start = max(0, resume.last_seq - 1)
        batch = self.durable[start:]
        if self.connections == 1:
            batch = batch[: self.drop_after_first]
        for message in batch:
            await ws.send(officer_out.encode(message).decode())
        try:
            if self.connections == 1:
                while self.acked < self.drop_after_first:
                    self._handle(officer_in.decode(await ws.recv()))
                await ws.close(1011, "simulated failure")
                return
            async for raw in ws:
                reply = self._handle(officer_in.decode(raw))
                if reply is not None:
                    await ws.send(officer_out.encode(reply).decode())
        except ConnectionClosed:
            pass

    def _handle(self, message: object) -> CommandResult | None:
        match message:
            case Ack(seq=seq):
                self.acked = max(self.acked, seq)
            case UpdatePosition():
                self.positions.append(message)
            case UpdateStatus(status=status):
                self.statuses.append(status)
            case AcceptAlert(ref=ref, alert_id=alert_id) | ResolveAlert(ref=ref, alert_id=alert_id):
                self.commands.append(message)  # type: ignore[arg-type]
                return CommandResult(ref=ref, ok=True, alert_id=alert_id)
        return None


class Recorder:
    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.states: list[str] = []
        self.results: list[tuple[str, str, bool]] = []

    def message(self, message: OfficerOut, alert: AlertView | None, received_at: float) -> None:
        self.seqs.append(getattr(message, "seq", -1))

    def status(self, status: ConnectionStatus) -> None:
        self.states.append(status.state)

    def result(self, action: str, alert_id: str, result: CommandResult) -> None:
        self.results.append((action, alert_id, result.ok))


async def test_resumes_after_a_drop_without_loss_or_duplicates(fake_server: Start) -> None:
    durable: list[OfficerOut] = [
        AlertRaised(seq=1, alert=_alert("a")),
        AlertRaised(seq=2, alert=_alert("b")),
        AlertUpdated(seq=3, alert=_alert("a", 2)),
        AlertAssigned(seq=4, alert=_alert("c", 2, "assigned")),
    ]
    fake = OfficerServer(durable, drop_after_first=2)
    server = await fake_server(fake)
    out = Recorder()
    options = OfficerOptions(server=server.url, token="t", lat=51.5, lon=-0.14, exit_after=3,
                             auto_accept=True, auto_resolve="not_located")
    summary = await asyncio.wait_for(run_officer(options, out), 60)
    assert summary.reason == "exit_after"
    assert fake.connections == 2
    assert fake.resumes == [0, 2]
    assert out.seqs == [1, 2, 3, 4]
    assert summary.alerts == 3
    assert out.states.count("connected") == 2
    assert any(p.lat == 51.5 for p in fake.positions)
    assert fake.statuses[:1] == ["available"]


async def test_auto_accept_and_resolve(fake_server: Start) -> None:
    durable: list[OfficerOut] = [AlertAssigned(seq=1, alert=_alert("c", 2, "assigned"))]
    fake = OfficerServer(durable, drop_after_first=0)
    fake.connections = 1  # skip the simulated drop
    server = await fake_server(fake)
    out = Recorder()
    stop = asyncio.Event()
    options = OfficerOptions(server=server.url, token="t", walk=(51.5, -0.14),
                             auto_accept=True, auto_resolve="confirmed_match")
    task = asyncio.create_task(run_officer(options, out, stop=stop))
    async with asyncio.timeout(30):
        while len(out.results) < 2:
            await asyncio.wait({task}, timeout=0.05)
    stop.set()
    summary = await asyncio.wait_for(task, 30)
    assert out.results == [("accept", "c", True), ("resolve", "c", True)]
    assert [type(c).__name__ for c in fake.commands] == ["AcceptAlert", "ResolveAlert"]
    assert summary.accepted == summary.resolved == 1
    assert summary.reason == "stopped"
    assert fake.positions  # the patrol reported a position


async def test_cli_json_prints_one_line_per_message(fake_server: Start) -> None:
    durable: list[OfficerOut] = [AlertRaised(seq=1, alert=_alert("a")),
                                 AlertRaised(seq=2, alert=_alert("b"))]
    fake = OfficerServer(durable, drop_after_first=0)
    fake.connections = 1
    server = await fake_server(fake)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server.cli", "officer", "--server", server.url, "--token", "t",
        "--json", "--exit-after", "2", "--lat", "51.5", "--lon", "-0.14",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    lines = [json.loads(line) for line in out.decode().splitlines()]
    assert [(m["type"], m["seq"]) for m in lines] == [("alert_raised", 1), ("alert_raised", 2)]


async def test_refusal_ends_the_client(fake_server: Start) -> None:
    async def refuse(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(officer_out.encode(
            Error(code="unauthorised", message="unknown token", fatal=True)).decode())
        await ws.close(CloseCode.UNAUTHORISED, "unauthorised")

    server = await fake_server(refuse)
    out = Recorder()
    summary = await asyncio.wait_for(
        run_officer(OfficerOptions(server=server.url, token="bad"), out), 30)
    assert summary.reason.startswith("unauthorised")
    assert out.states[-1] == "offline"
    assert "connected" not in out.states


def test_cli_options_are_validated() -> None:
    def args(**kw: object) -> argparse.Namespace:
        base: dict[str, object] = dict(server="http://x", token="t", lat=None, lon=None,
                                       walk=None, status="available", exit_after=0,
                                       auto_accept=False, auto_resolve=None)
        base.update(kw)
        return argparse.Namespace(**base)

    assert options_from_args(args(walk="51.5,-0.14")).walk == (51.5, -0.14)
    assert options_from_args(args(lat=51.5, lon=-0.1)).lat == 51.5
    for bad in (dict(lat=51.5), dict(walk="51.5"), dict(walk="95,0"),
                dict(walk="51,0", lat=1.0, lon=1.0)):
        with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
            options_from_args(args(**bad))
    assert parse_point(" 51.5 , -0.14 ") == (51.5, -0.14)


GOLDEN_RAISED = (Path(__file__).resolve().parents[2]
                 / "fixtures/protocol/officer/out/alert_raised.json").read_bytes()


def test_card_output_shows_the_dispatchers_notes_once() -> None:
    import io

    from rich.console import Console

    from shared.protocol.alerts import AlertEvent
    from tui.officer_view import CardOutput

    golden = Path(__file__).resolve().parents[2] / "fixtures/protocol/officer/out/alert_raised.json"
    raised = msgspec.json.decode(golden.read_bytes(), type=AlertRaised)
    out = io.StringIO()
    cards = CardOutput(Console(file=out, width=120, color_system=None), lambda: None)
    cards.message(raised, raised.alert, raised.alert.first_seen)
    note = AlertEvent(at=raised.alert.first_seen + 30, actor="acc-dee", action="note",
                      detail="red jacket, heading north", actor_name="Sgt Okafor")
    noted = msgspec.structs.replace(raised.alert, version=raised.alert.version + 1,
                                    events=(*raised.alert.events, note))
    update = AlertUpdated(seq=raised.seq + 1, alert=noted)
    cards.message(update, noted, noted.first_seen + 31)
    cards.message(update, noted, noted.first_seen + 32)  # a replay prints nothing new
    text = out.getvalue()
    assert text.count("note from Sgt Okafor on") == 1
    assert "red jacket, heading north" in text


async def test_card_output_shows_the_probe_and_reference_photos_not_their_urls() -> None:
    import io

    from PIL import Image as PILImage
    from rich.console import Console

    from tui.officer_view import CardOutput

    picture = io.BytesIO()
    PILImage.new("RGB", (40, 48), (200, 40, 40)).save(picture, format="PNG")
    fetched: list[str] = []

    async def fetch(url: str) -> bytes:
        fetched.append(url)
        if url.endswith("/reference"):
            raise RuntimeError("HTTP 404")
        return picture.getvalue()

    raised = msgspec.json.decode(GOLDEN_RAISED, type=AlertRaised)
    out = io.StringIO()
    cards = CardOutput(Console(file=out, width=120, color_system="truecolor"), lambda: None,
                       fetch)
    cards.message(raised, raised.alert, raised.alert.first_seen)
    await asyncio.gather(*cards._photo_tasks)
    text = out.getvalue()
    assert sorted(fetched) == sorted([raised.alert.probe_url, raised.alert.reference_url])
    assert raised.alert.probe_url not in text, "photos are drawn, not listed as URLs"
    assert "probe (camera)" in text
    assert "photo unavailable: HTTP 404" in text
    # Drawn: graphics escapes on a capable terminal, else half-blocks or shades (no tty here).
    assert any(mark in text for mark in ("▀", "▄", "░", "▒", "▓", "\x1b_G", "\x1bP"))


def test_card_output_says_state_changes_not_every_sighting() -> None:
    import io

    from rich.console import Console

    from tui.officer_view import CardOutput

    raised = msgspec.json.decode(GOLDEN_RAISED, type=AlertRaised)
    out = io.StringIO()
    cards = CardOutput(Console(file=out, width=120, color_system=None), lambda: None)
    cards.message(raised, raised.alert, raised.alert.first_seen)
    alert = raised.alert
    for n in range(1, 4):  # three more sightings: nothing to act on
        alert = msgspec.structs.replace(alert, version=alert.version + 1,
                                        sightings=alert.sightings + 1)
        cards.message(AlertUpdated(seq=raised.seq + n, alert=alert), alert, alert.last_seen)
    assert "update" not in out.getvalue()
    closed = msgspec.structs.replace(alert, version=alert.version + 1, state="dismissed")
    cards.message(AlertUpdated(seq=raised.seq + 9, alert=closed), closed, closed.last_seen)
    assert out.getvalue().count(f"update {alert.id}") == 1
    assert "dismissed" in out.getvalue()
