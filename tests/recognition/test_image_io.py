"""Image size limits are enforced from the header, before any pixel is decoded."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from server.errors import ImageRefused
from server.recognition import image_io
from server.recognition.image_io import check_image, decode_image, encode_jpeg

FRAME_LIMIT = 3840 * 2160


def big_png() -> bytes:
    """A 4096x4096 PNG of a few tens of KB: a small upload that decodes to 48 MB."""
    ok, buf = cv2.imencode(".png", np.zeros((4096, 4096), dtype=np.uint8),
                           [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert ok
    return bytes(buf.tobytes())


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> None:
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(image_io.cv2, "imdecode", refuse)


@pytest.mark.usefixtures("no_decoding")
def test_oversized_png_is_refused_from_its_header() -> None:
    data = big_png()
    assert len(data) < 100_000
    with pytest.raises(ImageRefused) as refused:
        decode_image(data, max_bytes=8_000_000, max_pixels=FRAME_LIMIT)
    assert refused.value.code == "image_too_large"
    assert "4096x4096" in refused.value.message
    # Downscaling is for JPEG only: a PNG cannot be decoded smaller, so it stays refused.
    with pytest.raises(ImageRefused) as refused:
        check_image(data, max_bytes=8_000_000, max_pixels=FRAME_LIMIT, downscale=True)
    assert refused.value.code == "image_too_large"


def test_oversized_jpeg_is_decoded_smaller_when_allowed() -> None:
    image = np.full((2000, 3000, 3), 120, dtype=np.uint8)
    data = encode_jpeg(image, 80)
    with pytest.raises(ImageRefused) as refused:
        decode_image(data, max_bytes=8_000_000, max_pixels=1_000_000)
    assert refused.value.code == "image_too_large"
    # 3000x2000 is 6 MP: 1/2 gives 1.5 MP (over), 1/4 gives 750x500, the largest that fits.
    small = decode_image(data, max_bytes=8_000_000, max_pixels=1_000_000, downscale=True)
    assert small.shape == (500, 750, 3)
    # Within the limit nothing changes.
    assert decode_image(data, max_bytes=8_000_000, max_pixels=6_000_000).shape == image.shape


def test_jpeg_too_large_even_at_one_eighth_is_refused() -> None:
    data = encode_jpeg(np.zeros((800, 800, 3), dtype=np.uint8), 80)
    with pytest.raises(ImageRefused) as refused:
        check_image(data, max_bytes=8_000_000, max_pixels=50 * 50, downscale=True)
    assert refused.value.code == "image_too_large"


def progressive_jpeg(repeats: int) -> bytes:
    """A 640x360 progressive JPEG (10 scans as libjpeg writes it) with its smallest scan
    repeated ``repeats`` more times before the last: every extra scan is a pass over the whole
    image for libjpeg, a few bytes each in the file (a scan bomb)."""
    ok, buf = cv2.imencode(".jpg", np.full((360, 640, 3), 90, dtype=np.uint8),
                           [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok
    data = bytes(buf.tobytes())
    starts = [i for i in range(len(data) - 1) if data[i:i + 2] == b"\xff\xda"]
    scans = [data[a:b] for a, b in itertools.pairwise(starts)]
    smallest = min(scans[1:], key=len)
    return data[:starts[-1]] + smallest * repeats + data[starts[-1]:]


@pytest.mark.usefixtures("no_decoding")
def test_jpeg_with_too_many_scans_is_refused_before_decoding() -> None:
    bomb = progressive_jpeg(image_io.MAX_JPEG_SCANS)
    assert len(bomb) < 20_000  # 110 scans in a few kilobytes
    for call in (check_image, decode_image):
        with pytest.raises(ImageRefused) as refused:
            call(bomb, max_bytes=8_000_000, max_pixels=FRAME_LIMIT)
        assert refused.value.code == "undecodable_image"
        assert "scans" in refused.value.message


def test_ordinary_progressive_jpeg_still_decodes() -> None:
    data = progressive_jpeg(0)
    assert 2 <= image_io.jpeg_scan_bound(data) <= 20
    assert decode_image(data, max_bytes=8_000_000, max_pixels=FRAME_LIMIT).shape == (360, 640, 3)
    near = progressive_jpeg(image_io.MAX_JPEG_SCANS - image_io.jpeg_scan_bound(data))
    assert image_io.jpeg_scan_bound(near) == image_io.MAX_JPEG_SCANS
    assert decode_image(near, max_bytes=8_000_000, max_pixels=FRAME_LIMIT).shape == (360, 640, 3)
