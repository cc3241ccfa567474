"""Bystanders are blurred: the one stored image of a passer-by shows only the matched face.

The probe crop keeps a margin around the matched face, so a nearby face can fall inside it;
that face must not be recognisable. Checked with the detector itself: on the raw crop it finds
the bystander (so the scene really puts one there), on the stored probe crop at most one face.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from server.pipeline.analysis import probe_crop
from server.recognition.dlib_engine import DlibEngine
from server.recognition.image_io import decode_image
from tests.server.frames import face_tiles, insightface_image

pytestmark = pytest.mark.real_engine  # real faces are the point here


def test_other_faces_inside_the_probe_crop_are_blurred(engine: DlibEngine) -> None:
    tiles = face_tiles(engine, insightface_image("t1.jpg"), size=150)
    big = cv2.resize(tiles[0], (300, 300), interpolation=cv2.INTER_CUBIC)
    canvas = np.full((420, 560, 3), 90, dtype=np.uint8)
    canvas[60:360, 40:340] = big  # the matched face, about 165 px wide
    # A bystander just above and beside it, wholly inside the crop's margin.
    canvas[60:180, 300:420] = cv2.resize(tiles[1], (120, 120), interpolation=cv2.INTER_AREA)
    faces = engine.detect(canvas)
    assert len(faces) == 2, "the scene must hold the subject and one bystander"
    subject = max(faces, key=lambda f: f.width)

    x1, y1, x2, y2 = (int(v) for v in subject.box)
    mx, my = int((x2 - x1) * 0.6), int((y2 - y1) * 0.6)
    raw = canvas[max(0, y1 - my):y2 + my, max(0, x1 - mx):x2 + mx]
    assert len(engine.detect(raw)) == 2, "without blurring the crop shows the bystander"

    stored = decode_image(probe_crop(canvas, subject, faces), max_bytes=1 << 24,
                          max_pixels=1 << 24)
    assert len(engine.detect(stored)) == 1
