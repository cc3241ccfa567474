"""The face engine contract shared by every recognition backend.

An engine finds faces (box, five landmarks, score) and turns each into a unit-length template.
Templates are only comparable within one ``model_id``: the index refuses anything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import msgspec
import numpy as np
import numpy.typing as npt

from server.recognition.timing import StageTimer

Image = npt.NDArray[np.uint8]
"""A decoded image: ``H x W x 3`` BGR, uint8 (OpenCV's layout)."""

Vectors = npt.NDArray[np.float32]
"""Templates: ``N x dim`` float32, each row of unit length."""

Point = tuple[float, float]


class Face(msgspec.Struct, frozen=True):
    """One detected face, in the pixel coordinates of the image it was found in."""

    box: tuple[float, float, float, float]
    """``x1, y1, x2, y2``."""
    landmarks: tuple[Point, Point, Point, Point, Point]
    """Standard five points: left eye, right eye (as seen in the image), nose tip, left and
    right mouth corner. Engines whose landmark model has no mouth points estimate them."""
    score: float
    """Detector confidence; its scale is the engine's own."""
    points: tuple[Point, ...] = ()
    """The engine's raw landmark points (e.g. dlib's 5 or 68), used again by ``embed``."""
    located: bool = True
    """False when the landmarks were not measured (an engine asked to skip them, see
    ``OnnxEngine.detect``'s ``locate``): ``landmarks`` are then the box's nominal points and
    the face is never gated on pose or embedded before ``locate`` measures them."""

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def inter_eye(self) -> float:
        (lx, ly), (rx, ry) = self.landmarks[0], self.landmarks[1]
        return float(((rx - lx) ** 2 + (ry - ly) ** 2) ** 0.5)


@runtime_checkable
class FaceEngine(Protocol):
    """What the pipeline, enrolment and evaluation need from a recognition backend.

    Implementations must be safe to call from several worker threads at once, or say
    otherwise in ``thread_safe``.
    """

    name: str
    """Engine family: ``dlib`` or ``onnx``."""
    model_id: str
    """Stable identifier of the embedding model; templates never cross model ids."""
    dim: int
    """Template length."""

    def detect(self, image: Image, timer: StageTimer | None = None) -> list[Face]:
        """Find faces in a BGR image, best first."""
        ...

    def embed(
        self, image: Image, faces: Sequence[Face], timer: StageTimer | None = None
    ) -> Vectors:
        """One unit-length template per face, in one batch where the backend allows."""
        ...


def normalise_rows(vectors: npt.NDArray[np.floating]) -> Vectors:
    """Scale each row to unit length (a zero row stays zero)."""
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim == 1:
        v = v[None, :]
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(v / norms, dtype=np.float32)
