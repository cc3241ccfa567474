"""Turning one reference photo into one template, or a clear refusal.

Enrolment takes the one face of a photo that passes the quality gate. A portrait with small
faces in the background (a passer-by behind the subject: 11 % of single-person news portraits
of the development set) enrols its dominant face, the one at least :data:`DOMINANCE` times as
wide as every other acceptable face, and says so (``background_faces``); faces of similar size
are refused as ``multiple_faces``, since nobody can tell which person is meant. Refusal codes:
``undecodable_image``, ``image_too_large``, ``no_face``, ``multiple_faces`` and
``low_quality:<reason>`` (reasons from :mod:`server.recognition.quality`).
"""

from __future__ import annotations

import msgspec

from server.errors import EnrolmentRefused
from server.recognition.engine import Face, FaceEngine, Image, Vectors
from server.recognition.image_io import decode_image
from server.recognition.quality import QualityReport, assess
from server.settings import Settings

DOMINANCE = 1.6
"""How much wider than every other acceptable face the enrolled face must be, when a photo
holds several (a background face at 60 % of the subject's width or less)."""


class Enrolment(msgspec.Struct, frozen=True):
    """The accepted face of a reference photo and its template."""

    model_id: str
    face: Face
    quality: QualityReport
    vector: list[float]
    background_faces: int = 0
    """Smaller acceptable faces left out of the template (the dominant face was enrolled)."""


def enrol_image(engine: FaceEngine, image: Image, settings: Settings) -> Enrolment:
    """Pick the single acceptable face of a decoded photo and embed it.

    Raises:
        EnrolmentRefused: ``no_face``, ``multiple_faces`` or ``low_quality:<reason>``.
    """
    faces = engine.detect(image)
    if not faces:
        raise EnrolmentRefused("no_face", "no face was found in the photo")
    prob = bool(getattr(engine, "score_is_probability", False))
    reports = [assess(image, f, settings.quality, score_is_probability=prob) for f in faces]
    good = sorted(((f, r) for f, r in zip(faces, reports, strict=True) if r.ok),
                  key=lambda fr: -fr[0].width)
    if len(good) > 1 and good[0][0].width < DOMINANCE * good[1][0].width:
        raise EnrolmentRefused(
            "multiple_faces", f"{len(good)} usable faces of similar size found; a reference "
            "photo needs one dominant face"
        )
    if not good:
        reason = reports[0].reason
        raise EnrolmentRefused(f"low_quality:{reason}", f"the face failed the {reason} check")
    face, report = good[0]
    vectors: Vectors = engine.embed(image, [face])
    return Enrolment(engine.model_id, face, report, [float(x) for x in vectors[0]],
                     background_faces=len(good) - 1)


def enrol(engine: FaceEngine, data: bytes, settings: Settings) -> Enrolment:
    """Decode untrusted photo bytes and enrol them (see :func:`enrol_image`).

    Raises:
        ImageRefused: ``undecodable_image`` or ``image_too_large``.
        EnrolmentRefused: see :func:`enrol_image`.
    """
    image = decode_image(
        data, max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels
    )
    return enrol_image(engine, image, settings)
