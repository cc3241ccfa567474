"""``python -m bench.ingest_db [--frames N]``: store work and throughput of the frame path.

Drives ``server.pipeline.ingest``'s per-frame step directly (no websocket, no uvicorn) on a
runtime over a fresh SQLite store, with the deterministic ``FakeEngine`` of the tests, so the
figure is the server's own per-frame cost (store round trips, locks, the worker-pool hop)
rather than a face engine's. Three kinds of frame, each ``--frames`` times, one after the
other as a single camera sends them:

- ``no_deployment``: a camera no active deployment lists (the frame is not even decoded);
- ``no_face``: a listed camera, a frame without a face;
- ``unmatched``: a listed camera, a frame with one face that is on no watchlist;
- ``alert``: the store side of a match (``server.pipeline.alerting.raise_or_update``, cooldown
  0 so that each one raises a new alert, as in the live figures), routed to ``--officers``
  officers in the notify radius and one dispatcher, with the hash-chained audit log the
  server uses; then every recipient's acknowledgement through the group-committed ack path,
  as connected clients would answer (``ack``). Printed per alert, ack included;
- ``sighting``: the same with the default cooldown, so every match after the first updates
  the open alert (``alert_updated`` to those who have it). The alert's card carries its whole
  history, so this cost grows with ``--alerts``.

For each it prints SQL statements per frame (a ``before_cursor_execute`` listener on the
engine; ``COMMIT`` is not a statement there, so commits are counted apart) and frames/s.
Compare before/after on the same machine in the same minute (the machine is shared): the
ratio is the figure, the absolute rate is not.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from sqlalchemy import event, select

from server.auth import create_account
from server.pipeline import ingest
from server.pipeline.alerting import raise_or_update
from server.pipeline.analysis import Match
from server.runtime import Runtime, open_runtime
from server.settings import load_settings
from server.store.audit import ChainAudit
from server.store.models import Camera, Deployment, DeploymentCamera, Entry, Officer, Watchlist
from shared.protocol.camera import Frame
from tests.fakes.engine import FakeEngine, face_image

try:  # the encoder the tests use for frames
    import cv2
except ImportError:  # pragma: no cover - cv2 is a dependency of the server
    raise


class Figure(msgspec.Struct):
    kind: str
    frames: int
    """Frames (or alerts, for ``alert``) measured."""
    statements_per_frame: float
    commits_per_frame: float
    frames_per_s: float
    ms_per_frame: float
    cpu_ms_per_frame: float
    """Process CPU (every thread: the loop, the SQLite thread, the pool)."""
    until_push_ms: float | None = None
    """``alert``: median wall time of ``raise_or_update`` alone (the alert's transaction, up
    to handing its messages to the publisher: what recipients wait for), acks excluded."""


class _Publisher:
    """Reaches nobody; keeps what an alert staged so the bench can acknowledge it."""

    def __init__(self) -> None:
        self.staged: list[Any] = []

    def deliver(self, staged: Any) -> None:
        self.staged.extend(staged)

    def broadcast(self, role: str, message: Any) -> None: ...
    def connected(self, account_id: str) -> bool:
        return False
    def close_account(self, account_id: str, message: str) -> int:
        return 0
    def close_camera(self, camera_id: str, *, unless_account: str, message: str) -> None: ...
    async def shutdown(self, flush_s: float) -> None: ...


class _Statements:
    """Counts SQL statements and commits on the runtime's engine while entered."""

    def __init__(self, runtime: Runtime) -> None:
        self._engine = runtime.db.engine.sync_engine
        self.statements = 0
        self.commits = 0

    def _statement(self, *_: Any) -> None:
        self.statements += 1

    def _commit(self, *_: Any) -> None:
        self.commits += 1

    def __enter__(self) -> _Statements:
        event.listen(self._engine, "before_cursor_execute", self._statement)
        event.listen(self._engine, "commit", self._commit)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self._engine, "before_cursor_execute", self._statement)
        event.remove(self._engine, "commit", self._commit)


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
    # One frame first: builds the matcher (and fills any cache) outside the measurement.
    await ingest._process(runtime, camera_id, _pending(0, jpeg, runtime))
    with _Statements(runtime) as counted:
        start, cpu = time.perf_counter(), time.process_time()
        for seq in range(1, frames + 1):
            result = await ingest._process(runtime, camera_id, _pending(seq, jpeg, runtime))
            assert not result.code or kind == "no_deployment", result
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return _figure(kind, frames, counted, elapsed, cpu)


def _figure(kind: str, n: int, counted: _Statements, elapsed: float, cpu: float) -> Figure:
    return Figure(kind=kind, frames=n, statements_per_frame=counted.statements / n,
                  commits_per_frame=counted.commits / n, frames_per_s=n / elapsed,
                  ms_per_frame=elapsed * 1000 / n, cpu_ms_per_frame=cpu * 1000 / n)


async def _alert_world(runtime: Runtime, officers: int) -> tuple[str, set[str]]:
    """A watchlist entry, ``officers`` officers at the camera and one dispatcher; returns the
    entry id and the officers' account ids."""
    now = runtime.clock()
    officer_ids: set[str] = set()
    async with runtime.db.sessions() as session, session.begin():
        session.add(Entry(
            id="ent", watchlist_id="wl", subject_ref="S-1", display_name="Subject One",
            category="wanted_serious_crime", justification="bench", legal_basis="bench",
            image_source="bench", image_date="2024-01-01", expires_at=now + 86_400,
            added_by="wm", created_at=now, photo_path="photos/ent.jpg"))
        await create_account(session, role="dispatcher", name="disp", now=now)
        for i in range(officers):
            account, _ = await create_account(session, role="officer", name=f"off-{i}",
                                              now=now)
            officer_ids.add(account.id)
        await session.flush()
        for officer in (await session.execute(select(Officer))).scalars():
            officer.lat, officer.lon, officer.last_seen = 51.5, -0.12, now
    return "ent", officer_ids


async def _measure_alerts(runtime: Runtime, publisher: _Publisher, alerts: int,
                          officers: int, kind: str = "alert") -> Figure:
    """Alerts raised by ``raise_or_update`` and acknowledged by every recipient (with a
    cooldown: sightings of one open alert, each an ``alert_updated``)."""
    entry_id, officer_ids = await _alert_world(runtime, officers)
    crop = _jpeg(np.full((112, 112, 3), 90, np.uint8))

    until_push: list[float] = []

    async def one() -> None:
        now = runtime.clock()
        match = Match(entry_id=entry_id, similarity=0.95, probe_jpeg=crop, matched_at=now)
        start = time.perf_counter()
        alert_id = await raise_or_update(
            runtime, deployment_id="dep", camera_id="cam-listed", match=match,
            captured_at=now, ingested_at=now, lat=None, lon=None)
        until_push.append((time.perf_counter() - start) * 1000)
        assert alert_id, "the bench alert was not raised"
        staged, publisher.staged = publisher.staged, []
        at = runtime.clock()
        await asyncio.gather(*(runtime.acks.ack(s.account_id, s.seq, at,
                                                officer=s.account_id in officer_ids)
                               for s in staged))

    await one()  # first alert (cursors created, statements compiled) outside the measurement
    until_push.clear()
    with _Statements(runtime) as counted:
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(alerts):
            await one()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    figure = _figure(f"{kind} ({officers} officers)", alerts, counted, elapsed, cpu)
    figure.until_push_ms = statistics.median(until_push)
    return figure


def _pending(seq: int, jpeg: bytes, runtime: Runtime) -> ingest.Pending:
    now = runtime.clock()
    return ingest.Pending(Frame(seq=seq, captured_at=now, jpeg=jpeg), now, time.perf_counter())


async def run(frames: int, alerts: int, officers: int) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="vigil-bench-ingest-") as tmp:
        settings = load_settings(env={}, data_dir=str(Path(tmp) / "data"), workers=2,
                                 cooldown_s=0.0)
        engine = FakeEngine()
        figures: list[Figure] = []
        publisher = _Publisher()
        async with open_runtime(settings, publisher=publisher, engine=engine,
                                audit=ChainAudit()) as runtime:
            await _world(runtime)
            blank = _jpeg(np.full((360, 640, 3), 128, np.uint8))
            stranger = _jpeg(face_image([77]))
            figures.append(await _measure(runtime, "no_deployment", "cam-unlisted", blank,
                                          frames))
            figures.append(await _measure(runtime, "no_face", "cam-listed", blank, frames))
            figures.append(await _measure(runtime, "unmatched", "cam-listed", stranger, frames))
            if alerts:
                figures.append(await _measure_alerts(runtime, publisher, alerts, officers))
        if alerts:
            # The same with the default cooldown: every match after the first is a sighting.
            settings = load_settings(env={}, data_dir=str(Path(tmp) / "cooldown"), workers=2)
            publisher = _Publisher()
            async with open_runtime(settings, publisher=publisher, engine=engine,
                                    audit=ChainAudit()) as runtime:
                await _world(runtime)
                figures.append(await _measure_alerts(runtime, publisher, alerts, officers,
                                                     "sighting"))
        return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_db",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--alerts", type=int, default=100,
                        help="alerts raised and acknowledged (0: none)")
    parser.add_argument("--officers", type=int, default=1,
                        help="officers in the notify radius of each alert")
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args.frames, args.alerts, args.officers))
    print(f"load average {os.getloadavg()[0]:.1f}")
    for f in figures:
        print(f"{f.kind:22s} {f.statements_per_frame:6.2f} SQL/each  "
              f"{f.commits_per_frame:4.2f} commits/each  {f.frames_per_s:9.1f} /s  "
              f"{f.ms_per_frame:7.2f} ms each  {f.cpu_ms_per_frame:7.2f} ms CPU each"
              + ("" if f.until_push_ms is None else
                 f"  (transaction until push p50 {f.until_push_ms:.1f} ms)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
