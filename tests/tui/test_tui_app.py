"""Pilot tests of the console with an injected, scripted connection (no network)."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from rich.console import Console
from rich.text import Text
from textual.screen import Screen
from textual.widgets import Button, Input, Label, RadioSet, Static

from shared.protocol.alerts import AlertEvent
from shared.protocol.common import CommandResult
from shared.protocol.dispatch import AssignAlert, DismissAlert
from shared.protocol.officer import AlertRaised, AlertUpdated
from tests.tui.tui_fakes import T0, ScriptedConnection, alert, eventually, snapshot
from tui.connection import RequestTimeout
from tui.dispatch.app import DispatchApp
from tui.dispatch.config import ConsoleSettings
from tui.dispatch.screens.detail import DetailScreen
from tui.dispatch.screens.modals import AssignScreen, DismissScreen, HelpScreen
from tui.dispatch.widgets.alert_queue import AlertQueue


async def assign_preselected(pilot: Any, app: DispatchApp,
                             conn: ScriptedConnection) -> AssignAlert:
    """Press ``a`` on the selected row and confirm the officer the dialog preselected."""
    await pilot.press("a")
    await eventually(lambda: isinstance(app.screen, AssignScreen))
    await pilot.press("enter")
    await eventually(lambda: len(conn.requests) == 1)
    command = conn.requests[0]
    assert isinstance(command, AssignAlert)
    return command


def make_app(conn: ScriptedConnection, photo: bytes = b"", **kw: Any) -> DispatchApp:
    async def fetch(url: str) -> bytes:
        if not photo:
            raise RuntimeError("HTTP 404")
        return photo

    return DispatchApp(
        ConsoleSettings(server="http://test", token="t", images="halfcell", **kw),
        connect=lambda: conn, clock=lambda: T0 + 600, fetch_image=fetch, tick_s=None,
    )


def queue_ids(app: DispatchApp) -> list[str]:
    return app.screen.query_one(AlertQueue).ids


async def test_snapshot_fills_the_queue_and_new_alerts_ring() -> None:
    conn = ScriptedConnection([snapshot((alert(1, state="assigned"), alert(2)), last_seq=2)])
    app = make_app(conn)
    bells: list[int] = []
    app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=(100, 30)) as pilot:
        await eventually(lambda: queue_ids(app) == ["al-2", "al-1"])
        await conn.deliver(AlertRaised(seq=3, alert=alert(3)))
        await pilot.pause()
        assert queue_ids(app) == ["al-3", "al-2", "al-1"]
        assert bells == [1]
        # The same alert again (a replay) rings nothing and adds no row.
        await conn.deliver(AlertRaised(seq=3, alert=alert(3)))
        await pilot.pause()
        assert queue_ids(app) == ["al-3", "al-2", "al-1"]
        assert bells == [1]
        await pilot.press("b")
        await conn.deliver(AlertRaised(seq=4, alert=alert(4)))
        await pilot.pause()
        assert bells == [1]  # bell toggled off


async def test_assign_with_keys_sends_the_preselected_nearest_available() -> None:
    conn = ScriptedConnection([snapshot((alert(1),), last_seq=1)])
    app = make_app(conn)
    async with app.run_test(size=(100, 30)) as pilot:
        await eventually(lambda: queue_ids(app) == ["al-1"])
        command = await assign_preselected(pilot, app, conn)
        assert (command.alert_id, command.officer_id) == ("al-1", "of-1")
        # Nothing changes locally until the server says so.
        assert app.state.alerts["al-1"].state == "new"
        await conn.deliver(AlertUpdated(seq=2, alert=alert(
            1, version=2, state="assigned", assigned_officer_id="of-1",
            assigned_call_sign="Alpha-1")))
        await pilot.pause()
        assert app.state.alerts["al-1"].assigned_call_sign == "Alpha-1"


def error_text(screen: Screen[Any]) -> str:
    return str(screen.query_one("#dismiss-error", Label).render())


async def test_dismiss_requires_a_reason() -> None:
    conn = ScriptedConnection([snapshot((alert(1),), last_seq=1)])
    app = make_app(conn)
    async with app.run_test(size=(100, 30)) as pilot:
        await eventually(lambda: queue_ids(app) == ["al-1"])
        await pilot.press("d")
        await eventually(lambda: isinstance(app.screen, DismissScreen))
        screen = app.screen
        await pilot.click("#dismiss-ok")
        await eventually(lambda: "Choose a reason" in error_text(screen))
        assert app.screen is screen
        assert conn.requests == []
        # "other" needs a text too. From here on by keyboard: the error line above the buttons
        # moves them, and a click aimed before the next layout lands beside the button.
        # (focus() takes effect on the next message cycle, hence the pauses.)
        screen.query_one(RadioSet).focus()
        await pilot.pause()
        await pilot.press("up", "enter")  # wraps round to the last reason: other
        screen.query_one("#dismiss-ok", Button).focus()
        await pilot.pause()
        await pilot.press("enter")
        await eventually(lambda: "Say why" in error_text(screen))
        assert conn.requests == []
        assert screen.focused is screen.query_one("#dismiss-text", Input)
        await pilot.press(*"twin brother, known to us", "enter")
        await eventually(lambda: len(conn.requests) == 1)
        command = conn.requests[0]
        assert isinstance(command, DismissAlert)
        assert command.reason == "other"
        assert command.text == "twin brother, known to us"


async def test_a_refused_command_is_shown_and_changes_nothing() -> None:
    conn = ScriptedConnection([snapshot((alert(1, state="dismissed"),), last_seq=1)])
    conn.answer = lambda cmd: CommandResult(ref=cmd.ref, ok=False, code="invalid_state",
                                            message="alert is closed")
    app = make_app(conn)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f")  # open -> all
        await eventually(lambda: queue_ids(app) == ["al-1"])
        await pilot.press("a", "enter")
        await eventually(lambda: len(conn.requests) == 1)
        await eventually(lambda: any("invalid_state" in str(n.message)
                                     for n in app._notifications))
        assert app.state.alerts["al-1"].state == "dismissed"


async def test_detail_view_search_and_help() -> None:
    conn = ScriptedConnection([snapshot((alert(1), alert(2, display_name="Jane Roe")),
                                        last_seq=2)])
    app = make_app(conn)
    async with app.run_test(size=(80, 24)) as pilot:
        await eventually(lambda: len(queue_ids(app)) == 2)
        await pilot.press("slash")
        await pilot.press(*"jane")
        await eventually(lambda: queue_ids(app) == ["al-2"])
        await pilot.press("escape", "enter")
        await eventually(lambda: isinstance(app.screen, DetailScreen))
        assert app.screen.current_alert_id == "al-2"
        assert "al-2" not in app.state.unseen
        await pilot.press("question_mark")
        await eventually(lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape", "escape")
        await eventually(lambda: not isinstance(app.screen, DetailScreen | HelpScreen))
        assert app.theme == "textual-dark"
        await pilot.press("t")
        assert app.theme == "textual-light"


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_layout_fits(size: tuple[int, int]) -> None:
    conn = ScriptedConnection([snapshot(tuple(alert(n) for n in range(1, 30)), last_seq=1)])
    app = make_app(conn)
    async with app.run_test(size=size):
        await eventually(lambda: len(queue_ids(app)) == 29)
        queue = app.screen.query_one(AlertQueue)
        assert queue.size.height >= 6
        assert queue.region.right <= size[0]


async def test_console_over_a_socket_survives_a_drop_without_duplicates() -> None:
    """The real client under the app, against the fake protocol server: drop and resume."""
    import random

    from shared.protocol.codec import dispatch_out
    from tests.tui.tui_fakes import FakeServer, consistent_snapshot
    from tui.connection import ResumableConnection
    from tui.dispatch.messages import StatusChanged
    from tui.dispatch.widgets.status_bar import StatusBar

    posted: list[object] = []

    server = FakeServer(snapshot=consistent_snapshot)
    await server.start()
    conn = ResumableConnection(server.url, server.token, "/ws/dispatch", dispatch_out,
                               backoff_base=0.4, backoff_max=0.8, rng=random.Random(2))
    app = DispatchApp(ConsoleSettings(server=server.url, token=server.token, images="none"),
                      connect=lambda: conn, tick_s=None)
    try:
        async with app.run_test(size=(100, 30), message_hook=posted.append):
            await eventually(lambda: app.status.state == "connected")
            for n in (1, 2):
                await server.push(AlertRaised(seq=0, alert=alert(n)))
            await eventually(lambda: queue_ids(app) == ["al-2", "al-1"])
            server.drop()
            await eventually(lambda: app.status.state == "reconnecting")
            # Read at once: the back-off is short and the console may be back any moment.
            bar = str(app.screen.query_one(StatusBar).render())
            assert "reconnecting in" in bar
            await server.push(AlertRaised(seq=0, alert=alert(3)))
            await server.push(AlertUpdated(seq=0, alert=alert(1, version=2, sightings=4)))
            await eventually(lambda: app.status.state == "connected")
            await eventually(lambda: queue_ids(app) == ["al-3", "al-2", "al-1"])
            assert app.state.alerts["al-1"].sightings == 4
            assert server.resumes == [0, 2]
            await eventually(lambda: server.acked == 4)
        states = [m.status.state for m in posted if isinstance(m, StatusChanged)]
        assert states == ["connecting", "connected", "reconnecting", "connected"]
    finally:
        await server.stop()


async def test_clicking_a_header_sorts_and_a_third_click_restores_priority() -> None:
    conn = ScriptedConnection([snapshot((alert(1, similarity=0.9), alert(2, similarity=0.62),
                                         alert(3, similarity=0.75)), last_seq=3)])
    app = make_app(conn)
    async with app.run_test(size=(120, 30)) as pilot:
        await eventually(lambda: queue_ids(app) == ["al-3", "al-2", "al-1"])
        queue = app.screen.query_one(AlertQueue)
        x = 1  # the left border
        for column in queue.ordered_columns:
            if column.key.value == "similarity":
                break
            x += column.get_render_width(queue)
        for expected in (["al-2", "al-3", "al-1"], ["al-1", "al-3", "al-2"],
                         ["al-3", "al-2", "al-1"]):
            await pilot.click(AlertQueue, offset=(x + 2, 1))
            await pilot.pause()
            assert queue_ids(app) == expected


class SilentServer(ScriptedConnection):
    """Answers no request until the test lets it, then times out, as a loaded server whose
    answer never came would."""

    def __init__(self, messages: list[Any]) -> None:
        super().__init__(messages)
        self.release = asyncio.Event()

    async def request(self, message: Any) -> CommandResult:
        self.requests.append(message)
        await self.release.wait()
        raise RequestTimeout(message.ref)


def facts_text(app: DispatchApp) -> str:
    """The detail's facts as the dispatcher reads them (wide, so nothing wraps)."""
    console = Console(width=200, file=io.StringIO(), color_system=None)
    console.print(app.screen.query_one("#facts", Static).content)
    return " ".join(console.file.getvalue().split())  # type: ignore[attr-defined]


def queue_cell(app: DispatchApp, row: str, column: str) -> str:
    cell = app.screen.query_one(AlertQueue).get_cell(row, column)
    return cell.plain if isinstance(cell, Text) else str(cell)


async def test_a_command_in_flight_shows_pending_then_says_it_timed_out() -> None:
    conn = SilentServer([snapshot((alert(1),), last_seq=1)])
    app = make_app(conn)
    async with app.run_test(size=(80, 24)) as pilot:
        await eventually(lambda: queue_ids(app) == ["al-1"])
        await assign_preselected(pilot, app, conn)
        await eventually(lambda: queue_cell(app, "al-1", "state") == "⧗ assign…")
        await pilot.press("enter")
        await eventually(lambda: isinstance(app.screen, DetailScreen))
        facts = facts_text(app)
        assert "⧗ assign Alpha-1: waiting for the server" in facts
        await pilot.press("escape")
        conn.release.set()
        await eventually(lambda: any("No answer from the server to 'assign Alpha-1'"
                                     in str(n.message) for n in app._notifications))
        await eventually(lambda: queue_cell(app, "al-1", "state") == "new")
        assert app.state.pending == {}


async def test_an_assignment_not_accepted_in_time_comes_back_and_is_announced() -> None:
    assigned = alert(1, state="assigned", assigned_officer_id="of-1",
                     assigned_call_sign="Alpha-1",
                     events=(AlertEvent(at=T0 + 550, actor="acc-dee", action="assigned"),))
    # A newer sighting of the same person leads the row: the time to accept still shows.
    again = alert(2, entry_id="en-1", incident_id="al-1")
    conn = ScriptedConnection([snapshot((assigned, again), last_seq=2, ack_timeout_s=120)])
    app = make_app(conn)
    bells: list[int] = []
    app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        await eventually(lambda: queue_ids(app) == ["al-1"])
        assert queue_cell(app, "al-1", "state") == "new+ack 1:10"
        assert queue_cell(app, "al-1", "officer") == "Alpha-1"
        await pilot.press("enter")
        await eventually(lambda: isinstance(app.screen, DetailScreen))
        facts = facts_text(app)
        assert "Alpha-1 (incident) 1:10 to accept" in facts
        await pilot.press("escape")
        await conn.deliver(AlertUpdated(seq=3, alert=alert(
            1, version=2, state="new", flagged=True, entry_id="en-1", incident_id="al-1")))
        await pilot.pause()
        await eventually(lambda: any("Alpha-1 did not accept Subject 1 in time"
                                     in str(n.message) for n in app._notifications))
        assert bells == [1]
        assert queue_cell(app, "al-1", "mark") == "⚑"


async def test_the_cursor_follows_its_incident_and_new_incidents_are_announced() -> None:
    conn = ScriptedConnection([snapshot((alert(1), alert(2)), last_seq=2)])
    app = make_app(conn)
    bells: list[int] = []
    app.bell = lambda: bells.append(1)  # type: ignore[method-assign]

    def selected() -> str | None:
        return app.screen.query_one(AlertQueue).selected_id

    def notes(title: str) -> list[str]:
        return [str(n.message) for n in app._notifications if n.title == title]

    async with app.run_test(size=(80, 24)) as pilot:
        await eventually(lambda: queue_ids(app) == ["al-2", "al-1"])
        await pilot.press("down")
        assert selected() == "al-1"
        # A new incident comes in above the cursor: announced (and rung); the cursor stays.
        await conn.deliver(AlertRaised(seq=3, alert=alert(3)))
        await eventually(lambda: queue_ids(app) == ["al-3", "al-2", "al-1"])
        assert selected() == "al-1"
        assert notes("New incident") == ["Subject 3 at Gate A (0.71 / 0.60)"]
        assert bells == [1]
        # A new sighting of Subject 2 at another camera joins its incident: no new row, a
        # quieter line, no bell; a sighting of Subject 1 moves nothing.
        await conn.deliver(AlertRaised(seq=4, alert=alert(
            4, camera="cam-2", entry_id="en-2", incident_id="al-2", display_name="Subject 2")))
        await conn.deliver(AlertUpdated(seq=5, alert=alert(
            1, version=2, sightings=9, last_seen=T0 + 599)))
        await eventually(lambda: len(notes("Sighting")) == 1)
        await pilot.pause()
        assert queue_ids(app) == ["al-3", "al-2", "al-1"]
        assert selected() == "al-1"
        assert "Subject 2 seen again at Gate B" in notes("Sighting")[0]
        assert bells == [1]
        # A state change reorders (assigned after new); the cursor still follows Subject 1.
        await conn.deliver(AlertUpdated(seq=6, alert=alert(
            3, version=2, state="assigned", assigned_officer_id="of-1",
            assigned_call_sign="Alpha-1")))
        await eventually(lambda: queue_ids(app) == ["al-2", "al-1", "al-3"])
        assert selected() == "al-1"


async def test_a_new_sighting_is_offered_to_the_officer_already_on_the_incident() -> None:
    # Bravo-2 (busy, farther than Alpha-1) accepted the first alert of Subject 1's incident.
    accepted = alert(1, state="accepted", assigned_officer_id="of-2",
                     assigned_call_sign="Bravo-2")
    again = alert(2, entry_id="en-1", incident_id="al-1", camera="cam-2")
    conn = ScriptedConnection([snapshot((accepted, again), last_seq=2)])
    app = make_app(conn)
    async with app.run_test(size=(80, 24)) as pilot:
        await eventually(lambda: queue_ids(app) == ["al-1"])
        command = await assign_preselected(pilot, app, conn)
        assert (command.alert_id, command.officer_id) == ("al-2", "of-2")
