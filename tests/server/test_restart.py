"""Durable delivery across a SIGKILL of the server process: nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import (
    Photos,
    ServerInfo,
    WsClient,
    build_world,
    make_settings,
    open_ws,
)

pytestmark = pytest.mark.real_engine  # real faces are the point here

ROOT = Path(__file__).resolve().parents[2]


class ProcServer(ServerInfo):
    """``vigil serve`` in a child process (so that it can be SIGKILLed)."""

    def __init__(self, data_dir: Path) -> None:
        self.settings = make_settings(data_dir.parent, data_dir=str(data_dir))
        self.proc: asyncio.subprocess.Process | None = None
        self.port = 0
        self.log = data_dir.parent / f"server-{time.monotonic_ns()}.log"

    async def start(self) -> None:
        env = {**os.environ, "VIGIL_UPSAMPLE": "1", "VIGIL_WORKERS": "2"}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server.cli", "serve", "--port", "0", "--engine", "dlib",
            "--data-dir", self.settings.data_dir, "--log-level", "INFO",
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=self.log.open("wb"),
        )
        assert self.proc.stdout is not None
        async with asyncio.timeout(120):
            while True:
                line = (await self.proc.stdout.readline()).decode()
                assert line, "server exited before listening"
                m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
                if m:
                    self.port = int(m.group(1))
                    return

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(self.proc.wait(), 30)

    async def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.proc.wait(), 60)


def frame(seq: int, data: bytes) -> dict[str, Any]:
    return {"type": "frame", "seq": seq, "captured_at": time.time(), "jpeg": data}


async def nothing_more(client: WsClient, ref: int) -> None:
    """The next message after a ping is its pong: no duplicate was queued before it."""
    await client.send({"type": "ping", "ref": ref})
    msg = await client.recv()
    assert msg["type"] == "pong", msg


@pytest.mark.slow
async def test_sigkill_between_alert_and_ack(tmp_path: Path, photos: Photos) -> None:
    server = ProcServer(tmp_path / "data")
    await server.start()
    try:
        world = await build_world(server, photos, second=True)
        officer, _ = await open_ws(server, "/ws/officer", world.tokens["pc1"])
        await officer.send({"type": "position", "lat": 51.5080, "lon": -0.1278})
        await nothing_more(officer, 1)
        camera, _ = await open_ws(server, "/ws/camera", world.tokens["camera"],
                                  camera_id=world.camera_id)
        await camera.send(frame(1, photos.frame_subject))
        first = await officer.recv()
        assert first["type"] == "alert_raised"
        assert first["seq"] == 1
        await officer.close()  # received, never acknowledged

        # A second alert while the officer is away, then the server dies.
        await camera.send(frame(2, photos.frame_second))
        result = await camera.recv()
        while result["seq"] != 2:
            result = await camera.recv()
        assert result["status"] == "processed", result
        await server.kill()
    finally:
        if server.proc and server.proc.returncode is None:
            await server.kill()

    restarted = ProcServer(tmp_path / "data")
    await restarted.start()
    try:
        officer, welcome = await open_ws(restarted, "/ws/officer", world.tokens["pc1"],
                                         resume=None)
        assert welcome["last_seq"] == 2
        assert welcome["acked_seq"] == 0
        await officer.send({"type": "resume", "last_seq": 1})
        second = await officer.recv()
        assert second["type"] == "alert_raised"
        assert second["seq"] == 2
        assert second["alert"]["display_name"] == "Subject B"
        assert second["alert"]["id"] != first["alert"]["id"]
        await nothing_more(officer, 2)
        await officer.send({"type": "ack", "seq": 2})
        await nothing_more(officer, 3)
        await officer.close()

        officer, welcome = await open_ws(restarted, "/ws/officer", world.tokens["pc1"],
                                         resume=2)
        assert welcome["acked_seq"] == 2
        await nothing_more(officer, 4)
        await officer.close()
        # SIGTERM: graceful stop (uvicorn re-raises the signal once it has shut down).
        assert await restarted.terminate() in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in restarted.log.read_text()
    finally:
        if restarted.proc and restarted.proc.returncode is None:
            await restarted.kill()
