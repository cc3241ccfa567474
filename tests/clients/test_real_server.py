"""The camera streamer and the officer client against the real server, across a restart.

No deployment is active, so frames are answered ``no_active_deployment`` without being
decoded (cheap); the point here is the clients' handshake, reconnection and resumption when
the server goes away (close 1001) and comes back on the same port with the same database.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from server.auth import create_account
from shared.protocol.alerts import AlertView
from shared.protocol.common import CommandResult
from shared.protocol.officer import OfficerOut
from tui.camera import CameraOptions, CameraStats, stream_camera
from tui.connection import ConnectionStatus
from tui.officer import OfficerOptions, run_officer

from .conftest import LiveServer


class Statuses:
    def __init__(self) -> None:
        self.states: list[str] = []

    def message(self, message: OfficerOut, alert: AlertView | None, received_at: float) -> None:
        pass

    def status(self, status: ConnectionStatus) -> None:
        self.states.append(status.state)

    def result(self, action: str, alert_id: str, result: CommandResult) -> None:
        pass


async def _until(predicate: Callable[[], bool], what: str, limit_s: float = 60) -> None:
    """Poll ``predicate`` every 50 ms; fail after ``limit_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    never = asyncio.Event()
    while not predicate():
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(never.wait(), 0.05)


async def test_camera_and_officer_survive_a_server_restart(
    live_server: LiveServer, image_folder: Path
) -> None:
    runtime = live_server.runtime
    async with runtime.write_lock, runtime.db.sessions() as session, session.begin():
        _, admin = await create_account(session, role="admin", name="a", now=runtime.clock())
        cam_account, cam_token = await create_account(session, role="camera", name="c",
                                                      now=runtime.clock())
        _, officer_token = await create_account(session, role="officer", name="PC 9",
                                                      now=runtime.clock())
    async with httpx.AsyncClient(base_url=live_server.url, trust_env=False) as client:
        response = await client.post(
            "/api/cameras", headers={"Authorization": f"Bearer {admin}"},
            json={"id": "cam-test", "name": "Test", "lat": 51.5, "lon": -0.14,
                  "account_id": cam_account.id})
        assert response.status_code == 201, response.text
    stop = asyncio.Event()
    stats = CameraStats()
    camera = asyncio.create_task(stream_camera(CameraOptions(
        server=live_server.url, token=cam_token, camera_id="cam-test",
        source=str(image_folder), loop=True, fps=20, backoff_initial_s=0.1,
        backoff_max_s=0.5), stop=stop, stats=stats))
    seen = Statuses()
    officer_task = asyncio.create_task(run_officer(OfficerOptions(
        server=live_server.url, token=officer_token, lat=51.5, lon=-0.14, backoff_max_s=1.0,
    ), seen, stop=stop))

    await _until(lambda: stats.frames_acknowledged >= 3 and "connected" in seen.states,
                 "first connections")
    await live_server.stop()
    acked_before = stats.frames_acknowledged
    await live_server.start()
    await _until(lambda: stats.frames_acknowledged >= acked_before + 3
                 and seen.states.count("connected") >= 2, "reconnections")
    stop.set()
    summary = await asyncio.wait_for(camera, 30)
    officer_summary = await asyncio.wait_for(officer_task, 30)

    assert summary.error is None
    assert summary.reconnects >= 1
    # Every frame was refused unmatched (no deployment) or lost to the latest-frame-wins slot.
    assert summary.no_active_deployment + summary.dropped_server == summary.frames_acknowledged
    assert summary.frames_processed == 0
    assert summary.faces_seen == 0
    assert "reconnecting" in seen.states
    assert officer_summary.reason == "stopped"
