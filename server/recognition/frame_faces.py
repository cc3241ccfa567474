"""One camera frame from JPEG bytes to the templates of its usable faces.

decode -> detect -> quality gate -> embed, in one call, so that a worker process does a whole
frame per round trip: the JPEG bytes go in (not a pickled array), faces and templates come
out, and the decoded pixels never leave the process that decoded them. Searching, the
threshold and the probe crop stay with the caller (``server.pipeline.analysis``).

With the camera's live tracks (``tracks``, see ``server.recognition.tracking``) the same call
also associates the faces with the tracks and embeds only the faces that need a template;
the crops of those faces come back too (the track keeps its best one for a later alert).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, cast

import numpy as np

from server.recognition.crops import probe_crop
from server.recognition.engine import Face, FaceEngine, Image, Vectors
from server.recognition.image_io import decode_image
from server.recognition.quality import assess
from server.recognition.timing import StageTimer
from server.recognition.tracking import TrackHint, associate, face_quality, wants_template
from server.settings import Settings


class SizedDetector(Protocol):
    """An engine whose detection can skip faces below a size (fewer tiles, see ``tiling``);
    such an engine sets a true ``sized_detection`` class attribute."""

    def detect(
        self, image: Image, timer: StageTimer | None = None, *, min_face_px: float = 0.0
    ) -> list[Face]: ...


def detect_faces(
    engine: FaceEngine, image: Image, timer: StageTimer | None, min_face_px: float
) -> list[Face]:
    """``engine.detect``, told the smallest face size the camera needs when it can use it."""
    if min_face_px > 0 and getattr(engine, "sized_detection", False):
        return cast(SizedDetector, engine).detect(image, timer, min_face_px=min_face_px)
    return engine.detect(image, timer)


def frame_pixels(settings: Settings) -> int:
    """The pixel limit of a camera frame (never above the limit of any image)."""
    return min(settings.max_frame_pixels, settings.max_image_pixels)


def decode_frame(jpeg: bytes, settings: Settings) -> Image:
    """Decode a camera frame within the frame limits.

    Raises:
        ImageRefused: ``undecodable_image`` or ``image_too_large``.
    """
    return decode_image(jpeg, max_bytes=settings.max_image_bytes,
                        max_pixels=frame_pixels(settings), downscale=settings.downscale_frames)


@dataclass(frozen=True)
class FrameFaces:
    """The faces of one frame and the templates of those that passed the quality gate."""

    faces: list[Face]
    """Every face detected (the quality gate's rejects included: they are counted, and
    blurred in a probe crop)."""
    good: list[int]
    """Indices into ``faces`` of the faces that were embedded."""
    vectors: Vectors
    """One template per ``good`` face, in that order."""
    image: Image | None = None
    """The decoded frame when it was decoded in this process (``keep_image``), else None."""
    tracked: bool = False
    """Whether the faces were associated with the camera's tracks (the fields below)."""
    track_ids: list[int | None] = field(default_factory=list)
    """Per face: the track it continues, or None (a new track)."""
    quality: list[float] = field(default_factory=list)
    """Per face: ``tracking.face_quality`` (0 for a face the quality gate rejected)."""
    crops: list[bytes] = field(default_factory=list)
    """Per ``good`` face, with tracks: its probe crop (other faces blurred)."""


def find_faces(
    engine: FaceEngine, jpeg: bytes, settings: Settings, min_face_px: float,
    timer: StageTimer, *, keep_image: bool = True, tracks: Sequence[TrackHint] | None = None,
) -> FrameFaces:
    """Decode, detect, gate and embed one frame.

    Args:
        tracks: the camera's live tracks (None: no tracking, every good face is embedded).

    Raises:
        ImageRefused: ``undecodable_image`` or ``image_too_large``.
    """
    with timer.stage("decode"):
        image = decode_frame(jpeg, settings)
    faces = detect_faces(engine, image, timer, min_face_px)
    prob = bool(getattr(engine, "score_is_probability", False))
    with timer.stage("quality"):
        reports = [assess(image, f, settings.quality, score_is_probability=prob)
                   for f in faces]
    if tracks is None:
        good = [i for i, r in enumerate(reports) if r.ok]
        return FrameFaces(faces, good, _embed(engine, image, faces, good, timer),
                          image if keep_image else None)
    with timer.stage("track"):
        quality = [face_quality(f, r.sharpness, score_is_probability=prob) if r.ok else 0.0
                   for f, r in zip(faces, reports, strict=True)]
        assoc = associate(tracks, faces)
        by_id: dict[int | None, TrackHint] = {t.id: t for t in tracks}
        good = [i for i, r in enumerate(reports) if r.ok and wants_template(
            by_id.get(assoc.track_ids[i]), assoc.strong[i], quality[i])]
    vectors = _embed(engine, image, faces, good, timer)
    with timer.stage("crop"):
        crops = [probe_crop(image, faces[i], faces) for i in good]
    return FrameFaces(faces, good, vectors, image if keep_image else None, tracked=True,
                      track_ids=assoc.track_ids, quality=quality, crops=crops)


def _embed(engine: FaceEngine, image: Image, faces: list[Face], which: list[int],
           timer: StageTimer) -> Vectors:
    if not which:
        return np.zeros((0, engine.dim), dtype=np.float32)
    return engine.embed(image, [faces[i] for i in which], timer)
