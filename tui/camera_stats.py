"""Counters and the end-of-run summary of a camera streamer."""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field

import msgspec

from shared.protocol.camera import FrameResult


class CameraSummary(msgspec.Struct, kw_only=True, frozen=True):
    """What became of the frames of one streaming run (``--json`` prints it)."""

    camera_id: str
    frames_read: int
    frames_sent: int
    frames_acknowledged: int
    frames_processed: int
    dropped_local: int
    """Dropped by the streamer's own queue because the connection was slower than the source."""
    dropped_server: int
    """Dropped by the server's latest-frame-wins slot."""
    no_active_deployment: int
    refused: int
    faces_seen: int
    latency_ms_p50: float | None
    latency_ms_p99: float | None
    """Round trip from sending a frame to receiving its result."""
    server_latency_ms_p50: float | None
    reconnects: int
    duration_s: float
    error: str | None = None
    """Why streaming stopped early (a refusal or an unreadable source), else None."""
    capture_to_send_ms_p50: float | None = None
    capture_to_send_ms_p99: float | None = None
    """From reading a frame off the source to handing it to the socket: encoding plus any
    wait in the streamer's own queue (the camera side of a frame's latency)."""


@dataclass
class CameraStats:
    """Live counters, read by the progress display while streaming runs."""

    frames_read: int = 0
    frames_sent: int = 0
    frames_acknowledged: int = 0
    frames_processed: int = 0
    dropped_local: int = 0
    dropped_server: int = 0
    no_active_deployment: int = 0
    refused: int = 0
    faces_seen: int = 0
    reconnects: int = 0
    connected: bool = False
    last_error: str = ""
    round_trip_ms: deque[float] = field(default_factory=lambda: deque(maxlen=4096))
    server_ms: deque[float] = field(default_factory=lambda: deque(maxlen=4096))
    capture_to_send_ms: deque[float] = field(default_factory=lambda: deque(maxlen=4096))
    started: float = field(default_factory=time.monotonic)
    # Drops reported by connections that have ended (dropped_total restarts per connection).
    _dropped_before: int = 0
    _dropped_this_connection: int = 0

    def new_connection(self) -> None:
        self._dropped_before += self._dropped_this_connection
        self._dropped_this_connection = 0

    def record_result(self, result: FrameResult, round_trip_ms: float | None) -> None:
        """Count one ``frame_result``."""
        self.frames_acknowledged += 1
        self.faces_seen += result.faces
        if round_trip_ms is not None and result.status != "dropped":
            self.round_trip_ms.append(round_trip_ms)
        if result.status == "processed":
            self.frames_processed += 1
            self.server_ms.append(result.latency_ms)
        elif result.status == "no_active_deployment":
            self.no_active_deployment += 1
        elif result.status == "refused":
            self.refused += 1
            self.last_error = result.code or "refused"
        counted = self._dropped_this_connection + (result.status == "dropped")
        self._dropped_this_connection = max(counted, result.dropped_total)
        self.dropped_server = self._dropped_before + self._dropped_this_connection

    def summary(self, camera_id: str, error: str | None = None) -> CameraSummary:
        return CameraSummary(
            camera_id=camera_id,
            frames_read=self.frames_read,
            frames_sent=self.frames_sent,
            frames_acknowledged=self.frames_acknowledged,
            frames_processed=self.frames_processed,
            dropped_local=self.dropped_local,
            dropped_server=self.dropped_server,
            no_active_deployment=self.no_active_deployment,
            refused=self.refused,
            faces_seen=self.faces_seen,
            latency_ms_p50=percentile(self.round_trip_ms, 50),
            latency_ms_p99=percentile(self.round_trip_ms, 99),
            server_latency_ms_p50=percentile(self.server_ms, 50),
            reconnects=self.reconnects,
            duration_s=round(time.monotonic() - self.started, 3),
            error=error,
            capture_to_send_ms_p50=percentile(self.capture_to_send_ms, 50),
            capture_to_send_ms_p99=percentile(self.capture_to_send_ms, 99),
        )


def percentile(values: deque[float] | list[float], q: float) -> float | None:
    """Nearest-rank percentile (None for no values), rounded to 0.1."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return round(ordered[rank], 1)
