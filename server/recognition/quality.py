"""Quality gate: a face is embedded only if it is large, confident, sharp and frontal enough.

A rejected face still counts as processed; it can never match. Each refusal carries a reason
code (``face_too_small``, ``low_score``, ``blur``, ``pose``) used in enrolment refusals
(``low_quality:<reason>``) and in the pipeline's counters.
"""

from __future__ import annotations

import cv2
import msgspec
import numpy as np

from server.recognition.engine import Face, Image
from server.settings import QualitySettings

FRONTAL_NOSE_DROP = 0.55
"""Nose tip below the eye line, in inter-eye distances, for a frontal face (both engines'
nose points sit near the tip; measured on the development photos, 0.45 to 0.7)."""


class QualityReport(msgspec.Struct, frozen=True):
    """Measurements of one face and the first failed check, if any."""

    reason: str | None
    face_px: float
    inter_eye_px: float
    sharpness: float
    yaw: float
    pitch: float

    @property
    def ok(self) -> bool:
        return self.reason is None


def sharpness(image: Image, face: Face) -> float:
    """Variance of the Laplacian of the face, resampled to 64 px wide so that the figure
    does not depend on the face size."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (round(v) for v in face.box)
    x1, y1 = max(0, x1), max(0, y1)
    x2, y2 = min(w, x2), min(h, y2)
    if x2 - x1 < 4 or y2 - y1 < 4:
        return 0.0
    crop = image[y1:y2, x1:x2]
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    size = (64, max(4, round(64 * (y2 - y1) / (x2 - x1))))
    grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def pose(face: Face) -> tuple[float, float]:
    """Yaw and pitch proxies from the eyes and the nose tip (0 = frontal)."""
    (lx, ly), (rx, ry), (nx, ny) = face.landmarks[0], face.landmarks[1], face.landmarks[2]
    eye = np.array([rx - lx, ry - ly], dtype=np.float64)
    d = float(np.linalg.norm(eye))
    if d < 1e-6:
        return 1e9, 1e9
    axis = eye / d
    normal = np.array([-axis[1], axis[0]])
    rel = np.array([nx - (lx + rx) / 2.0, ny - (ly + ry) / 2.0])
    yaw = abs(float(rel @ axis)) / d
    pitch = abs(float(rel @ normal) / d - FRONTAL_NOSE_DROP)
    return yaw, pitch


def assess(
    image: Image, face: Face, settings: QualitySettings, *, score_is_probability: bool,
    sharp: float | None = None,
) -> QualityReport:
    """Measure a face and return the first check it fails (size, score, blur, pose).

    ``sharp``: the face's :func:`sharpness` when the caller measured it already (same box).
    """
    face_px = min(face.width, face.height)
    eye = face.inter_eye
    sharp = sharpness(image, face) if sharp is None else sharp
    yaw, pitch = pose(face)
    min_score = settings.min_score_prob if score_is_probability else settings.min_score
    reason: str | None = None
    if face_px < settings.min_face_px or eye < settings.min_inter_eye_px:
        reason = "face_too_small"
    elif face.score < min_score:
        reason = "low_score"
    elif sharp < settings.min_sharpness:
        reason = "blur"
    elif yaw > settings.max_yaw or pitch > settings.max_pitch:
        reason = "pose"
    return QualityReport(reason, face_px, eye, sharp, yaw, pitch)
