"""Frame counters live in memory and are written once a second: a frame that matches nobody
costs no SQL, a clean shutdown loses no count, and a failed write loses none either."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import event

from server.pipeline.ingest import FrameSlot, Pending, run_camera
from server.recognition.engine import FaceEngine
from server.runtime import LogAudit, Runtime, open_runtime
from server.store.db import Database
from server.store.frame_counts import FrameCounts
from server.store.models import Camera, Deployment
from server.ws.hub import Hub
from shared.protocol.camera import Frame, FrameResult
from tests.governance import rows
from tests.server.conftest import LiveServer, Photos, build_world, open_ws
from tests.support.live import make_settings


async def _frames(runtime: Runtime, camera_id: str, jpegs: list[bytes]) -> list[FrameResult]:
    """Feed frames to the camera's ingest task one at a time; their results, in order."""
    slot, results = FrameSlot(), asyncio.Queue[FrameResult]()
    task = asyncio.create_task(run_camera(runtime, camera_id, slot, results.put_nowait))
    out = []
    try:
        for seq, jpeg in enumerate(jpegs, 1):
            now = runtime.clock()
            slot.put(Pending(Frame(seq=seq, captured_at=now, jpeg=jpeg), now,
                             time.perf_counter()))
            out.append(await asyncio.wait_for(results.get(), 60))
    finally:
        task.cancel()
        await asyncio.wait([task])
    return out


async def test_a_frame_that_matches_nobody_costs_no_sql(
    tmp_path: Path, engine: FaceEngine, photos: Photos
) -> None:
    settings = make_settings(tmp_path)
    async with open_runtime(settings, publisher=Hub(), engine=engine,
                            audit=LogAudit()) as runtime:
        async with runtime.db.sessions() as session, session.begin():
            await rows.deployment(session, "dep-1", runtime.clock())
        strangers = photos.strangers[:4]
        # First frames load what each camera's frames are matched for, and the matcher.
        await _frames(runtime, "cam-dep-1", strangers[:1])
        await _frames(runtime, "cam-nobody", strangers[:1])
        statements: list[str] = []

        def on_statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
            statements.append(sql)

        flushes = runtime.frame_counts.flushes
        sync_engine = runtime.db.engine.sync_engine
        event.listen(sync_engine, "before_cursor_execute", on_statement)
        try:
            results = await _frames(runtime, "cam-dep-1", strangers * 3)
            results += await _frames(runtime, "cam-nobody", strangers)
        finally:
            event.remove(sync_engine, "before_cursor_execute", on_statement)
        assert [r.status for r in results] == ["processed"] * 12 + ["no_active_deployment"] * 4
        # The only statements are the once-a-second counter flushes (one UPDATE a table).
        assert all(s.lstrip().upper().startswith("UPDATE") for s in statements), statements
        assert len(statements) <= 2 * (runtime.frame_counts.flushes - flushes)
        await runtime.frame_counts.flush()
        async with runtime.db.sessions() as session:
            dep = await session.get(Deployment, "dep-1")
            assert dep is not None
            assert (dep.frames_processed, dep.faces_processed) == (13, 13)


async def test_counts_survive_a_clean_shutdown(
    tmp_path: Path, engine: FaceEngine, photos: Photos
) -> None:
    # No periodic write during the test: only the one at shutdown can save the counts.
    live = LiveServer(make_settings(tmp_path, counter_flush_s=3600.0), engine)
    await live.start()
    try:
        await _shutdown_keeps_counts(live, photos)
    finally:
        await live.stop()


async def _shutdown_keeps_counts(live: LiveServer, photos: Photos) -> None:
    world = await build_world(live, photos)
    camera, _ = await open_ws(live, "/ws/camera", world.tokens["camera"],
                              camera_id=world.camera_id)
    for seq, jpeg in enumerate([photos.frame_second, *photos.strangers[:3]], 1):
        await camera.send({"type": "frame", "seq": seq, "captured_at": time.time(),
                           "jpeg": jpeg})
        assert (await camera.recv_type("frame_result"))["status"] == "processed"
    await live.stop()  # what `vigil serve` does on SIGTERM
    db = sqlite3.connect(Path(live.settings.data_dir) / "vigil.db")
    try:
        assert db.execute("select frames_processed, faces_processed from deployments "
                          "where id = ?", (world.deployment_id,)).fetchone() == (4, 5)
    finally:
        db.close()
    for api in world.api.values():
        await api.close()


async def test_a_failed_write_keeps_the_counts(tmp_path: Path) -> None:
    db = Database(make_settings(tmp_path).database_url)  # a copy of the migrated template
    try:
        await _failed_write_keeps_the_counts(db)
    finally:
        await db.close()


async def _failed_write_keeps_the_counts(db: Database) -> None:
    async with db.sessions() as session, session.begin():
        await rows.deployment(session, "dep-1", time.time())
    failing = [True]

    @contextlib.asynccontextmanager
    async def guard() -> AsyncIterator[None]:
        if failing[0]:
            raise OSError("disk full")
        yield

    counts = FrameCounts(db, guard)
    counts.processed("dep-1", faces=2)
    counts.refused("dep-1")
    counts.no_deployment("cam-dep-1")
    try:
        await counts.flush()
    except OSError:
        pass
    else:
        raise AssertionError("the write should have failed")
    counts.processed("dep-1", faces=1)
    failing[0] = False
    await counts.flush()
    assert not counts.pending
    async with db.sessions() as session:
        dep = await session.get(Deployment, "dep-1")
        cam = await session.get(Camera, "cam-dep-1")
        assert dep is not None
        assert cam is not None
        assert (dep.frames_processed, dep.faces_processed, dep.frames_refused) == (2, 3, 1)
        assert cam.frames_no_deployment == 1
