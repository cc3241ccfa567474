"""Per-camera ingest: a latest-frame-wins slot and the task that feeds the worker pool.

A camera sending faster than the pipeline loses its older frames, never memory: the slot holds
at most one waiting frame, and a newer frame replaces it (the replaced one is answered
``dropped`` and counted). Frames live only in memory (privacy invariant 2).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
import numpy as np
from sqlalchemy import select

from server.errors import VigilError
from server.pipeline.alerting import count_frame, raise_or_update
from server.pipeline.analysis import Analysis, analyse_frame
from server.recognition.camera_tracks import CameraTracks
from server.recognition.frame_faces import frame_pixels
from server.recognition.image_io import check_image
from server.recognition.matching import IndexMatcher, Matcher, index_path
from server.runtime import Runtime
from server.store.frame_targets import ActiveDeployment
from server.store.models import Entry, Template
from shared.protocol.base import ErrorCode
from shared.protocol.camera import Frame, FrameResult

log = logging.getLogger("vigil.pipeline")


class Pending(msgspec.Struct):
    frame: Frame
    received: float
    """Server receipt time, epoch seconds."""
    received_mono: float


class FrameSlot:
    """Holds the newest frame not yet taken (latest wins)."""

    def __init__(self) -> None:
        self._item: Pending | None = None
        self._event = asyncio.Event()
        self.dropped = 0

    def put(self, item: Pending) -> Pending | None:
        """Store a frame; returns the older frame it replaced, if any."""
        old, self._item = self._item, item
        if old is not None:
            self.dropped += 1
        self._event.set()
        return old

    async def take(self) -> Pending:
        while self._item is None:
            self._event.clear()
            await self._event.wait()
        item, self._item = self._item, None
        return item


async def active_deployment(
    runtime: Runtime, camera_id: str, now: float
) -> ActiveDeployment | None:
    """The active deployment listing this camera whose window contains ``now`` (from the
    in-memory :class:`~server.store.frame_targets.FrameTargets`: no query once loaded)."""
    return await runtime.frame_targets.active(camera_id, now)


async def matcher_for(runtime: Runtime, dep: ActiveDeployment) -> Matcher:
    """The deployment's watchlist matcher for the running engine, rebuilt when the watchlist
    changed (its version comes with the deployment: no query)."""
    engine = runtime.engine
    watchlist_id, version = dep.watchlist_id, dep.watchlist_version
    cached = runtime.matchers.get(watchlist_id, engine.model_id, version)
    if cached is not None:
        return cached
    # One build at a time: two cameras' first frames would otherwise build and save the same
    # index file at once (both writing its ".tmp", one moving it from under the other).
    async with runtime.matcher_lock:
        cached = runtime.matchers.get(watchlist_id, engine.model_id, version)
        if cached is not None:
            return cached
        return await _build_matcher(runtime, watchlist_id, version)


async def _build_matcher(runtime: Runtime, watchlist_id: str, version: int) -> Matcher:
    engine = runtime.engine
    async with runtime.db.sessions() as session:
        rows = (
            await session.execute(
                select(Entry.id, Entry.expires_at, Template.vector, Template.id)
                .join(Template, Template.entry_id == Entry.id)
                .where(Entry.watchlist_id == watchlist_id, Template.model_id == engine.model_id)
            )
        ).all()
    ids = [r[0] for r in rows]
    vectors = (
        np.stack([np.frombuffer(r[2], dtype=np.float32) for r in rows])
        if rows else np.zeros((0, engine.dim), dtype=np.float32)
    )
    matcher = await runtime.in_pool(
        IndexMatcher.open,
        index_path(runtime.settings.data_path, watchlist_id, engine.model_id),
        engine.model_id, engine.dim, version, [int(r[3]) for r in rows], ids, vectors,
        [float(r[1]) for r in rows],
    )
    runtime.matchers.put(watchlist_id, version, matcher)
    return matcher


Reply = Callable[[FrameResult], None]


async def run_camera(runtime: Runtime, camera_id: str, slot: FrameSlot, reply: Reply) -> None:
    """Take frames from the slot one at a time and answer each with a ``frame_result``.

    The camera's face tracks (``settings.track_faces``) live here, in memory, for as long as
    this task: they end when the camera disconnects (the task is cancelled), and all at once
    when the camera sends no frame for ``track_max_age_s`` (nobody was seen for that long).
    """
    settings = runtime.settings
    tracks = CameraTracks.from_settings(settings) if settings.track_faces else None
    counts = StreamCounts()
    try:
        while True:
            try:
                # While tracks are alive, wait only as long as they may go unseen.
                item = await asyncio.wait_for(
                    slot.take(), settings.track_max_age_s if tracks else None)
            except TimeoutError:
                if tracks is not None:
                    tracks.clear()
                continue
            try:
                result = await _process(runtime, camera_id, item, tracks, counts)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must cost one frame, not the camera's stream
                log.exception("frame processing failed camera=%s", camera_id)
                result = FrameResult(seq=item.frame.seq, status="refused", code="internal_error")
            reply(_with_totals(result, item, slot))
    finally:
        if tracks is not None:
            tracks.clear()
        log.info("camera stream ended camera=%s frames=%d faces=%d embedded=%d", camera_id,
                 counts.frames, counts.faces, counts.embedded)


@dataclass
class StreamCounts:
    """Frames analysed, faces found and faces embedded in one camera stream (the stream's
    closing log line; ``vigil eval --scenes`` reads it)."""

    frames: int = 0
    faces: int = 0
    embedded: int = 0


def _with_totals(result: FrameResult, item: Pending, slot: FrameSlot) -> FrameResult:
    latency = (time.perf_counter() - item.received_mono) * 1000.0
    return msgspec.structs.replace(result, latency_ms=latency, dropped_total=slot.dropped)


async def _process(runtime: Runtime, camera_id: str, item: Pending,
                   tracks: CameraTracks | None = None, counts: StreamCounts | None = None,
                   ) -> FrameResult:
    frame = item.frame
    now = runtime.clock()
    dep = await active_deployment(runtime, camera_id, now)
    if tracks is not None and (dep is None or dep.id != tracks.deployment_id):
        # Tracks never outlive the deployment they were made under.
        tracks.clear()
        tracks.deployment_id = None if dep is None else dep.id
    if dep is None:
        # Not decoded, not looked at: no deployment, no processing (invariant 4).
        runtime.count("frames_no_active_deployment")
        runtime.frame_counts.no_deployment(camera_id)
        return FrameResult(seq=frame.seq, status="no_active_deployment",
                           code=ErrorCode.NO_ACTIVE_DEPLOYMENT)
    settings = runtime.settings
    try:
        # The header alone (microseconds, on the loop): an oversized frame never takes a
        # worker, let alone gets decoded there.
        check_image(frame.jpeg, max_bytes=settings.max_image_bytes,
                    max_pixels=frame_pixels(settings), downscale=settings.downscale_frames)
    except VigilError as exc:
        return await _refused(runtime, dep.id, frame.seq, exc)
    matcher = await matcher_for(runtime, dep)
    engine = runtime.engine
    min_face = settings.min_face_px if dep.min_face_px is None else dep.min_face_px
    try:
        analysis: Analysis = await runtime.in_pool(
            analyse_frame, engine, matcher, frame.jpeg, settings, dep.threshold, now, min_face,
            tracks, frame.captured_at,
        )
    except VigilError as exc:
        return await _refused(runtime, dep.id, frame.seq, exc)
    if counts is not None:
        counts.frames += 1
        counts.faces += analysis.faces
        counts.embedded += analysis.embedded
    count_frame(runtime, dep.id, faces=analysis.faces, refused=False)
    for match in analysis.matches:
        await raise_or_update(
            runtime, deployment_id=dep.id, camera_id=camera_id, match=match,
            captured_at=frame.captured_at, ingested_at=item.received, lat=frame.lat,
            lon=frame.lon,
        )
    return FrameResult(seq=frame.seq, status="processed", faces=analysis.faces)


async def _refused(runtime: Runtime, deployment_id: str, seq: int, exc: VigilError,
                   ) -> FrameResult:
    runtime.count("frames_refused")
    count_frame(runtime, deployment_id, faces=0, refused=True)
    return FrameResult(seq=seq, status="refused", code=exc.code)
