"""``python -m bench.ingest_db [--frames N]``: store work and throughput of the frame path.

Drives ``server.pipeline.ingest``'s per-frame step directly (no websocket, no uvicorn) on a
runtime over a fresh SQLite store, with the deterministic ``FakeEngine`` of the tests, so the
figure is the server's own per-frame cost (store round trips, locks, the worker-pool hop)
rather than a face engine's. Three kinds of frame, each ``--frames`` times, one after the
other as a single camera sends them:

- ``no_deployment``: a camera no active deployment lists (the frame is not even decoded);
- ``no_face``: a listed camera, a frame without a face;
- ``unmatched``: a listed camera, a frame with one face that is on no watchlist.

For each it prints SQL statements per frame (a ``before_cursor_execute`` listener on the
engine; ``COMMIT`` is not a statement there, so commits are counted apart) and frames/s.
Compare before/after on the same machine in the same minute (the machine is shared): the
ratio is the figure, the absolute rate is not.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from sqlalchemy import event

from server.pipeline import ingest
from server.runtime import LogAudit, Runtime, open_runtime
from server.settings import load_settings
from server.store.models import Camera, Deployment, DeploymentCamera, Watchlist
from shared.protocol.camera import Frame
from tests.fakes.engine import FakeEngine, face_image

try:  # the encoder the tests use for frames
    import cv2
except ImportError:  # pragma: no cover - cv2 is a dependency of the server
    raise


class Figure(msgspec.Struct):
    kind: str
    frames: int
    statements_per_frame: float
    commits_per_frame: float
    frames_per_s: float


class _NoPublisher:
    def deliver(self, staged: Any) -> None: ...
    def broadcast(self, role: str, message: Any) -> None: ...
    def connected(self, account_id: str) -> bool:
        return False
    def close_account(self, account_id: str, message: str) -> int:
        return 0
    def close_camera(self, camera_id: str, *, unless_account: str, message: str) -> None: ...
    async def shutdown(self, flush_s: float) -> None: ...


def _jpeg(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return bytes(buf)


async def _world(runtime: Runtime) -> None:
    now = runtime.clock()
    async with runtime.db.sessions() as session, session.begin():
        session.add(Watchlist(id="wl", name="wl", description="", reuse=False,
                              created_at=now, created_by="wm", version=0))
        for cam in ("cam-listed", "cam-unlisted"):
            session.add(Camera(id=cam, name=cam, description="", lat=51.5, lon=-0.12,
                               mobile=False, frames_no_deployment=0))
        await session.flush()
        session.add(Deployment(
            id="dep", name="dep", purpose="locate_serious_crime_suspect", place="x", lat=51.5,
            lon=-0.12, watchlist_id="wl", threshold=0.9, notify_radius_m=500,
            starts_at=now - 60, ends_at=now + 86_400, active=True, created_by="auth",
            created_at=now, faces_processed=0, frames_processed=0, frames_refused=0))
        await session.flush()
        session.add(DeploymentCamera(deployment_id="dep", camera_id="cam-listed"))


async def _measure(runtime: Runtime, kind: str, camera_id: str, jpeg: bytes,
                   frames: int) -> Figure:
    counts = {"statements": 0, "commits": 0}

    def on_statement(*_: Any) -> None:
        counts["statements"] += 1

    def on_commit(*_: Any) -> None:
        counts["commits"] += 1

    sync_engine = runtime.db.engine.sync_engine
    # One frame first: builds the matcher (and fills any cache) outside the measurement.
    await ingest._process(runtime, camera_id, _pending(0, jpeg, runtime))
    event.listen(sync_engine, "before_cursor_execute", on_statement)
    event.listen(sync_engine, "commit", on_commit)
    try:
        start = time.perf_counter()
        for seq in range(1, frames + 1):
            result = await ingest._process(runtime, camera_id, _pending(seq, jpeg, runtime))
            assert not result.code or kind == "no_deployment", result
        elapsed = time.perf_counter() - start
    finally:
        event.remove(sync_engine, "before_cursor_execute", on_statement)
        event.remove(sync_engine, "commit", on_commit)
    return Figure(kind=kind, frames=frames, statements_per_frame=counts["statements"] / frames,
                  commits_per_frame=counts["commits"] / frames,
                  frames_per_s=frames / elapsed)


def _pending(seq: int, jpeg: bytes, runtime: Runtime) -> ingest.Pending:
    now = runtime.clock()
    return ingest.Pending(Frame(seq=seq, captured_at=now, jpeg=jpeg), now, time.perf_counter())


async def run(frames: int) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="vigil-bench-ingest-") as tmp:
        settings = load_settings(env={}, data_dir=str(Path(tmp) / "data"), workers=2)
        engine = FakeEngine()
        figures: list[Figure] = []
        async with open_runtime(settings, publisher=_NoPublisher(), engine=engine,
                                audit=LogAudit()) as runtime:
            await _world(runtime)
            blank = _jpeg(np.full((360, 640, 3), 128, np.uint8))
            stranger = _jpeg(face_image([77]))
            figures.append(await _measure(runtime, "no_deployment", "cam-unlisted", blank,
                                          frames))
            figures.append(await _measure(runtime, "no_face", "cam-listed", blank, frames))
            figures.append(await _measure(runtime, "unmatched", "cam-listed", stranger, frames))
        return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_db",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args.frames))
    print(f"load average {os.getloadavg()[0]:.1f}")
    for f in figures:
        print(f"{f.kind:14s} {f.statements_per_frame:5.2f} SQL/frame  "
              f"{f.commits_per_frame:4.2f} commits/frame  {f.frames_per_s:8.1f} frames/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
