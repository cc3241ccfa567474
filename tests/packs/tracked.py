"""A camera's frames through the worker's frame path with the camera's tracks, as the server
runs them (``server.pipeline.analysis``), without a server."""

from __future__ import annotations

from server.recognition.camera_tracks import CameraTracks
from server.recognition.engine import FaceEngine
from server.recognition.frame_faces import FrameFaces, find_faces
from server.recognition.timing import StageTimer
from server.settings import Settings


def track_frames(engine: FaceEngine, jpegs: list[bytes], full_every: int = 1,
                 ) -> list[FrameFaces]:
    """Each frame's faces, 0.2 s apart, detecting everywhere every ``full_every`` frames."""
    settings = Settings(detect_full_every=full_every)
    tracks = CameraTracks.from_settings(settings)
    out = []
    for k, jpeg in enumerate(jpegs):
        at = 100.0 + 0.2 * k
        found = find_faces(engine, jpeg, settings, 40.0, StageTimer(),
                           tracks=tracks.hints(at, at), scene=tracks.scene())
        tracks.update(found, at, split_below=0.5, at=at)
        tracks.remember(found.grid, found.full)
        out.append(found)
    return out
