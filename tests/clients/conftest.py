"""Fixtures for the camera streamer, officer client, protocol documents and demo tests (the
live server, ``live_server``, and the engines come from ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from websockets.asyncio.server import Server, ServerConnection, serve

from tests.support.live import LiveServer

__all__ = ["FakeServer", "Handler", "LiveServer"]

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
