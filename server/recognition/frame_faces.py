"""One camera frame from JPEG bytes to the templates of its usable faces.

decode -> detect -> quality gate -> embed, in one call, so that a worker process does a whole
frame per round trip: the JPEG bytes go in (not a pickled array), faces and templates come
out, and the decoded pixels never leave the process that decoded them. Searching, the
threshold and the probe crop stay with the caller (``server.pipeline.analysis``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, cast

import numpy as np

from server.recognition.engine import Face, FaceEngine, Image, Vectors
from server.recognition.image_io import decode_image
from server.recognition.quality import assess
from server.recognition.timing import StageTimer
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


def find_faces(
    engine: FaceEngine, jpeg: bytes, settings: Settings, min_face_px: float,
    timer: StageTimer, *, keep_image: bool = True,
) -> FrameFaces:
    """Decode, detect, gate and embed one frame.

    Raises:
        ImageRefused: ``undecodable_image`` or ``image_too_large``.
    """
    with timer.stage("decode"):
        image = decode_frame(jpeg, settings)
    faces = detect_faces(engine, image, timer, min_face_px)
    prob = bool(getattr(engine, "score_is_probability", False))
    with timer.stage("quality"):
        good = [i for i, f in enumerate(faces)
                if assess(image, f, settings.quality, score_is_probability=prob).ok]
    vectors = (engine.embed(image, [faces[i] for i in good], timer) if good
               else np.zeros((0, engine.dim), dtype=np.float32))
    return FrameFaces(faces, good, vectors, image if keep_image else None)
