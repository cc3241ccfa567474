"""The per-frame work done in the worker pool, never on the event loop.

decode -> detect -> quality gate -> embed -> search. What leaves this module is only: the
number of faces, and for faces at or above the threshold the entry, the similarity and the
probe crop (other faces in the crop blurred). Templates and pixels of every other face die
with the function's locals (privacy invariant 1), and nothing is written anywhere.
"""

from __future__ import annotations

import time

import cv2
import msgspec
import numpy as np

from server.recognition.engine import Face, FaceEngine, Image
from server.recognition.frame_faces import decode_frame, find_faces
from server.recognition.image_io import encode_jpeg
from server.recognition.matching import Matcher
from server.recognition.process_engine import ProcessEngine
from server.recognition.timing import StageTimer
from server.settings import Settings

CROP_MARGIN = 0.6
"""Probe crop = face box grown by this fraction of its size on each side."""


class Match(msgspec.Struct, frozen=True):
    """A face at or above the threshold (the only face data that leaves the worker)."""

    entry_id: str
    similarity: float
    probe_jpeg: bytes
    matched_at: float


class Analysis(msgspec.Struct, frozen=True):
    faces: int
    """Faces found in the frame (detected, including those the quality gate rejected)."""
    matches: tuple[Match, ...]
    stage_ms: dict[str, float]


def analyse_frame(
    engine: FaceEngine,
    matcher: Matcher,
    jpeg: bytes,
    settings: Settings,
    threshold: float,
    now: float,
    min_face_px: float = 0.0,
) -> Analysis:
    """Run one frame through the pipeline (called in a worker thread).

    ``min_face_px`` is the smallest face side the camera must find (0: every face the engine
    can see); engines that can use it detect faster.

    Raises:
        ImageRefused: ``undecodable_image`` or ``image_too_large``.
    """
    timer = StageTimer()
    if isinstance(engine, ProcessEngine):
        # One round trip: the JPEG bytes go to a worker process, which decodes, detects,
        # gates and embeds; the pixels stay there unless a face matches.
        found = engine.find_faces(jpeg, settings, min_face_px, timer)
    else:
        found = find_faces(engine, jpeg, settings, min_face_px, timer)
    faces = found.faces
    matches: list[Match] = []
    if found.good:
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
        del hits  # below-threshold templates go no further than this frame
    del found
    return Analysis(len(faces), tuple(matches), timer.ms)


def probe_crop(image: Image, face: Face, faces: list[Face]) -> bytes:
    """JPEG of the matched face with a margin; any other face inside the crop is blurred."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = face.box
    mx, my = (x2 - x1) * CROP_MARGIN, (y2 - y1) * CROP_MARGIN
    cx1, cy1 = max(0, int(x1 - mx)), max(0, int(y1 - my))
    cx2, cy2 = min(w, int(x2 + mx)), min(h, int(y2 + my))
    crop = np.array(image[cy1:cy2, cx1:cx2], copy=True)
    for other in faces:
        if other is face:
            continue
        ox1 = max(0, int(other.box[0]) - cx1 - 4)
        oy1 = max(0, int(other.box[1]) - cy1 - 4)
        ox2 = min(crop.shape[1], int(other.box[2]) - cx1 + 4)
        oy2 = min(crop.shape[0], int(other.box[3]) - cy1 + 4)
        if ox2 - ox1 < 2 or oy2 - oy1 < 2:
            continue
        region = crop[oy1:oy2, ox1:ox2]
        # Pixelate then blur: no identifiable detail survives, whatever the face size.
        small = cv2.resize(region, (4, 4), interpolation=cv2.INTER_AREA)
        crop[oy1:oy2, ox1:ox2] = cv2.GaussianBlur(
            cv2.resize(small, (ox2 - ox1, oy2 - oy1), interpolation=cv2.INTER_LINEAR),
            (0, 0), 3,
        )
    return encode_jpeg(crop, quality=90)
