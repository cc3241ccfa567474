"""Real faces: perturbed copies of enrolled photos match the right identity at the calibrated
default threshold, and faces that were never enrolled do not match anyone."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from server.evaluation.acquire import find_face
from server.recognition.calibration import default_threshold
from server.recognition.dlib_engine import DlibEngine
from server.recognition.engine import Image
from server.recognition.enrol import enrol
from server.recognition.image_io import encode_jpeg
from server.recognition.index import WatchlistIndex
from server.settings import Settings
from tests.recognition.conftest import Person

ENROLLED = ("t1_0", "t1_2", "t1_4", "tom_hanks", "astronaut")
NOT_ENROLLED = ("t1_1", "t1_3", "t1_5")


def perturbations(image: Image) -> Iterator[tuple[str, Image]]:
    """Mirror, down- and up-scaling, strong JPEG compression, darker and brighter."""
    h, w = image.shape[:2]
    yield "flip", np.ascontiguousarray(image[:, ::-1])
    yield "scale_0.7", np.asarray(
        cv2.resize(image, (round(w * 0.7), round(h * 0.7)), interpolation=cv2.INTER_AREA),
        dtype=np.uint8)
    yield "scale_1.6", np.asarray(
        cv2.resize(image, (round(w * 1.6), round(h * 1.6)), interpolation=cv2.INTER_LINEAR),
        dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 35])
    assert ok
    yield "jpeg_35", np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR), dtype=np.uint8)
    yield "darker", np.clip(image.astype(np.float32) * 0.55, 0, 255).astype(np.uint8)
    yield "brighter", np.clip(image.astype(np.float32) + 50, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def watchlist(
    engine: DlibEngine, settings: Settings, people: list[Person]
) -> tuple[WatchlistIndex, dict[int, str]]:
    index = WatchlistIndex(engine.model_id, engine.dim)
    names: dict[int, str] = {}
    for template_id, person in enumerate(p for p in people if p.name in ENROLLED):
        result = enrol(engine, encode_jpeg(person.image, 95), settings)
        index.add([template_id], np.asarray([result.vector]), result.model_id)
        names[template_id] = person.name
    assert len(index) == len(ENROLLED)
    return index, names


def _probe(engine: DlibEngine, image: Image) -> np.ndarray:
    found = find_face(engine, image)
    assert found is not None, "the perturbed face was not detected"
    used, face = found
    return engine.embed(used, [face])


@pytest.mark.parametrize("name", ENROLLED)
def test_perturbed_enrolled_faces_match_their_identity(
    engine: DlibEngine,
    people: list[Person],
    watchlist: tuple[WatchlistIndex, dict[int, str]],
    name: str,
) -> None:
    index, names = watchlist
    threshold = default_threshold(engine.model_id)
    person = next(p for p in people if p.name == name)
    for how, image in perturbations(person.image):
        (template_id, similarity), = index.search(_probe(engine, image), 1, engine.model_id)[0]
        assert names[template_id] == name, how
        assert similarity >= threshold, f"{how}: {similarity:.3f} < {threshold}"


@pytest.mark.parametrize("name", NOT_ENROLLED)
def test_faces_never_enrolled_match_nobody(
    engine: DlibEngine,
    people: list[Person],
    watchlist: tuple[WatchlistIndex, dict[int, str]],
    name: str,
) -> None:
    index, _ = watchlist
    threshold = default_threshold(engine.model_id)
    person = next(p for p in people if p.name == name)
    for how, image in [("original", person.image), *perturbations(person.image)]:
        hits = index.search(_probe(engine, image), len(ENROLLED), engine.model_id)[0]
        assert hits[0][1] < threshold, f"{how}: {name} matched {hits[0]}"
