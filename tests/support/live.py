"""The real Vigil app under uvicorn on 127.0.0.1, in the test's own event loop."""

from __future__ import annotations

import asyncio
import atexit
import shutil
import socket
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import uvicorn
from litestar import Litestar

from server.app import create_app, drain, websocket_transport
from server.recognition.engine import FaceEngine
from server.runtime import AuditHook, Clock, Runtime
from server.settings import Settings, load_settings
from server.store.db import Database
from tests.support.poll import poll

START_S = 60.0
"""Upper bound for the server to start or stop on a busy 2-core machine."""


_template: list[Path] = []
"""The pre-migrated SQLite file of this test session (made on first use)."""


def _sqlite_path(settings: Settings) -> Path | None:
    url = settings.database_url
    if not url.startswith("sqlite"):
        return None
    path = url.split(":///", 1)[-1]
    return Path(path) if path and path != ":memory:" else None


def template_database() -> Path:
    """The session's migrated SQLite file, made on first use with the server's own
    ``Database.migrate`` (in a thread of its own, so that it works whether or not an event
    loop runs here) and removed when the session ends. :func:`make_settings` copies it into
    every new data dir, so no test server migrates from scratch."""
    if _template:
        return _template[0]
    folder = Path(tempfile.mkdtemp(prefix="vigil-template-db-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "vigil.db"
    db_url = f"sqlite+aiosqlite:///{path}"

    async def migrate() -> None:
        db = Database(db_url)
        try:
            await db.migrate()
        finally:
            await db.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, migrate()).result()
    _template.append(path)
    return path


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Test settings: data under ``tmp_path/data``, two workers, 2 MB image limit; a new SQLite
    data dir starts as a copy of the session's migrated template (see above)."""
    values: dict[str, Any] = {"data_dir": str(tmp_path / "data"), "workers": 2,
                              "upsample": 1, "max_image_bytes": 2_000_000}
    values.update(overrides)
    settings = load_settings(env={}, **values)
    target = _sqlite_path(settings)
    if target is not None and not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template_database(), target)
    return settings


def free_socket(port: int = 0) -> socket.socket:
    """A TCP socket bound on 127.0.0.1 (port 0: any free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


class ServerInfo:
    """Where a test server listens and the settings it runs with."""

    settings: Settings
    port: int

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.http

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


class LiveServer(ServerInfo):
    """A real uvicorn server running our app in this event loop.

    Use as ``async with LiveServer(...) as server``; ``stop()`` and ``start()`` again restart it
    on the same port and data directory (a restart as clients see it: close 1001, then a new
    app over the same database).
    """

    def __init__(self, settings: Settings, engine: FaceEngine | None,
                 clock: Clock | None = None, audit: AuditHook | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.audit = audit
        self.sock: socket.socket | None = free_socket()
        self.port = self.sock.getsockname()[1]
        self.app = self._app()
        self.server: uvicorn.Server | None = None
        self.task: asyncio.Task[None] | None = None

    def _app(self) -> Litestar:
        return create_app(self.settings, engine=self.engine, clock=self.clock, audit=self.audit)

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    async def start(self) -> None:
        if self.task is not None:
            return
        if self.sock is None:  # a restart: same port, a fresh app over the same data
            self.sock = free_socket(self.port)
            self.app = self._app()
        server = uvicorn.Server(uvicorn.Config(
            self.app, lifespan="on", log_level="warning",
            **websocket_transport(self.settings),
        ))
        task = asyncio.create_task(server.serve(sockets=[self.sock]))
        self.server, self.task = server, task
        await poll(lambda: server.started or task.done(), START_S, "server start")
        if task.done():
            self.task = None
            task.result()  # raises the start-up error
        assert server.started, "server failed to start"

    async def stop(self) -> None:
        if self.task is None or self.server is None:
            return
        await drain(self.runtime)  # what `vigil serve` does on shutdown: close with 1001
        self.server.should_exit = True
        await asyncio.wait_for(self.task, START_S)
        self.task = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    async def __aenter__(self) -> LiveServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
