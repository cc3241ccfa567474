"""Test photos: a subject among strangers, as real photos (for the real engines) or as marker
faces (for :class:`tests.fakes.engine.FakeEngine`), with the same meaning field by field."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from server.recognition.engine import FaceEngine
from server.recognition.image_io import encode_jpeg
from tests.fakes.engine import face_image


@dataclass
class Photos:
    subject: bytes
    """Enrolment photo of the subject."""
    second_subject: bytes
    """Enrolment photo of a second subject."""
    frame_subject: bytes
    """640x360 frame: a DIFFERENT photo of the subject between two strangers."""
    frame_second: bytes
    """640x360 frame: another photo of the second subject with a stranger."""
    strangers: list[bytes] = field(default_factory=list)
    """200x180 frames of one person on no watchlist each."""


SUBJECT, SECOND = 1, 2
"""Identity codes of the two subjects in :func:`fake_photos`."""
STRANGERS = (101, 102, 103, 104, 105, 106)
"""Identity codes of the six strangers (on no watchlist)."""


def fake_photos() -> Photos:
    """Marker-face photos: enrolment photos hold one large marker; frames place the markers at
    other sizes and positions (so, with engine noise, a frame is a different photo)."""

    def jpeg(identities: tuple[int, ...], width: int, height: int, size: int) -> bytes:
        return encode_jpeg(face_image(identities, width, height, size), quality=90)

    return Photos(
        subject=jpeg((SUBJECT,), 320, 320, 160),
        second_subject=jpeg((SECOND,), 320, 320, 160),
        frame_subject=jpeg((STRANGERS[0], SUBJECT, STRANGERS[1]), 640, 360, 96),
        frame_second=jpeg((SECOND, STRANGERS[2]), 640, 360, 96),
        strangers=[jpeg((s,), 200, 180, 96) for s in STRANGERS],
    )


def real_photos(engine: FaceEngine) -> Photos:
    """Real photos: obama and biden (``face_recognition_examples``) among the insightface
    ``t1.jpg`` crowd; skips the test when the dataset is absent."""
    from tests.server.frames import DATASET, compose, face_tiles, insightface_image, jpeg

    if not DATASET.is_dir():
        pytest.skip(f"dataset {DATASET} is not present")
    crowd = face_tiles(engine, insightface_image("t1.jpg"), size=150)
    subject_tile = face_tiles(engine, DATASET / "obama" / "obama2.jpg", size=150)[0]
    second_tile = face_tiles(engine, DATASET / "biden" / "biden2.jpg", size=150)[0]
    return Photos(
        subject=(DATASET / "obama" / "obama.jpg").read_bytes(),
        second_subject=(DATASET / "biden" / "biden.jpg").read_bytes(),
        frame_subject=jpeg(compose([crowd[0], subject_tile, crowd[1]])),
        frame_second=jpeg(compose([second_tile, crowd[2]])),
        strangers=[jpeg(compose([tile], 200, 180)) for tile in crowd],
    )
