"""The per-frame work done in the worker pool, never on the event loop.

decode -> detect -> quality gate -> embed -> search. What leaves this module is only: the
number of faces, and for faces at or above the threshold the entry, the similarity and the
probe crop (other faces in the crop blurred). Templates and pixels of every other face die
with the function's locals (privacy invariant 1), and nothing is written anywhere.

With the camera's tracks (``server.recognition.camera_tracks``) the decision is made on each
track seen in the frame: its quality-weighted aggregate template is searched, and a match
carries the track's best crop and the frames it was seen in since its last report. Templates
of tracks that match no one stay in the tracks' memory only while the track lives.
"""

from __future__ import annotations

import time

import msgspec
import numpy as np

from server.recognition.camera_tracks import CameraTracks, Track, unique
from server.recognition.crops import CROP_MARGIN, probe_crop
from server.recognition.engine import FaceEngine
from server.recognition.frame_faces import FrameFaces, decode_frame, find_faces
from server.recognition.matching import Hit, Matcher
from server.recognition.process_engine import ProcessEngine
from server.recognition.timing import StageTimer
from server.settings import Settings

__all__ = ["CROP_MARGIN", "Analysis", "Match", "analyse_frame", "probe_crop"]


class Match(msgspec.Struct, frozen=True):
    """A face at or above the threshold (the only face data that leaves the worker)."""

    entry_id: str
    similarity: float
    probe_jpeg: bytes
    matched_at: float
    sightings: int = 1
    """Frames the person was seen in since the last report (a track's frames before it
    first matched count too)."""
    basis: str = "frame"
    """What was compared: ``frame`` (one face of one frame) or ``track`` (the aggregate of
    ``templates`` views of a tracked face)."""
    templates: int = 1
    crop_quality: float = 0.0
    """Quality of the face in ``probe_jpeg`` (``tracking.face_quality``; 0: unknown). An
    open alert takes a later sighting's crop only when it is better."""


class Analysis(msgspec.Struct, frozen=True):
    faces: int
    """Faces found in the frame (detected, including those the quality gate rejected)."""
    matches: tuple[Match, ...]
    stage_ms: dict[str, float]
    embedded: int = 0
    """Faces embedded for this frame (with tracking, only those that needed a template)."""


def analyse_frame(
    engine: FaceEngine,
    matcher: Matcher,
    jpeg: bytes,
    settings: Settings,
    threshold: float,
    now: float,
    min_face_px: float = 0.0,
    tracks: CameraTracks | None = None,
    captured_at: float | None = None,
) -> Analysis:
    """Run one frame through the pipeline (called in a worker thread).

    ``min_face_px`` is the smallest face side the camera must find (0: every face the engine
    can see); engines that can use it detect faster. With ``tracks`` (the camera's, updated
    here: the camera's frames are analysed one at a time) the decision is made per track;
    ``captured_at`` is the frame's capture time (the tracks' motion clock).

    Raises:
        ImageRefused: ``undecodable_image`` or ``image_too_large``.
    """
    timer = StageTimer()
    hints = None if tracks is None else tracks.hints(now, captured_at)
    scene = None if tracks is None else tracks.scene()
    if isinstance(engine, ProcessEngine):
        # One round trip: the JPEG bytes (and the tracks' boxes) go to a worker process,
        # which decodes, detects, associates, gates and embeds; the pixels stay there unless
        # a face matches or needs a crop for its track.
        found = engine.find_faces(jpeg, settings, min_face_px, timer, tracks=hints,
                                  scene=scene)
    else:
        found = find_faces(engine, jpeg, settings, min_face_px, timer, tracks=hints,
                           scene=scene)
    if tracks is not None:
        matches = _track_matches(found, tracks, matcher, threshold, now, captured_at, timer)
    else:
        matches = _frame_matches(found, matcher, jpeg, settings, threshold, now, timer)
    faces, embedded = len(found.faces), len(found.good)
    del found  # below-threshold templates go no further than this frame (or their track)
    return Analysis(faces, tuple(matches), timer.ms, embedded)


def _frame_matches(found: FrameFaces, matcher: Matcher, jpeg: bytes, settings: Settings,
                   threshold: float, now: float, timer: StageTimer) -> list[Match]:
    """Each good face of the frame decided on alone."""
    matches: list[Match] = []
    if not found.good:
        return matches
    faces = found.faces
    with timer.stage("search"):
        hits = matcher.search(found.vectors, now)
    image = found.image
    for i, hit in zip(found.good, hits, strict=True):
        if hit is not None and hit.similarity >= threshold:
            with timer.stage("crop"):
                if image is None:  # analysed in a worker process: decode here, once
                    image = decode_frame(jpeg, settings)
                crop = probe_crop(image, faces[i], faces)
            matches.append(Match(hit.entry_id, hit.similarity, crop, time.time()))
    return matches


def _track_matches(found: FrameFaces, tracks: CameraTracks, matcher: Matcher,
                   threshold: float, now: float, captured_at: float | None,
                   timer: StageTimer) -> list[Match]:
    """Each track seen in the frame decided on its aggregate template."""
    with timer.stage("track"):
        seen = unique(tracks.update(found, now, split_below=threshold, at=captured_at))
        tracks.remember(found.grid, found.full)
        decided: list[tuple[Track, np.ndarray]] = []
        for track in seen:
            aggregate = track.aggregate()
            if aggregate is not None:
                decided.append((track, aggregate))
    if not decided:
        return []
    with timer.stage("search"):
        hits = matcher.search(np.stack([a for _, a in decided]), now)
    matches: list[Match] = []
    for (track, _), hit in zip(decided, hits, strict=True):
        if hit is not None and hit.similarity >= threshold:
            matches.append(_report(track, hit))
    return matches


def _report(track: Track, hit: Hit) -> Match:
    """A track's match, carrying the frames seen since its last report."""
    sightings = max(1, track.frames - track.reported)
    track.reported = track.frames
    return Match(hit.entry_id, hit.similarity, track.best_crop, time.time(),
                 sightings=sightings, basis="track", templates=track.templates,
                 crop_quality=track.best_quality)
