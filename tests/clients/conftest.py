"""Fixtures for the camera streamer, officer client, protocol documents and demo tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from websockets.asyncio.server import Server, ServerConnection, serve

Handler = Callable[[ServerConnection], Awaitable[None]]


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Six small distinct JPEG frames named so that name order differs from creation order."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in (3, 0, 5, 1, 4, 2):
        image = np.full((48, 64, 3), i * 40, dtype=np.uint8)
        cv2.imwrite(str(folder / f"frame_{i:02d}.jpg"), image)
    (folder / "notes.txt").write_text("not an image")
    return folder


class FakeServer:
    """A tiny websocket server on 127.0.0.1, port 0, running a handler per connection."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.server: Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = next(iter(self.server.sockets)).getsockname()[:2]
        return f"http://{host}:{port}"


@pytest.fixture
async def fake_server() -> AsyncIterator[Callable[[Handler], Awaitable[FakeServer]]]:
    """Start fake servers with the given handler; all are closed at the end of the test."""
    started: list[Server] = []

    async def start(handler: Handler) -> FakeServer:
        fake = FakeServer(handler)
        fake.server = await serve(handler, "127.0.0.1", 0)
        started.append(fake.server)
        return fake

    yield start
    for server in started:
        server.close()
        await server.wait_closed()


@pytest.fixture(scope="session")
def dlib_engine() -> object:
    """One loaded dlib engine for every test of this package that needs faces."""
    from server.recognition.dlib_engine import DlibEngine

    return DlibEngine(upsample=1)


class LiveServer:
    """The real Vigil app under uvicorn on 127.0.0.1; can be stopped and started again on the
    same port and data dir (a server restart, as clients see it)."""

    def __init__(self, data_dir: Path, engine: object) -> None:
        from server.settings import load_settings

        self.settings = load_settings(env={}, data_dir=str(data_dir), engine="dlib")
        self.engine = engine
        self.port = 0
        self.server: Any = None
        self.task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def runtime(self) -> Any:
        return self.server.config.app.state.runtime

    async def start(self) -> None:
        import socket

        import uvicorn

        from server.app import create_app

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        app = create_app(self.settings, engine=self.engine)  # type: ignore[arg-type]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.task = asyncio.create_task(self.server.serve(sockets=[sock]))
        async with asyncio.timeout(60):
            while not self.server.started:
                if self.task.done():
                    self.task.result()
                await asyncio.wait({self.task}, timeout=0.05)

    async def stop(self) -> None:
        from server.app import drain

        if self.task is None:
            return
        await drain(self.runtime)  # what `vigil serve` does on shutdown: close with 1001
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 60)
        self.task = None


@pytest.fixture
async def live_server(tmp_path: Path, dlib_engine: object) -> AsyncIterator[LiveServer]:
    server = LiveServer(tmp_path / "data", dlib_engine)
    await server.start()
    yield server
    await server.stop()
