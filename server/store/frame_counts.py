"""Frame counters kept in memory and written in one transaction every second.

Per deployment: frames processed, faces processed, frames refused; per camera: frames that
arrived while no active deployment listed it. They change with every frame, so a transaction
per frame (what the server did before) cost a commit, and on SQLite the store's one writer,
for each frame that matched nobody. Now a frame only adds to a dictionary; :meth:`flush`
writes whatever accumulated with one ``UPDATE`` per table (executemany). It runs every
``counter_flush_s`` (a setting, default 1 s) and once more when the runtime closes, after
ingest stopped, so a clean shutdown loses nothing. A crash (SIGKILL, power) loses at most
the counts of the last flush period: counts, never alerts or durable messages, which still
commit with their change.

Readers of the figures (deployment stats over REST, the dispatcher snapshot, the stats push,
transparency records) flush first, so the server never shows a figure behind its own frames.
A failed write puts the counts back for the next flush.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from sqlalchemy import Table, bindparam, update

from server.store.db import Database
from server.store.models import Camera, Deployment

WriteGuard = Callable[[], AbstractAsyncContextManager[object]]
"""Held around a write transaction: the runtime's write lock on SQLite (one writer at a
time), :func:`no_guard` on PostgreSQL."""


class _Deployment:
    __slots__ = ("faces", "frames", "refused")

    def __init__(self) -> None:
        self.frames = 0
        self.faces = 0
        self.refused = 0


class FrameCounts:
    """In-memory frame counters with a group-committed flush (module docstring)."""

    def __init__(self, db: Database, guard: WriteGuard) -> None:
        self._db = db
        self._guard = guard
        self._deployments: dict[str, _Deployment] = {}
        self._cameras: dict[str, int] = {}
        self._flushing: asyncio.Lock | None = None
        self.flushes = 0
        """Transactions written."""

    def processed(self, deployment_id: str, faces: int) -> None:
        """A frame of the deployment was analysed and held ``faces`` faces."""
        counts = self._deployments.setdefault(deployment_id, _Deployment())
        counts.frames += 1
        counts.faces += faces

    def refused(self, deployment_id: str) -> None:
        """A frame of the deployment was refused (too large, undecodable, ...)."""
        self._deployments.setdefault(deployment_id, _Deployment()).refused += 1

    def no_deployment(self, camera_id: str) -> None:
        """A frame of a camera that no active deployment lists (not decoded)."""
        self._cameras[camera_id] = self._cameras.get(camera_id, 0) + 1

    @property
    def pending(self) -> bool:
        return bool(self._deployments or self._cameras)

    async def flush(self) -> None:
        """Write what accumulated (nothing to write: no SQL). Concurrent callers queue, so a
        flush returns only once every count made before it is committed.

        Raises:
            Exception: whatever the store raised; the counts stay for the next flush.
        """
        if self._flushing is None:
            self._flushing = asyncio.Lock()
        async with self._flushing:
            if not self.pending:
                return
            deployments, self._deployments = self._deployments, {}
            cameras, self._cameras = self._cameras, {}
            try:
                async with self._guard(), self._db.sessions() as session, session.begin():
                    if deployments:
                        dep = _table(Deployment)
                        await session.execute(
                            update(dep).where(dep.c.id == bindparam("b_id")).values(
                                frames_processed=dep.c.frames_processed + bindparam("b_frames"),
                                faces_processed=dep.c.faces_processed + bindparam("b_faces"),
                                frames_refused=dep.c.frames_refused + bindparam("b_refused")),
                            [{"b_id": k, "b_frames": c.frames, "b_faces": c.faces,
                              "b_refused": c.refused} for k, c in deployments.items()])
                    if cameras:
                        cam = _table(Camera)
                        await session.execute(
                            update(cam).where(cam.c.id == bindparam("b_id")).values(
                                frames_no_deployment=cam.c.frames_no_deployment
                                + bindparam("b_n")),
                            [{"b_id": k, "b_n": n} for k, n in cameras.items()])
            except BaseException:  # cancelled mid-write included: keep them for the next one
                self._restore(deployments, cameras)
                raise
            self.flushes += 1

    def _restore(self, deployments: dict[str, _Deployment], cameras: dict[str, int]) -> None:
        for key, old in deployments.items():
            counts = self._deployments.setdefault(key, _Deployment())
            counts.frames += old.frames
            counts.faces += old.faces
            counts.refused += old.refused
        for key, n in cameras.items():
            self._cameras[key] = self._cameras.get(key, 0) + n


def _table(model: type[Deployment] | type[Camera]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


@contextlib.asynccontextmanager
async def no_guard() -> AsyncIterator[object]:
    """A write guard that guards nothing (a store with concurrent writers)."""
    yield None
