"""Alignment checked against the embedder's template.

The FacePlugin embedder was made for 112x112 chips with the five points on the standard ArcFace
reference points: the package's own code (``lib/fr_feature.js`` of
faceplugin-face-recognition-js, ``REFERENCE_FACIAL_POINTS``, crop 112x112) uses exactly these.
So these tests pin the template, the chip size the pack asks for, the five points the engine
derives from 68 landmarks, and that the warp puts landmarks on the template (within 1 px).
Other ways to derive or warp the points were measured worse on lfw_dev (docs/operations.md,
"Templates").
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from server.recognition.align import ARCFACE_112, align_face
from server.recognition.onnx_engine import five_from_68
from server.recognition.packs import faceplugin

FACEPLUGIN_REFERENCE = (
    (38.29459953, 51.69630051),
    (73.53179932, 51.50139999),
    (56.02519989, 71.73660278),
    (41.54930115, 92.3655014),
    (70.72990036, 92.20410156),
)
"""The reference points in the FacePlugin package's code (float32 renderings of ArcFace's)."""


def test_template_is_the_embedders_reference() -> None:
    assert np.allclose(ARCFACE_112, FACEPLUGIN_REFERENCE, atol=1e-4)
    spec = faceplugin.manifest([], dict.fromkeys(faceplugin.PINNED_SHA256, True),
                               "test").embedder
    assert tuple(spec.input_size) == (112, 112)
    assert np.allclose(spec.template, FACEPLUGIN_REFERENCE, atol=1e-4)


def test_five_points_from_68() -> None:
    rng = np.random.default_rng(3)
    pts = [(float(x), float(y)) for x, y in rng.uniform(0, 200, (68, 2))]
    le, re, nose, lm, rm = five_from_68(pts)
    assert np.allclose(le, np.mean(pts[36:42], axis=0))
    assert np.allclose(re, np.mean(pts[42:48], axis=0))
    assert (nose, lm, rm) == (pts[30], pts[48], pts[54])


def _blob(shape: tuple[int, int], centre: tuple[float, float], sigma: float) -> np.ndarray:
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]]
    g = np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * sigma**2))
    grey = (255 * g).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))


@pytest.mark.parametrize("seed", range(4))
def test_aligned_landmarks_land_on_the_template(seed: int) -> None:
    # A face anywhere in a frame, turned and scaled: its five points are the template moved by
    # a random similarity. Each point is drawn as its own blob; after the warp the blob's
    # centre must be on the template point.
    rng = np.random.default_rng(seed)
    angle = math.radians(rng.uniform(-25, 25))
    scale = rng.uniform(1.2, 3.0)
    shift = rng.uniform(40, 160, 2)
    rot = scale * np.array([[math.cos(angle), -math.sin(angle)],
                            [math.sin(angle), math.cos(angle)]])
    landmarks = [tuple(rot @ np.asarray(p) + shift) for p in ARCFACE_112]
    five = (landmarks[0], landmarks[1], landmarks[2], landmarks[3], landmarks[4])
    for k, point in enumerate(landmarks):
        image = _blob((480, 480), (float(point[0]), float(point[1])), 2.0 * scale)
        chip = align_face(image, five)[:, :, 0].astype(np.float64)
        assert chip.shape == (112, 112)
        ys, xs = np.mgrid[0:112, 0:112]
        weight = chip.sum()
        found = ((xs * chip).sum() / weight, (ys * chip).sum() / weight)
        assert math.dist(found, ARCFACE_112[k]) < 1.0, (k, found, ARCFACE_112[k])
