"""Turning reference photos into an entry's template, or a clear refusal per photo.

Enrolment takes the one face of a photo that passes the quality gate. A portrait with small
faces in the background (a passer-by behind the subject: 11 % of single-person news portraits
of the development set) enrols its dominant face, the one at least :data:`DOMINANCE` times as
wide as every other acceptable face, and says so (``background_faces``); faces of similar size
are refused as ``multiple_faces``, since nobody can tell which person is meant. Refusal codes:
``undecodable_image``, ``image_too_large``, ``no_face``, ``multiple_faces`` and
``low_quality:<reason>`` (reasons from :mod:`server.recognition.quality`).

An entry may be enrolled from several photos (:func:`enrol_photos`): each goes through the same
gate, and their templates are fused into one (:func:`fuse`, the normalised mean). Where the
engine is one whose measurement showed it helps (:data:`FLIP_ENGINES`), each photo's template
is the mean of the face's and its mirror image's (:mod:`server.recognition.flip`). Both
choices, and the figures behind them, are in docs/operations.md ("Templates").
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import numpy as np

from server.errors import EnrolmentRefused, ImageRefused
from server.recognition.engine import Face, FaceEngine, Image, Vectors, normalise_rows
from server.recognition.flip import embed_with_mirror
from server.recognition.image_io import decode_image
from server.recognition.quality import QualityReport, assess
from server.settings import Settings

DOMINANCE = 1.6
"""How much wider than every other acceptable face the enrolled face must be, when a photo
holds several (a background face at 60 % of the subject's width or less)."""
FLIP_ENGINES: frozenset[str] = frozenset()
"""Engines whose enrolment templates average the face with its mirror image. None: on lfw_dev
the FacePlugin embedder gained under a point of TAR at FMR 1e-4 with it, but its impostor tail
grew and at the calibrated operating point it recalled less (docs/operations.md, "Templates");
dlib was not measured."""
MAX_PHOTOS = 10
"""Most reference photos an entry holds (each is kept, and re-embedded when one is added)."""


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
    vectors: Vectors = (embed_with_mirror(engine, image, [face]) if engine.name in FLIP_ENGINES
                        else engine.embed(image, [face]))
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


class PhotoRefusal(msgspec.Struct, frozen=True):
    """Why one photo of several was refused (``index`` counts from 1, in upload order)."""

    index: int
    code: str
    message: str


class PhotosRefused(EnrolmentRefused):
    """One or more photos of an enrolment were refused; nothing was enrolled.

    ``code`` is the first refused photo's own code (``no_face``, ``multiple_faces``...), so a
    client sending one photo sees exactly the single-photo refusal; ``refusals`` has them all
    and the message names each photo.
    """

    def __init__(self, refusals: Sequence[PhotoRefusal], total: int) -> None:
        self.refusals = tuple(refusals)
        first = self.refusals[0]
        if total == 1:
            message = first.message
        else:
            message = "; ".join(f"photo {r.index} of {total}: {r.code} ({r.message})"
                                for r in self.refusals)
        super().__init__(first.code, message)


class MultiEnrolment(msgspec.Struct, frozen=True):
    """An entry's photos, each accepted, and the one template fused from them."""

    model_id: str
    photos: tuple[Enrolment, ...]
    vector: list[float]

    @property
    def background_faces(self) -> int:
        return sum(p.background_faces for p in self.photos)


def fuse(vectors: Sequence[Sequence[float]]) -> list[float]:
    """One unit template from several of the same person: the normalised mean.

    Measured on lfw_dev against keeping each photo's template (the entry scoring its best) and
    both: with two photos the mean recalled the most at the calibrated operating threshold,
    also when held to the stricter threshold of two templates (live 64 px probes, N = 100:
    44 % against 40 % for the best of two and 35 % for one photo; docs/operations.md,
    "Templates"). It keeps one template per entry and model.

    Raises:
        ValueError: no vectors.
    """
    if not vectors:
        raise ValueError("nothing to fuse")
    total = np.asarray(vectors, dtype=np.float32).sum(axis=0, keepdims=True)
    return [float(x) for x in normalise_rows(total)[0]]


def enrol_photos(
    engine: FaceEngine, photos: Sequence[bytes], settings: Settings,
    kept: Sequence[bytes] = (),
) -> MultiEnrolment:
    """Enrol every photo (see :func:`enrol`) and fuse their templates.

    Args:
        engine: the face engine.
        photos: the new photos, numbered from 1 in refusals.
        settings: quality gate and image limits.
        kept: photos the entry already holds (accepted before): enrolled again and fused
            with the new ones (``photos`` of the result lists them first).

    Raises:
        PhotosRefused: one or more new photos were refused (all of them are listed).
        EnrolmentRefused: ``no_photo``, ``too_many_photos``, or ``stored_photo_refused``
            when a kept photo no longer passes (another engine or quality setting).
    """
    if not photos:
        raise EnrolmentRefused("no_photo", "an enrolment needs at least one photo")
    if len(kept) + len(photos) > MAX_PHOTOS:
        raise EnrolmentRefused("too_many_photos", f"an entry holds at most {MAX_PHOTOS} photos")
    old: list[Enrolment] = []
    for i, data in enumerate(kept, start=1):
        try:
            old.append(enrol(engine, data, settings))
        except (ImageRefused, EnrolmentRefused) as exc:
            raise EnrolmentRefused(
                "stored_photo_refused", f"the entry's stored photo {i} is refused now "
                f"({exc.code}); remove the entry and enrol it again") from exc
    accepted: list[Enrolment] = []
    refusals: list[PhotoRefusal] = []
    for i, data in enumerate(photos, start=1):
        try:
            accepted.append(enrol(engine, data, settings))
        except (ImageRefused, EnrolmentRefused) as exc:
            refusals.append(PhotoRefusal(i, exc.code, exc.message))
    if refusals:
        raise PhotosRefused(refusals, len(photos))
    every = (*old, *accepted)
    return MultiEnrolment(engine.model_id, every, fuse([e.vector for e in every]))
