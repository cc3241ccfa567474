"""A JPEG cut short with an end marker appended is refused, not analysed as whole (issue 15,
item 12): libjpeg would fill the missing part with grey, and half a face could match the
wrong person."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from server.errors import ImageRefused
from server.recognition.image_io import decode_image
from tests.paths import DATASETS

PHOTOS = sorted((DATASETS / "face_recognition_examples").glob("*/*.jpg"))[:6]


def decode(data: bytes) -> np.ndarray:
    return decode_image(data, max_bytes=10**8, max_pixels=10**8)


@pytest.mark.skipif(not PHOTOS, reason="face_recognition_examples dataset not present")
@pytest.mark.parametrize("fraction", [0.3, 0.7, 0.97])
def test_cut_jpeg_with_an_appended_end_marker_is_refused(fraction: float) -> None:
    for photo in PHOTOS:
        data = photo.read_bytes()
        decode(data)  # whole: accepted
        end = data.rfind(b"\xff\xd9")
        cut = data[: int(end * fraction)] + b"\xff\xd9"
        with pytest.raises(ImageRefused) as refused:
            decode(cut)
        assert refused.value.code == "undecodable_image", photo


def test_whole_mid_grey_frames_are_not_mistaken_for_cut_ones() -> None:
    grey = np.full((360, 640, 3), 128, np.uint8)
    corner = grey.copy()
    corner[:120, :200] = (40, 90, 200)
    for image in (grey, corner):
        ok, buf = cv2.imencode(".jpg", image)
        assert ok
        assert decode(buf.tobytes()).shape == image.shape


def test_whole_grey_frame_decoded_at_reduced_size_is_accepted() -> None:
    ok, buf = cv2.imencode(".jpg", np.full((2000, 2000, 3), 128, np.uint8))
    assert ok
    image = decode_image(buf.tobytes(), max_bytes=10**8, max_pixels=1_000_000, downscale=True)
    assert image.shape == (1000, 1000, 3)
