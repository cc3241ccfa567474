"""Shared, session-scoped fixtures for the recognition tests: one loaded dlib engine and the
face photos that installed packages ship (no download, no files from outside PyPI)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import msgspec
import numpy as np
import pytest

from server.recognition.dlib_engine import DlibEngine
from server.recognition.engine import Face, Image
from server.settings import Settings
from tests.paths import DATASETS


class Person(msgspec.Struct, frozen=True):
    """A face photo cropped around one person, with a stable name."""

    name: str
    image: Image


def dataset(name: str) -> Path:
    """Path of a development dataset, or skip the test when it is not present."""
    path = DATASETS / name
    if not path.is_dir():
        pytest.skip(f"dataset {name} not found at {path} (development datasets are optional)")
    return path


def _insightface_image(name: str) -> Image:
    import insightface

    path = os.path.join(os.path.dirname(insightface.__file__), "data", "images", name)
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    assert image is not None, f"insightface sample image {path} is missing"
    return np.ascontiguousarray(image)


def crop_around(image: Image, face: Face, margin: float = 0.6) -> Image:
    """The face with ``margin`` of its size on every side (clipped to the image)."""
    h, w = image.shape[:2]
    mx, my = face.width * margin, face.height * margin
    x1, y1 = max(0, round(face.box[0] - mx)), max(0, round(face.box[1] - my))
    x2, y2 = min(w, round(face.box[2] + mx)), min(h, round(face.box[3] + my))
    return np.ascontiguousarray(image[y1:y2, x1:x2])


@pytest.fixture(scope="session")
def engine(dlib_engine: DlibEngine) -> DlibEngine:
    """Recognition tests run on the real dlib engine (``tests/conftest.py`` loads it once)."""
    return dlib_engine


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def group_photo() -> Image:
    """insightface's t1.jpg: six people."""
    return _insightface_image("t1.jpg")


@pytest.fixture(scope="session")
def people(engine: DlibEngine, group_photo: Image) -> list[Person]:
    """Eight single-face photos of eight different people: the six of t1.jpg (left to right),
    Tom Hanks and the astronaut of scikit-image (cropped to her head: dlib's HOG also fires
    on the mission patch on her suit)."""
    from skimage import data

    faces = sorted(engine.detect(group_photo), key=lambda f: f.box[0])
    assert len(faces) == 6
    out = [Person(f"t1_{i}", crop_around(group_photo, f)) for i, f in enumerate(faces)]
    out.append(Person("tom_hanks", _insightface_image("Tom_Hanks_54745.png")))
    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)  # type: ignore[no-untyped-call]
    out.append(Person("astronaut", np.ascontiguousarray(astronaut[20:260, 110:330])))
    return out
