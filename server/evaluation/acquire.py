"""Turning evaluation images into templates, the way a photo would be acquired.

Choices (documented because they change the figures):

* Images whose longest side exceeds ``MAX_SIDE`` (1280 px, a 720p frame's width) are scaled
  down first: the development photos reach 2,300 px, where dlib's upsampled HOG takes
  seconds, and their faces stay well above 100 px after scaling.
* Tight crops (ORL's 92x112 and faceapi_bbt's 150x150 faces) leave the detector no margin
  around the face, so when nothing is found the image is padded by half its size on every
  side (edge pixels replicated) and searched again. Nothing is upscaled: the engine's own
  upsampling (``Settings.upsample``) is what the live pipeline uses too.
* Of several faces, the largest box is taken (the labelled subject of a portrait).
* A *failure to acquire* is an image with no face after that retry (or one that cannot be
  decoded). The quality gate is **not** applied by default, so that accuracy figures measure
  the model on every face it can find; each report counts how many acquired faces the gate
  would have rejected (``quality_rejected``), and ``gate=True`` turns those into failures to
  acquire instead, as the live pipeline would.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import cv2
import msgspec
import numpy as np

from server.errors import ImageRefused
from server.evaluation.dataset import Sample
from server.recognition.engine import Face, FaceEngine, Image, Vectors
from server.recognition.image_io import read_image_file
from server.recognition.quality import assess
from server.recognition.timing import StageTimer
from server.settings import QualitySettings

MAX_SIDE = 1280
"""Longest image side used for evaluation (larger photos are scaled down)."""

T = TypeVar("T")
Progress = Callable[[Iterable[T], str, int], Iterable[T]]
"""Wraps an iterable with a progress display: ``progress(items, description, total)``."""


def no_progress(items: Iterable[T], description: str, total: int) -> Iterable[T]:
    """The silent default progress wrapper."""
    return items


class Acquisition(msgspec.Struct, frozen=True):
    """Templates of a list of images (row ``i`` of ``vectors`` belongs to image ``i``).

    Attributes:
        vectors: ``N x dim`` float32; rows of failed images are zero.
        ok: whether image ``i`` yielded a template.
        reasons: failure reason per image (``None`` when acquired): ``no_face``,
            ``undecodable_image`` or ``low_quality:<reason>`` (with the gate on).
        face_height: height of the chosen face box, px, in the prepared image (0 if none).
        quality: quality-gate reason per acquired face (``None`` = would pass).
        detect_ms: detection + landmarks time per image.
        embed_ms: embedding time per acquired face.
    """

    vectors: Vectors
    ok: list[bool]
    reasons: list[str | None]
    face_height: list[float]
    quality: list[str | None]
    detect_ms: list[float]
    embed_ms: list[float]

    @property
    def failures(self) -> int:
        return sum(1 for ok in self.ok if not ok)

    def failure_reasons(self) -> dict[str, int]:
        return dict(sorted(Counter(r for r in self.reasons if r is not None).items()))

    def quality_rejected(self) -> dict[str, int]:
        return dict(sorted(Counter(q for q in self.quality if q is not None).items()))


def prepare(image: Image) -> Image:
    """Scale an image down so that its longest side is at most :data:`MAX_SIDE`."""
    h, w = image.shape[:2]
    scale = MAX_SIDE / max(h, w)
    if scale >= 1.0:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.ascontiguousarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))


def pad(image: Image) -> Image:
    """Pad by half the image size on every side, replicating the edge pixels."""
    h, w = image.shape[:2]
    return np.ascontiguousarray(
        cv2.copyMakeBorder(image, h // 2, h // 2, w // 2, w // 2, cv2.BORDER_REPLICATE)
    )


def find_face(
    engine: FaceEngine, image: Image, timer: StageTimer | None = None
) -> tuple[Image, Face] | None:
    """The largest face of ``image``, retrying on a padded copy; ``None`` if there is none.

    Returns:
        The image the face was found in (the input or its padded copy) and the face.
    """
    for candidate in (image, pad(image)):
        faces = engine.detect(candidate, timer)
        if faces:
            return candidate, max(faces, key=lambda f: (f.width * f.height, f.score))
    return None


def acquire(
    engine: FaceEngine,
    images: Sequence[Callable[[], Image]],
    *,
    quality: QualitySettings | None = None,
    gate: bool = False,
    progress: Progress[int] = no_progress,
    description: str = "acquiring",
) -> Acquisition:
    """Detect, choose and embed one face per image.

    Args:
        engine: the face engine under test.
        images: loaders, one per image (called once each, so memory holds one image at a time);
            a loader may raise :class:`ImageRefused` for an unreadable file.
        quality: quality settings used to count (or, with ``gate``, refuse) weak faces.
        gate: count faces that fail the quality gate as failures to acquire.
        progress: progress display wrapper.
        description: label for the progress display.
    """
    quality = quality or QualitySettings()
    prob = bool(getattr(engine, "score_is_probability", False))
    n = len(images)
    vectors = np.zeros((n, engine.dim), dtype=np.float32)
    ok = [False] * n
    reasons: list[str | None] = [None] * n
    heights = [0.0] * n
    verdicts: list[str | None] = [None] * n
    detect_ms: list[float] = []
    embed_ms: list[float] = []
    for i in progress(range(n), description, n):
        timer = StageTimer()
        try:
            image = images[i]()
        except ImageRefused as exc:
            reasons[i] = exc.code
            continue
        found = find_face(engine, image, timer)
        detect_ms.append(timer.ms.get("detect", 0.0) + timer.ms.get("landmarks", 0.0))
        if found is None:
            reasons[i] = "no_face"
            continue
        used, face = found
        heights[i] = face.height
        report = assess(used, face, quality, score_is_probability=prob)
        verdicts[i] = report.reason
        if gate and report.reason is not None:
            reasons[i] = f"low_quality:{report.reason}"
            continue
        vectors[i] = engine.embed(used, [face], timer)[0]
        embed_ms.append(timer.ms.get("embed", 0.0))
        ok[i] = True
    return Acquisition(vectors, ok, reasons, heights, verdicts, detect_ms, embed_ms)


def file_loaders(samples: Sequence[Sample]) -> list[Callable[[], Image]]:
    """Loaders that read and :func:`prepare` each sample's file."""

    def loader(path: str) -> Callable[[], Image]:
        return lambda: prepare(read_image_file(path))

    return [loader(s.path) for s in samples]
