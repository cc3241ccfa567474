"""Snapshot tests of the console (reviewed by eye; see tests/tui/__snapshots__/).

Deterministic: a scripted connection, a fixed clock, no ticking, half-block photos.
Regenerate after a reviewed change with ``pytest tests/tui --snapshot-update``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from textual.pilot import Pilot

from shared.protocol.alerts import AlertEvent
from tests.tui.tui_fakes import T0, ScriptedConnection, alert, snapshot
from tui.dispatch.app import DispatchApp
from tui.dispatch.config import ConsoleSettings

EVENTS = (
    AlertEvent(at=T0 + 120, actor="system", action="raised", actor_name="system"),
    AlertEvent(at=T0 + 150, actor="system", action="sighted", detail="similarity 0.74"),
    AlertEvent(at=T0 + 200, actor="acc-dee", action="note", actor_name="Dispatcher Dee",
               detail="checked CCTV: same jacket as the warrant photo"),
)
ASSIGNED = (
    AlertEvent(at=T0 + 60, actor="system", action="raised", actor_name="system"),
    # An older server sends no actor_name: the console shows the call sign it knows.
    AlertEvent(at=T0 + 540, actor="acc-dee", action="assigned", actor_name="Dispatcher Dee",
               detail="officer=Bravo-2"),
)


def scene() -> ScriptedConnection:
    alerts = (
        alert(1, state="assigned", assigned_officer_id="of-2", assigned_call_sign="Bravo-2",
              events=ASSIGNED),
        alert(2, similarity=0.74, sightings=2, events=EVENTS),
        alert(3, camera="cam-2", category="missing_person", similarity=0.64, flagged=True,
              display_name="Amy Lost"),
        alert(4, state="accepted", assigned_officer_id="of-1", assigned_call_sign="Alpha-1"),
        # Subject 2 again, at the other camera: the same incident as alert 2.
        alert(5, camera="cam-2", entry_id="en-2", incident_id="al-2", display_name="Subject 2",
              subject_ref="SUBJ-002", sightings=3),
    )
    return ScriptedConnection([snapshot(alerts, last_seq=5, ack_timeout_s=120)])


def app_with(face: bytes, theme: Any = "dark") -> DispatchApp:
    async def fetch(url: str) -> bytes:
        return face

    return DispatchApp(
        ConsoleSettings(server="http://test", token="t", images="halfcell", theme=theme),
        connect=scene, clock=lambda: T0 + 600, fetch_image=fetch, tick_s=None,
    )


async def settle(pilot: Pilot[Any]) -> None:
    """Let the screen finish: photo downloads done, animations over.

    Not ``workers.wait_for_complete()`` with no argument: the connection worker runs for
    the app's whole life.
    """
    await pilot.pause()
    photos = [w for w in pilot.app.workers if w.group == "photos"]
    if photos:  # an empty list would mean "all workers"
        async with asyncio.timeout(10):
            await pilot.app.workers.wait_for_complete(photos)
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


def test_main_screen_80x24(snap_compare: Any, face_png: bytes) -> None:
    assert snap_compare(app_with(face_png), terminal_size=(80, 24), run_before=settle)


def test_main_screen_light_120x36(snap_compare: Any, face_png: bytes) -> None:
    assert snap_compare(app_with(face_png, "light"), terminal_size=(120, 36),
                        run_before=settle)


async def open_detail(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await pilot.press("down", "enter")  # Subject 2's incident, with a timeline
    await settle(pilot)


def test_detail_view(snap_compare: Any, face_png: bytes) -> None:
    assert snap_compare(app_with(face_png), terminal_size=(100, 30), run_before=open_detail)


def test_detail_view_80x24(snap_compare: Any, face_png: bytes) -> None:
    assert snap_compare(app_with(face_png), terminal_size=(80, 24), run_before=open_detail)


def test_detail_view_120x36(snap_compare: Any, face_png: bytes) -> None:
    assert snap_compare(app_with(face_png), terminal_size=(120, 36), run_before=open_detail)


def test_help_80x24(snap_compare: Any, face_png: bytes) -> None:
    async def open_help(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)

    assert snap_compare(app_with(face_png), terminal_size=(80, 24), run_before=open_help)


def test_assign_modal(snap_compare: Any, face_png: bytes) -> None:
    async def open_assign(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("down", "a")
        await settle(pilot)

    assert snap_compare(app_with(face_png), terminal_size=(80, 24), run_before=open_assign)


def test_map_80x24(snap_compare: Any, face_png: bytes) -> None:
    """Below 100 columns the map takes the officers' slot (key m), its legend whole."""
    async def show_map(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)

    assert snap_compare(app_with(face_png), terminal_size=(80, 24), run_before=show_map)
