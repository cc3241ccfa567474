"""The fake engine keeps its promises: markers are found and read back after JPEG, pass the
quality gate, one identity gives one direction and different ones are near-orthogonal."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from server.recognition.engine import FaceEngine
from server.recognition.image_io import decode_image, encode_jpeg
from server.recognition.quality import assess
from server.settings import QualitySettings
from tests.fakes.engine import (
    FAKE_CALIBRATION,
    MAX_IDENTITY,
    FakeEngine,
    draw_face,
    face_image,
    read_identity,
)
from tests.support.photos import SECOND, STRANGERS, SUBJECT, fake_photos


def roundtrip(image: np.ndarray, quality: int = 90) -> np.ndarray:
    out: np.ndarray = decode_image(encode_jpeg(image, quality=quality), max_bytes=10**7,
                                   max_pixels=10**8)
    return out


def test_is_a_face_engine() -> None:
    assert isinstance(FakeEngine(), FaceEngine)


@pytest.mark.parametrize("size", [40, 64, 120, 300])
@pytest.mark.parametrize("quality", [70, 90])
def test_markers_are_found_and_read_back(size: int, quality: int) -> None:
    engine = FakeEngine()
    ids = [0, 1, 1234, MAX_IDENTITY]
    image = roundtrip(face_image(ids, width=4 * size + 200, height=size + 60, size=size),
                      quality)
    faces = engine.detect(image)
    assert len(faces) == len(ids)
    by_x = sorted(faces, key=lambda f: f.box[0])
    assert [read_identity(image, f) for f in by_x] == ids
    for face in faces:
        assert abs(face.width - size) <= 2
        report = assess(image, face, QualitySettings(), score_is_probability=True)
        assert report.ok, report


def test_no_marker_no_face() -> None:
    engine = FakeEngine()
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    assert engine.detect(noise) == []
    assert engine.detect(np.full((100, 100, 3), 255, np.uint8)) == []
    square = np.zeros((100, 100, 3), np.uint8)
    square[20:80, 20:80] = (255, 0, 255)  # solid magenta: not a ring
    assert engine.detect(square) == []


def test_one_identity_one_direction_others_near_orthogonal() -> None:
    engine = FakeEngine(noise=0.1)
    ids = [SUBJECT, SECOND, *STRANGERS]
    a = roundtrip(face_image(ids, width=120 * len(ids), height=200, size=96))
    b = roundtrip(face_image(list(reversed(ids)), width=150 * len(ids), height=300, size=130))
    va = engine.embed(a, sorted(engine.detect(a), key=lambda f: f.box[0]))
    vb = engine.embed(b, sorted(engine.detect(b), key=lambda f: f.box[0]))[::-1]
    same = np.sum(va * vb, axis=1)
    assert same.min() > 0.98  # two photos of one identity: close...
    assert same.max() < 1.0  # ...but not the same template
    assert np.allclose(np.linalg.norm(va, axis=1), 1.0, atol=1e-5)
    for i, j in itertools.combinations(range(len(ids)), 2):
        assert abs(float(va[i] @ va[j])) < FAKE_CALIBRATION.default


def test_calibration_is_ordered() -> None:
    thresholds = [t for _, t in FAKE_CALIBRATION.fmr_thresholds]
    assert thresholds == sorted(thresholds)
    assert FAKE_CALIBRATION.default in thresholds


def test_identity_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="identity must be in"):
        draw_face(np.zeros((64, 64, 3), np.uint8), MAX_IDENTITY + 1, 0, 0, 64)


def test_fake_photos_hold_what_their_fields_say() -> None:
    engine, photos = FakeEngine(), fake_photos()

    def ids(data: bytes) -> list[int]:
        image = decode_image(data, max_bytes=10**7, max_pixels=10**8)
        return sorted(read_identity(image, f) for f in engine.detect(image))

    assert ids(photos.subject) == [SUBJECT]
    assert ids(photos.second_subject) == [SECOND]
    assert ids(photos.frame_subject) == sorted([SUBJECT, *STRANGERS[:2]])
    assert ids(photos.frame_second) == sorted([SECOND, STRANGERS[2]])
    assert [ids(s) for s in photos.strangers] == [[s] for s in STRANGERS]
