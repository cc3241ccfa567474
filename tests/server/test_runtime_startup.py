"""A failed start-up releases what it had started: the database, the worker pool, engine worker
processes and background tasks (``server.runtime.open_runtime``)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from server import runtime as runtime_module
from server.runtime import open_runtime
from server.store.db import Database
from server.ws.hub import Hub
from tests.server.conftest import make_settings
from tests.support.live import template_database


def pool_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("vigil")]


class GilEngine:
    """Stands for an engine that holds the GIL (so the runtime wraps it in processes)."""

    name = "gil"
    model_id = "gil-1"
    dim = 4
    releases_gil = False


class Workers:
    """Stands for the engine's worker processes: records whether they were stopped."""

    def __init__(self) -> None:
        self.name, self.model_id, self.dim, self.workers = "gil", "gil-1", 4, 2
        self.closed = False

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> Workers:
    """A runtime that loads a GIL-holding stand-in engine and wraps it in recorded workers."""
    stand_in = Workers()
    monkeypatch.setattr(runtime_module, "load_engine", lambda _settings: GilEngine())
    monkeypatch.setattr(runtime_module.ProcessEngine, "wrap", lambda engine, n: stand_in)
    return stand_in


@pytest.fixture
def closed_dbs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    # The session's template database is made (and its handle closed) on first use: make it
    # before recording, or a run of this module alone also records that close.
    template_database()
    closed: list[str] = []
    real_close = Database.close

    async def close(self: Database) -> None:
        closed.append(self.url)
        await real_close(self)

    monkeypatch.setattr(Database, "close", close)
    return closed


async def test_failed_engine_load_releases_database_and_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, closed_dbs: list[str]
) -> None:
    def broken(_settings: Any) -> Any:
        raise RuntimeError("no engine")

    monkeypatch.setattr(runtime_module, "load_engine", broken)
    settings = make_settings(tmp_path)
    with pytest.raises(RuntimeError, match="no engine"):
        async with open_runtime(settings, publisher=Hub()):
            pytest.fail("the runtime must not start without an engine")
    assert closed_dbs == [settings.database_url]
    assert pool_threads() == []


async def test_step_after_worker_processes_fails_stops_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, closed_dbs: list[str], workers: Workers
) -> None:
    def broken_tracker(_cooldown: float) -> Any:
        raise RuntimeError("tracker failed")

    monkeypatch.setattr(runtime_module, "CooldownTracker", broken_tracker)
    settings = make_settings(tmp_path)
    with pytest.raises(RuntimeError, match="tracker failed"):
        async with open_runtime(settings, publisher=Hub()):
            pytest.fail("the runtime must not start")
    assert workers.closed
    assert closed_dbs == [settings.database_url]
    assert pool_threads() == []


async def test_failure_while_serving_cancels_tasks_and_releases_all(
    tmp_path: Path, closed_dbs: list[str], workers: Workers
) -> None:
    settings = make_settings(tmp_path)
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    tasks: list[asyncio.Task[Any]] = []

    async def serve_then_fail() -> None:
        async with open_runtime(settings, publisher=Hub()) as rt:
            tasks.append(rt.spawn(forever(), "forever"))
            await started.wait()
            raise RuntimeError("lifespan failed")

    with pytest.raises(RuntimeError, match="lifespan failed"):
        await serve_then_fail()
    assert tasks[0].cancelled()
    assert workers.closed
    assert closed_dbs == [settings.database_url]
    assert pool_threads() == []
