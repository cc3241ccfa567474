"""One camera's live face tracks, held in server memory only (never written anywhere).

A track is a face followed across the frames of one camera (association in
``server.recognition.tracking``). It keeps a quality-weighted aggregate of the templates of
the faces embedded into it and the crop of its best face, so that the watchlist decision is
made on the track (several views of a face) instead of on one frame, and an alert carries the
best view of the person.

Two clocks: motion and "unseen for" are measured in the camera's capture time (the frames'
``captured_at``: a server slower than the camera must not age tracks between two frames
captured 0.2 s apart), and the lifetime cap in server time. A capture clock that goes back
ends every track.

Privacy (invariant 1; docs/tracking.md): a track of a person who matches no one holds their
aggregate template and best crop in this process's memory, and only while the track lives:

- a track ends when it has not been seen for ``track_max_age_s`` (capture time), or
  ``track_max_life_s`` (server time) after it started, or when the camera has more than
  ``track_max_per_camera`` tracks (the least recently seen one ends first);
- every track of a camera ends when the camera disconnects, when its deployment ends or
  changes, and when the camera sends no frame for ``track_max_age_s``;
- an ending track's template buffer is zeroed and its crop released (:meth:`Track.wipe`).

Nothing here is logged, stored, queued or sent; an alert (``Match``) is the only way a
template's consequences, and a crop, leave, and only for a face at or above the threshold.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from server.recognition.engine import Vectors
from server.recognition.frame_faces import FrameFaces
from server.recognition.motion import Grid, SceneHint
from server.recognition.tracking import Box, TrackHint
from server.settings import Settings


@dataclass(eq=False)
class Track:
    """A face followed across frames (see module docstring)."""

    id: int
    box: Box
    started_at: float
    """Server time."""
    seen_at: float
    """Capture time of the last frame the face was in."""
    velocity: tuple[float, float] = (0.0, 0.0)
    """Movement of the box centre, pixels per second (constant-velocity prediction)."""
    frames: int = 0
    """Frames the face was seen in."""
    reported: int = 0
    """Of ``frames``, those already counted as sightings of an alert."""
    templates: int = 0
    """Templates folded into the aggregate."""
    best_quality: float = 0.0
    embedded_at: float = -math.inf
    """Capture time of the last template folded in."""
    weighted: Vectors | None = field(default=None, repr=False)
    """Sum of quality x template (its direction is the aggregate template)."""
    best_crop: bytes = field(default=b"", repr=False)
    """Probe crop of the best face embedded (other faces blurred)."""

    def predicted(self, now: float) -> Box:
        dt = max(0.0, now - self.seen_at)
        dx, dy = self.velocity[0] * dt, self.velocity[1] * dt
        x1, y1, x2, y2 = self.box
        return (x1 + dx, y1 + dy, x2 + dx, y2 + dy)

    def observe(self, box: Box, now: float) -> None:
        dt = now - self.seen_at
        if self.frames and dt > 0:
            self.velocity = ((box[0] + box[2] - self.box[0] - self.box[2]) / 2 / dt,
                             (box[1] + box[3] - self.box[1] - self.box[3]) / 2 / dt)
        self.box, self.seen_at = box, max(self.seen_at, now)
        self.frames += 1

    def add(self, template: Vectors, quality: float, crop: bytes) -> None:
        """Fold a template in with its quality as weight; keep the crop if it is the best."""
        weight = max(quality, 1e-6)
        row = np.asarray(template, dtype=np.float32).reshape(-1)
        if self.weighted is None:
            self.weighted = weight * row
        else:
            self.weighted += weight * row
        self.templates += 1
        if quality > self.best_quality or not self.best_crop:
            self.best_quality = max(self.best_quality, quality)
            self.best_crop = crop

    def aggregate(self) -> Vectors | None:
        """The unit-length quality-weighted mean template (None before the first)."""
        if self.weighted is None:
            return None
        norm = float(np.linalg.norm(self.weighted))
        return (self.weighted / norm if norm > 0 else self.weighted).astype(np.float32)

    def wipe(self) -> None:
        """Zero the template buffer and drop the crop (the track ended)."""
        if self.weighted is not None:
            self.weighted.fill(0.0)
        self.weighted = None
        self.best_crop = b""


class CameraTracks:
    """The live tracks of one camera (thread-safe: one frame at a time updates them, while
    the camera's task may clear them)."""

    def __init__(self, *, max_age_s: float, max_life_s: float, max_tracks: int,
                 refresh_s: float = 0.0, full_every: int = 1) -> None:
        self.full_every = max(1, full_every)
        """Every this many frames the whole frame is detected (1: every frame, no regions)."""
        self.refresh_s = refresh_s
        """A track's face is embedded again when its last template is this old (0: never)."""
        self.max_age_s = max_age_s
        self.max_life_s = max_life_s
        self.max_tracks = max(1, max_tracks)
        self.deployment_id: str | None = None
        """The deployment the tracks were made under (a change ends them all)."""
        self._tracks: dict[int, Track] = {}
        self._next_id = 1
        self._last_at = -math.inf
        self._grid: Grid | None = None
        """The last analysed frame's grid (``motion``): what is kept of a frame, while the
        tracks live."""
        self._since_full = 0
        """Frames analysed since the last full one."""
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> CameraTracks:
        return cls(max_age_s=settings.track_max_age_s, max_life_s=settings.track_max_life_s,
                   max_tracks=settings.track_max_per_camera,
                   refresh_s=settings.track_refresh_s, full_every=settings.detect_full_every)

    def __len__(self) -> int:
        return len(self._tracks)

    def __iter__(self) -> Iterator[Track]:
        with self._lock:
            return iter(list(self._tracks.values()))

    def hints(self, now: float, at: float | None = None) -> list[TrackHint]:
        """End the tracks that are too old, then the live ones' boxes predicted at the
        frame's capture time ``at`` (default: the server time ``now``)."""
        at = now if at is None else at
        with self._lock:
            if at < self._last_at:  # the camera's clock went back: no motion to trust
                self._clear()
            self._last_at = at
            self._expire(now, at)
            return [TrackHint(t.id, t.box, t.predicted(at), t.best_quality,
                              0 < self.refresh_s <= at - t.embedded_at)
                    for t in self._tracks.values()]

    def scene(self) -> SceneHint | None:
        """What the next frame's worker needs to detect only where needed (``motion``): the
        last frame's grid, and whether the next frame is a full one (None: every frame is,
        ``full_every`` 1)."""
        if self.full_every <= 1:
            return None
        with self._lock:
            full = self._grid is None or self._since_full + 1 >= self.full_every
            return SceneHint(self._grid, full)

    def remember(self, grid: Grid | None, full: bool) -> None:
        """Keep a frame's grid for the next frame (after :meth:`update`)."""
        with self._lock:
            self._grid = grid
            self._since_full = 0 if full else self._since_full + 1

    def expire(self, now: float, at: float | None = None) -> None:
        """End the tracks unseen for ``max_age_s`` or older than ``max_life_s``."""
        with self._lock:
            self._expire(now, now if at is None else at)

    def clear(self) -> None:
        """End every track (camera gone, deployment over, no frame for a while)."""
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        for track in self._tracks.values():
            track.wipe()
        self._tracks.clear()
        self._grid = None

    def update(self, found: FrameFaces, now: float, split_below: float,
               at: float | None = None) -> list[Track]:
        """Apply one frame's faces: continue or start a track per face, fold new templates in.

        An embedded face whose template falls below ``split_below`` against the aggregate of
        the track it was associated with is someone else (a crossing, a cut between scenes):
        it starts a track of its own, and the old track goes on without it.

        Args:
            found: the frame's faces, associated with the tracks by the worker.
            now: server time.
            split_below: the deployment's threshold.
            at: the frame's capture time (default: ``now``).

        Returns:
            The track of each face, in the frame's face order.
        """
        at = now if at is None else at
        where = {face: k for k, face in enumerate(found.good)}
        seen: list[Track] = []
        with self._lock:
            for i, face in enumerate(found.faces):
                tid = found.track_ids[i] if found.tracked else None
                track = self._tracks.get(tid) if tid is not None else None
                k = where.get(i)
                if track is not None and k is not None:
                    current = track.aggregate()
                    if current is not None and float(found.vectors[k] @ current) < split_below:
                        track = None
                if track is None:
                    track = self._start(face.box, now, at)
                track.observe(face.box, at)
                if k is not None:
                    track.add(found.vectors[k], found.quality[i], found.crops[k])
                    track.embedded_at = at
                seen.append(track)
        return seen

    def _start(self, box: Box, now: float, at: float) -> Track:
        while len(self._tracks) >= self.max_tracks:
            oldest = min(self._tracks.values(), key=lambda t: t.seen_at)
            self._end(oldest)
        track = Track(id=self._next_id, box=box, started_at=now, seen_at=at)
        self._next_id += 1
        self._tracks[track.id] = track
        return track

    def _expire(self, now: float, at: float) -> None:
        for track in [t for t in self._tracks.values()
                      if at - t.seen_at > self.max_age_s
                      or now - t.started_at > self.max_life_s]:
            self._end(track)

    def _end(self, track: Track) -> None:
        track.wipe()
        del self._tracks[track.id]


def unique(tracks: Sequence[Track]) -> list[Track]:
    """Tracks in first-seen order, each once."""
    out: dict[int, Track] = {}
    for track in tracks:
        out.setdefault(track.id, track)
    return list(out.values())
