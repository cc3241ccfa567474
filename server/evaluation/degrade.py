"""Live-camera conditions applied to search images (``vigil eval --degrade``).

Reference photos stay clean (enrolment uses good photos); only the probes are degraded,
because that is what a street camera changes. Each condition is a pure function of the
prepared image and the height of its face found on the clean image:

* ``face_height:<px>`` - the image is rescaled so that the face box is that tall (24, 32, 48,
  64, 96 px): the main driver of live accuracy. dlib at one upsampling pass is designed to
  find faces from about 40 px, so the smallest sizes mostly fail to acquire, which counts
  against FNIR (see :mod:`server.evaluation.metrics`).
* ``blur:<pct>%`` - Gaussian blur with sigma equal to that share of the face height (2, 4, 8 %:
  about 1.3, 2.6 and 5 px on a 64 px face), for defocus and motion.
* ``jpeg:<q>`` - JPEG re-encoding at quality 30, 50, 70, 90, at the image's own scale.
* ``dim:<factor>`` - intensities multiplied by 0.3 or 0.1 (underexposure), with Gaussian
  sensor noise of 2 grey levels (fixed seed) and 8-bit rounding, which is what loses detail.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import msgspec
import numpy as np

from server.recognition.engine import Image

FACE_HEIGHTS = (24, 32, 48, 64, 96)
BLUR_PERCENT = (2, 4, 8)
JPEG_QUALITIES = (30, 50, 70, 90)
DIM_FACTORS = (0.3, 0.1)
NOISE_SIGMA = 2.0


class Condition(msgspec.Struct, frozen=True):
    """A named degradation: ``apply(image, face_height) -> image``."""

    name: str
    kind: str
    value: float

    def apply(self, image: Image, face_height: float) -> Image:
        """Degrade ``image`` whose face (on the clean image) is ``face_height`` px tall."""
        return _APPLY[self.kind](image, face_height, self.value)


def conditions() -> list[Condition]:
    """Every condition of the sweep, in report order."""
    out = [Condition(f"face_height:{h}px", "face_height", h) for h in FACE_HEIGHTS]
    out += [Condition(f"blur:{p}%", "blur", p) for p in BLUR_PERCENT]
    out += [Condition(f"jpeg:{q}", "jpeg", q) for q in JPEG_QUALITIES]
    out += [Condition(f"dim:{f:g}", "dim", f) for f in DIM_FACTORS]
    return out


def resize_to_face(image: Image, face_height: float, target: float) -> Image:
    """Rescale ``image`` so that a face ``face_height`` px tall becomes ``target`` px tall."""
    if face_height <= 0:
        return image
    scale = target / face_height
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    method = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(image, size, interpolation=method))


def blur(image: Image, face_height: float, percent: float) -> Image:
    """Gaussian blur, sigma = ``percent`` % of the face height."""
    sigma = max(0.1, face_height * percent / 100.0)
    return np.ascontiguousarray(cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma))


def jpeg(image: Image, face_height: float, quality: float) -> Image:
    """Encode as JPEG at ``quality`` and decode again."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, round(quality)])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR image
        return image
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return np.ascontiguousarray(decoded, dtype=np.uint8)


def dim(image: Image, face_height: float, factor: float) -> Image:
    """Underexpose by ``factor`` and add sensor noise (seeded, so runs repeat exactly)."""
    rng = np.random.default_rng(0)
    dark = image.astype(np.float32) * float(factor)
    dark += rng.normal(0.0, NOISE_SIGMA, size=image.shape).astype(np.float32)
    return np.ascontiguousarray(np.clip(np.rint(dark), 0, 255).astype(np.uint8))


def _resize(image: Image, face_height: float, target: float) -> Image:
    return resize_to_face(image, face_height, target)


_APPLY: dict[str, Callable[[Image, float, float], Image]] = {
    "face_height": _resize,
    "blur": blur,
    "jpeg": jpeg,
    "dim": dim,
}
