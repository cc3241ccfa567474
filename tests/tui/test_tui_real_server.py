"""The console against the real server (uvicorn, the fake engine and its marker faces: the
face itself is not the point here; ``tests/server/test_e2e.py`` covers real faces).

An alert raised by streaming a face appears in the queue; the photos come over REST;
assigning with the keyboard reaches the officer's socket; dismissing needs a reason; a server
restart is survived without losing or duplicating alerts.

Reuses the server tests' helpers (tests/server/conftest.py, tests/clients/conftest.py).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from textual.widgets import Button, Input, RadioSet

from tests.tui.tui_fakes import eventually

pytest.importorskip("server.app", reason="the real server is not built yet")

from shared.protocol.codec import dispatch_out
from tests.server.conftest import (
    LiveServer,
    Photos,
    ServerInfo,
    World,
    build_world,
    open_ws,
)
from tui.connection import ResumableConnection
from tui.dispatch.app import DispatchApp
from tui.dispatch.config import ConsoleSettings
from tui.dispatch.screens.detail import DetailScreen
from tui.dispatch.screens.modals import AssignScreen, DismissScreen, NoteScreen
from tui.dispatch.widgets.photo import PhotoPanel

pytestmark = pytest.mark.slow  # Textual apps against a live server: tens of seconds when busy

FRAME_S = 60.0
"""Upper bound for a frame to become an alert on a busy 2-core machine."""


def console(server: ServerInfo, token: str) -> DispatchApp:
    settings = ConsoleSettings(server=server.http, token=token, images="halfcell", bell=False)
    return DispatchApp(
        settings,
        connect=lambda: ResumableConnection(
            settings.server, token, "/ws/dispatch", dispatch_out, client="test",
            backoff_base=0.2, backoff_max=1.0, open_timeout=30, request_timeout=60,
        ),
        tick_s=None,
    )


def frame(seq: int, data: bytes) -> dict[str, Any]:
    return {"type": "frame", "seq": seq, "captured_at": time.time(), "jpeg": data}


def photo_loaded(app: DispatchApp, panel: str) -> bool:
    widget = app.screen.query_one(panel, PhotoPanel)
    return any(type(child).__name__.endswith("Image") for child in widget.children)


async def test_alert_in_queue_assign_by_keys_and_dismiss_needs_a_reason(
    live: LiveServer, photos: Photos
) -> None:
    world: World = await build_world(live, photos, second=True)
    officer, _ = await open_ws(live, "/ws/officer", world.tokens["pc1"])
    await officer.send({"type": "position", "lat": 51.5085, "lon": -0.1278})
    camera, _ = await open_ws(live, "/ws/camera", world.tokens["camera"],
                              camera_id=world.camera_id)
    app = console(live, world.tokens["dispatcher"])
    async with app.run_test(size=(120, 36)) as pilot:
        await eventually(lambda: app.state.synced and app.status.state == "connected", 30)
        assert app.account_name == "disp"
        await eventually(lambda: any(o.id == world.ids["pc1"] and o.lat is not None
                                     for o in app.state.officers.values()), 30)

        await camera.send(frame(1, photos.frame_subject))
        await eventually(lambda: len(app.state.alerts) == 1, FRAME_S)
        alert = next(iter(app.state.alerts.values()))
        assert alert.display_name == "Subject A"
        assert alert.state == "new"
        queue = app.screen.query_one("#queue")
        # The queue re-renders from the state one message later: wait for it.
        await eventually(lambda: queue.ids == [alert.id])  # type: ignore[attr-defined]

        # Detail: both photos downloaded over REST with the dispatcher's token.
        await pilot.press("enter")
        await eventually(lambda: isinstance(app.screen, DetailScreen))
        await eventually(lambda: photo_loaded(app, "#probe") and photo_loaded(app, "#reference"),
                         30)

        # Assign with the keys: the nearest available officer (pc1) is preselected.
        await pilot.press("a")
        await eventually(lambda: isinstance(app.screen, AssignScreen))
        await pilot.press("enter")
        assigned = await officer.recv_type("alert_assigned")
        assert assigned["alert"]["id"] == alert.id
        await eventually(lambda: app.state.alerts[alert.id].state == "assigned", 30)
        assert app.state.alerts[alert.id].assigned_officer_id == world.ids["pc1"]

        # The officer accepts: the console shows them busy (no longer suggested).
        await officer.send({"type": "accept", "ref": 1, "alert_id": alert.id})
        await eventually(lambda: app.state.alerts[alert.id].state == "accepted", 30)
        await eventually(lambda: app.state.officers[world.ids["pc1"]].status == "busy", 30)
        # A note typed in the console reaches the officer's socket, with the author's name.
        await pilot.press("n")
        await eventually(lambda: isinstance(app.screen, NoteScreen))
        app.screen.query_one("#note-text", Input).value = "blue jacket, heading north"
        await pilot.pause()
        await pilot.press("enter")
        while True:
            update = await officer.recv_type("alert_updated", wait_s=30)
            notes = [e for e in update["alert"]["events"] if e["action"] == "note"]
            if notes:
                break
        assert notes[0]["detail"] == "blue jacket, heading north"
        assert notes[0]["actor_name"] == "disp"

        # A second subject; dismissing it without a reason sends nothing.
        await camera.send(frame(2, photos.frame_second))
        await eventually(lambda: len(app.state.alerts) == 2, FRAME_S)
        second = next(a for a in app.state.alerts.values() if a.id != alert.id)
        await pilot.press("escape")
        await eventually(lambda: not isinstance(app.screen, DetailScreen))
        queue = app.screen.query_one("#queue")
        await eventually(lambda: queue.ids[:1] == [second.id])  # type: ignore[attr-defined]
        queue.move_cursor(row=0)  # type: ignore[attr-defined]
        await pilot.press("d")
        await eventually(lambda: isinstance(app.screen, DismissScreen))
        await pilot.click("#dismiss-ok")
        await pilot.pause()
        assert isinstance(app.screen, DismissScreen)
        # By keyboard: focus() lands on the next message cycle, and the error line shown by
        # the first click moves the buttons under a click aimed before the next layout.
        app.screen.query_one(RadioSet).focus()
        await pilot.pause()
        await pilot.press("down", "enter")  # poor_image
        app.screen.query_one("#dismiss-ok", Button).focus()
        await pilot.pause()
        await pilot.press("enter")
        await eventually(lambda: app.state.alerts[second.id].state == "dismissed", 30)
        assert app.state.alerts[second.id].dismiss_reason == "poor_image"
        assert app.state.alerts[alert.id].state == "accepted"  # the other one untouched
    for client in (officer, camera):
        await client.close()
    for api in world.api.values():
        await api.close()


async def test_server_restart_loses_and_duplicates_nothing(
    live: LiveServer, photos: Photos
) -> None:
    server = info = live  # restartable: stop() and start() keep the port and the database
    world = await build_world(info, photos, second=True)
    app = console(info, world.tokens["dispatcher"])
    try:
        async with app.run_test(size=(100, 30)):
            await eventually(lambda: app.state.synced and app.status.state == "connected", 30)
            camera, _ = await open_ws(info, "/ws/camera", world.tokens["camera"],
                                      camera_id=world.camera_id)
            await camera.send(frame(1, photos.frame_subject))
            await eventually(lambda: len(app.state.alerts) == 1, FRAME_S)
            first = next(iter(app.state.alerts))
            await camera.close()

            await server.stop()  # closes every socket with 1001
            await eventually(lambda: app.status.state == "reconnecting", 30)
            await server.start()  # same port, same database
            # An alert raised right after the restart, whether the console is back yet or
            # not, must arrive exactly once (by snapshot or by replay).
            camera, _ = await open_ws(info, "/ws/camera", world.tokens["camera"],
                                      camera_id=world.camera_id)
            await camera.send(frame(2, photos.frame_second))
            await eventually(lambda: app.status.state == "connected", 60)
            await eventually(lambda: len(app.state.alerts) == 2, FRAME_S)
            assert first in app.state.alerts
            queue = app.screen.query_one("#queue")
            # The queue re-renders on the state change message, just after the state.
            await eventually(lambda: len(queue.ids) == 2, 10)  # type: ignore[attr-defined]
            assert queue.ids.count(first) == 1  # type: ignore[attr-defined]
            await camera.close()
    finally:
        for api in world.api.values():
            await api.close()
        await server.stop()
