"""Flip test-time augmentation: the mirror of a face and its landmarks."""

from __future__ import annotations

import numpy as np

from server.recognition.engine import Face
from server.recognition.flip import MIRROR_68, embed_with_mirror, mirror_face, mirror_image
from tests.fakes.engine import FakeEngine, face_image


def _face(points: tuple[tuple[float, float], ...]) -> Face:
    return Face((10.0, 20.0, 90.0, 110.0),
                ((30.0, 50.0), (70.0, 52.0), (50.0, 70.0), (35.0, 90.0), (66.0, 91.0)), 0.9,
                points)


def test_mirror_permutation_is_an_involution_that_swaps_sides() -> None:
    assert sorted(MIRROR_68) == list(range(68))
    assert all(MIRROR_68[MIRROR_68[i]] == i for i in range(68))
    assert (MIRROR_68[36], MIRROR_68[48], MIRROR_68[30]) == (45, 54, 30)


def test_mirror_face_twice_is_the_face() -> None:
    rng = np.random.default_rng(1)
    for n in (0, 5, 68):
        pts = tuple((float(x), float(y)) for x, y in rng.uniform(0, 100, (n, 2)))
        face = _face(pts)
        once = mirror_face(face, 120)
        twice = mirror_face(once, 120)
        assert np.allclose(twice.points, face.points) if n else twice.points == ()
        assert np.allclose(twice.landmarks, face.landmarks)
        assert np.allclose(twice.box, face.box)
        # The image's left eye of the mirror is the mirror of the right eye, still on the left.
        assert once.landmarks[0] == (120 - 1 - 70.0, 52.0)
        assert once.landmarks[0][0] < once.landmarks[1][0]
        assert once.landmarks[3][0] < once.landmarks[4][0]
        assert once.box == (120 - 1 - 90.0, 20.0, 120 - 1 - 10.0, 110.0)


def test_mirrored_landmarks_sit_on_the_mirrored_pixels() -> None:
    image = np.zeros((50, 80, 3), dtype=np.uint8)
    image[12, 7] = 255
    face = _face(((7.0, 12.0),) * 5)
    mirrored = mirror_image(image)
    x, y = mirror_face(face, 80).points[0]
    assert mirrored[int(y), int(x)].tolist() == [255, 255, 255]


def test_embed_with_mirror_is_a_unit_template_per_face() -> None:
    engine = FakeEngine(noise=0.0)
    image = face_image((7,), 320, 320, 160)
    faces = engine.detect(image)
    vectors = embed_with_mirror(engine, image, faces)
    assert vectors.shape == (len(faces), engine.dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embed_with_mirror(engine, image, []).shape == (0, engine.dim)
