"""A real Vigil server (uvicorn, the fake engine) in a thread of its own, for fuzzers that
drive it from synchronous code (hypothesis, the schemathesis CLI), plus what it logged."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.fakes.engine import FakeEngine
from tests.support.live import LiveServer, make_settings
from tests.support.world import make_token

ROLES = ("admin", "watchlist_manager", "authoriser", "dispatcher", "officer", "auditor",
         "camera")
CAMERA_ID = "cam-fuzz"


def budget(name: str, default: int) -> int:
    """A fuzz budget from the environment (``make fuzz`` raises them), else the default."""
    return max(1, int(os.environ.get(name, default)))


def report(surface: str, **figures: Any) -> None:
    """Append one surface's figures to ``$VIGIL_FUZZ_REPORT`` (JSON lines), if set."""
    path = os.environ.get("VIGIL_FUZZ_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"surface": surface, **figures}) + "\n")


class Problems(logging.Handler):
    """Collects every log record at ERROR or above, or carrying a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)

    def lines(self) -> list[str]:
        return [f"{r.name}: {r.getMessage()}" for r in self.records]


class ServerThread:
    """Start with ``with ServerThread(tmp_path) as srv:``; ``srv.tokens`` has one per role."""

    def __init__(self, tmp_path: Path, **settings: Any) -> None:
        # No rate limit: the fuzzer sends as fast as it can and must reach the decoders.
        self.settings = make_settings(tmp_path, max_messages_per_second=100_000.0, **settings)
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        self.problems = Problems()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="fuzz-server", daemon=True)
        self.server: LiveServer | None = None
        self.error: BaseException | None = None

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            async with LiveServer(self.settings, FakeEngine()) as server:
                self.server = server
                self._ready.set()
                await self._stop.wait()

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by __enter__/__exit__
            self.error = exc
            self._ready.set()

    @property
    def http(self) -> str:
        assert self.server is not None
        return self.server.http

    @property
    def ws(self) -> str:
        assert self.server is not None
        return self.server.ws

    def __enter__(self) -> ServerThread:
        for role in ROLES:
            self.ids[role], self.tokens[role] = asyncio.run(
                make_token(self.settings, role, f"fuzz {role}"))
        logging.getLogger().addHandler(self.problems)
        self._thread.start()
        if not self._ready.wait(120) or self.error is not None:
            raise RuntimeError(f"fuzz server did not start: {self.error!r}")
        self._world()
        return self

    def _world(self) -> None:
        """A camera bound to the camera token, in an active deployment (an empty watchlist),
        so that fuzzed frames reach the decoder instead of stopping at the deployment gate."""
        def call(role: str, path: str, body: dict[str, Any]) -> Any:
            r = httpx.post(self.http + path, json=body, timeout=60,
                           headers={"Authorization": f"Bearer {self.tokens[role]}"})
            assert r.status_code in (200, 201), (path, r.status_code, r.text)
            return r.json()

        call("admin", "/api/cameras", {"id": CAMERA_ID, "name": "fuzz", "lat": 51.5,
                                       "lon": -0.12, "account_id": self.ids["camera"]})
        wl = call("watchlist_manager", "/api/watchlists", {"name": "fuzz"})
        now = time.time()
        dep = call("authoriser", "/api/deployments", {
            "name": "fuzz", "purpose": "locate_serious_crime_suspect", "place": "fuzz",
            "lat": 51.5, "lon": -0.12, "camera_ids": [CAMERA_ID], "watchlist_id": wl["id"],
            "starts_at": now - 60, "ends_at": now + 6 * 3600})
        call("authoriser", f"/api/deployments/{dep['id']}/authorisation",
             {"authority_ref": "FUZZ-1", "purpose": "locate_serious_crime_suspect"})
        call("authoriser", f"/api/deployments/{dep['id']}/start", {})

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)
        logging.getLogger().removeHandler(self.problems)
