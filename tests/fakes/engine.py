"""A deterministic face engine for tests whose point is not the face itself.

Real engines cost hundreds of milliseconds a photo on a 2-core machine and need model files;
the governance, protocol and lifecycle tests only need *some* face that enrols, matches the
same identity again and does not match anyone else. :class:`FakeEngine` gives exactly that:

* A "face" is a marker drawn with :func:`draw_face`: a solid magenta square ring around a
  4 x 4 grid of black and white cells. The grid spells a 12-bit identity code (the four
  corner cells are fixed, so every marker has edges and passes the sharpness check). Markers
  survive JPEG at the qualities the tests use and any size from 40 px up.
* ``detect`` finds the rings with OpenCV (connected components of magenta pixels), returns
  their boxes with frontal, synthetic landmarks and a probability score of 1.0, largest first.
* ``embed`` reads the code back from the pixels and returns a unit vector drawn from a
  generator seeded with it: the same identity gives the same direction whatever the photo,
  different identities give independent random directions (cosine about N(0, 1/dim), so
  near-orthogonal). ``noise`` adds a small, deterministic perturbation seeded by where and
  how large the face is, so two photos of one identity match at ~``1 / sqrt(1 + noise^2)``
  rather than exactly 1.0.

:data:`FAKE_CALIBRATION` is the matching calibration (thresholds derived from that impostor
distribution); the test fixtures register it for the duration of the session.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

import cv2
import numpy as np

from server.recognition.calibration import Calibration
from server.recognition.engine import Face, FaceEngine, Image, Vectors, normalise_rows
from server.recognition.timing import StageTimer

MODEL_ID = "fake-seeded-128"
DIM = 512
GRID = 4
"""Cells per side of the code grid."""
BORDER = 1 / 8
"""Ring width, as a fraction of the marker side."""
MAGENTA = (255, 0, 255)
"""BGR colour of the ring."""
CORNERS = {(0, 0): 1, (0, GRID - 1): 0, (GRID - 1, 0): 0, (GRID - 1, GRID - 1): 1}
"""Fixed corner cells (1 = white): orientation and edges for every code."""
CODE_CELLS = [(r, c) for r in range(GRID) for c in range(GRID) if (r, c) not in CORNERS]
MAX_IDENTITY = (1 << len(CODE_CELLS)) - 1
MIN_SIDE = 16
"""Smallest ring the detector reports, in pixels (the quality gate refuses under 32)."""


def _impostor_threshold(fmr: float) -> float:
    """Cosine above which two independent random unit vectors in ``DIM`` dimensions fall with
    probability ``fmr`` (normal approximation of N(0, 1/DIM), one-sided), rounded up."""
    # Inverse of the normal tail by bisection: no SciPy needed for four numbers.
    lo, hi = 0.0, 10.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if 0.5 * math.erfc(mid / math.sqrt(2)) > fmr:
            lo = mid
        else:
            hi = mid
    return math.ceil(hi / math.sqrt(DIM) * 10_000) / 10_000


FAKE_CALIBRATION = Calibration(
    model_id=MODEL_ID,
    default=_impostor_threshold(1e-4),
    fmr_thresholds=tuple((f, _impostor_threshold(f)) for f in (1e-2, 1e-3, 1e-4, 1e-5)),
    source="analytic: independent random unit vectors in 512 dimensions (tests only)",
)


def draw_face(image: Image, identity: int, x: int, y: int, size: int) -> Image:
    """Draw the marker of ``identity`` with its top-left corner at ``(x, y)``, ``size`` px
    square (at least 40 px for the quality gate), into ``image`` (BGR, modified in place)."""
    if not 0 <= identity <= MAX_IDENTITY:
        raise ValueError(f"identity must be in 0..{MAX_IDENTITY}")
    image[y:y + size, x:x + size] = MAGENTA
    border = round(size * BORDER)
    cell = (size - 2 * border) / GRID
    bits = dict(CORNERS)
    for i, (r, c) in enumerate(CODE_CELLS):
        bits[(r, c)] = (identity >> i) & 1
    for (r, c), bit in bits.items():
        y1, x1 = y + border + round(r * cell), x + border + round(c * cell)
        y2, x2 = y + border + round((r + 1) * cell), x + border + round((c + 1) * cell)
        image[y1:y2, x1:x2] = 255 if bit else 0
    return image


def face_image(identities: Sequence[int], width: int = 640, height: int = 360,
               size: int = 120, background: int = 90) -> Image:
    """A plain frame with one marker per identity, side by side and centred vertically."""
    canvas = np.full((height, width, 3), background, dtype=np.uint8)
    slot = width // max(1, len(identities))
    for i, identity in enumerate(identities):
        draw_face(canvas, identity, i * slot + (slot - size) // 2, (height - size) // 2, size)
    return canvas


def _magenta(image: Image) -> np.ndarray:
    b, g, r = image[..., 0].astype(np.int16), image[..., 1], image[..., 2].astype(np.int16)
    mask = (b > 150) & (r > 150) & (g < 110) & (np.abs(b - r) < 80)
    return mask.astype(np.uint8)


class FakeEngine:
    """A :class:`~server.recognition.engine.FaceEngine` reading marker faces (see module)."""

    name = "fake"
    model_id = MODEL_ID
    dim = DIM
    score_is_probability = True
    releases_gil = True
    thread_safe = True

    def __init__(self, noise: float = 0.0) -> None:
        self.noise = noise

    def detect(self, image: Image, timer: StageTimer | None = None) -> list[Face]:
        if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 4 or image.shape[1] < 4:
            return []
        count, _, stats, _ = cv2.connectedComponentsWithStats(_magenta(image), connectivity=8)
        faces: list[Face] = []
        for x, y, w, h, area in stats[1:count]:
            if min(w, h) < MIN_SIDE or not 0.8 <= w / h <= 1.25:
                continue
            ring = 1 - (1 - 2 * BORDER) ** 2  # ring area over box area for a clean marker
            if not 0.5 * ring <= area / (w * h) <= 1.5 * ring:
                continue
            faces.append(_face(float(x), float(y), float(w), float(h)))
        faces.sort(key=lambda f: -f.width * f.height)
        return faces

    def embed(self, image: Image, faces: Sequence[Face],
              timer: StageTimer | None = None) -> Vectors:
        rows = np.zeros((len(faces), self.dim), dtype=np.float64)
        for i, face in enumerate(faces):
            identity = read_identity(image, face)
            rows[i] = np.random.default_rng([identity, 0x5EED]).standard_normal(self.dim)
            rows[i] /= np.linalg.norm(rows[i])
            if self.noise > 0:
                x1, y1, x2, _ = (round(v) for v in face.box)
                jitter = np.random.default_rng([identity, x1, y1, x2 - x1]).standard_normal(
                    self.dim)
                rows[i] += self.noise * jitter / np.linalg.norm(jitter)
        return normalise_rows(rows)


def _face(x: float, y: float, w: float, h: float) -> Face:
    """A detection with frontal landmarks: eyes 40 % of the width apart, nose where the
    quality gate's pose check expects a frontal face's nose."""
    eye_y = y + 0.38 * h
    left, right = (x + 0.3 * w, eye_y), (x + 0.7 * w, eye_y)
    nose = (x + 0.5 * w, eye_y + 0.55 * 0.4 * w)
    mouth_y = y + 0.8 * h
    landmarks = (left, right, nose, (x + 0.35 * w, mouth_y), (x + 0.65 * w, mouth_y))
    return Face(box=(x, y, x + w, y + h), landmarks=landmarks, score=1.0, points=landmarks)


def read_identity(image: Image, face: Face) -> int:
    """The identity code inside a detected marker (cell centres, thresholded)."""
    x1, y1, x2, y2 = face.box
    side = min(x2 - x1, y2 - y1)
    border = side * BORDER
    cell = (side - 2 * border) / GRID
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    identity = 0
    for i, (r, c) in enumerate(CODE_CELLS):
        cy = int(y1 + border + (r + 0.5) * cell)
        cx = int(x1 + border + (c + 0.5) * cell)
        patch = grey[max(0, cy - 1):cy + 2, max(0, cx - 1):cx + 2]
        if patch.size and float(patch.mean()) > 128:
            identity |= 1 << i
    return identity


class GatedEngine:
    """Wraps an engine so that ``detect`` waits until the test opens the gate.

    The gate starts shut. ``entered`` is set when a call is inside ``detect`` (so the test
    knows analysis is under way); ``release()`` lets every waiting and future call through,
    ``hold()`` shuts the gate again for later calls. Lets a test keep a frame "in analysis"
    for as long as it needs, without a timing assumption.
    """

    def __init__(self, inner: FaceEngine, limit_s: float = 120.0) -> None:
        self.inner = inner
        self.name, self.model_id, self.dim = inner.name, inner.model_id, inner.dim
        self.score_is_probability = bool(getattr(inner, "score_is_probability", False))
        self.releases_gil = True
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.limit_s = limit_s
        self.calls = 0

    def release(self) -> None:
        self.gate.set()

    def hold(self) -> None:
        self.entered.clear()
        self.gate.clear()

    def detect(self, image: Image, timer: StageTimer | None = None) -> list[Face]:
        self.calls += 1
        self.entered.set()
        if not self.gate.wait(self.limit_s):
            raise TimeoutError("the test never released the gated engine")
        return self.inner.detect(image, timer)

    def embed(self, image: Image, faces: Sequence[Face],
              timer: StageTimer | None = None) -> Vectors:
        return self.inner.embed(image, faces, timer)
