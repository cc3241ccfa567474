"""Decoding untrusted image bytes with size limits, and small image helpers.

The pixel count is read from the header before decoding, so a small file that claims huge
dimensions (a decompression bomb) is refused without allocating the image.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import cv2
import numpy as np
from PIL import Image as PILImage

from server.errors import ImageRefused
from server.recognition.engine import Image

REDUCTIONS = ((2, cv2.IMREAD_REDUCED_COLOR_2), (4, cv2.IMREAD_REDUCED_COLOR_4),
              (8, cv2.IMREAD_REDUCED_COLOR_8))
"""JPEG decoding at 1/2, 1/4 or 1/8 size (libjpeg scales in the DCT, so the full-size image
is never allocated)."""


MAX_JPEG_SCANS = 100
"""Most scans a JPEG may hold. Every scan of a progressive JPEG makes libjpeg pass over the
whole image again, so a few kilobytes of repeated tiny scans cost seconds per hundred at 3840 x
2160 (measured: 1,000 scans, 69 KB, 22 s at load average 13), and 8 MB of them would hold a
worker for hours. Encoders write 10 or so (libjpeg's progressive default: 10; a baseline JPEG
has 1 per colour component at most)."""


def jpeg_scan_bound(data: bytes) -> int:
    """An upper bound of a JPEG's scan count: its ``FF DA`` (start of scan) pairs.

    Entropy-coded data never holds ``FF DA`` (a data ``FF`` is followed by ``00`` or a restart
    marker), so every real scan is counted; metadata (an EXIF thumbnail, a comment) may add to
    the count, never hide one. C-speed, no parsing.
    """
    return data.count(b"\xff\xda")


def image_size(data: bytes, *, max_bytes: int) -> tuple[int, int]:
    """``(width, height)`` from the image header, without decoding the pixels.

    Cheap (microseconds: Pillow reads only the header), so the server checks a frame with it
    on receipt, before the frame takes a worker.

    Raises:
        ImageRefused: ``image_too_large`` (bytes, or a header beyond Pillow's own bomb
            limit) or ``undecodable_image``.
    """
    if len(data) > max_bytes:
        raise ImageRefused("image_too_large", f"{len(data)} bytes, limit {max_bytes}")
    if not data:
        raise ImageRefused("undecodable_image", "empty image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's own bomb warning; callers check
            with PILImage.open(io.BytesIO(data)) as header:
                width, height = header.size
    except PILImage.DecompressionBombError as exc:  # header claims > 2x Pillow's own limit
        raise ImageRefused("image_too_large", f"{exc}") from exc
    except Exception as exc:  # Pillow raises many types for garbage input
        raise ImageRefused("undecodable_image", "not a recognised image format") from exc
    return int(width), int(height)


def check_image(data: bytes, *, max_bytes: int, max_pixels: int,
                downscale: bool = False) -> tuple[int, int]:
    """Refuse an image whose header is over the limits, before anything decodes it.

    Args:
        data: encoded image bytes.
        max_bytes: largest accepted encoded size.
        max_pixels: largest accepted width x height.
        downscale: accept a JPEG over ``max_pixels`` that decoding at 1/2, 1/4 or 1/8 size
            brings under it (see :func:`decode_image`).

    Returns:
        The ``(width, height)`` of the header.

    Raises:
        ImageRefused: ``image_too_large``, or ``undecodable_image`` (also a JPEG of more than
            :data:`MAX_JPEG_SCANS` scans).
    """
    width, height = image_size(data, max_bytes=max_bytes)
    if data[:2] == b"\xff\xd8" and jpeg_scan_bound(data) > MAX_JPEG_SCANS:
        raise ImageRefused("undecodable_image",
                           f"JPEG with more than {MAX_JPEG_SCANS} scans (decoding would take "
                           "minutes)")
    if width * height > max_pixels and not (
        downscale and _reduction(data, width, height, max_pixels) is not None
    ):
        raise ImageRefused(
            "image_too_large", f"{width}x{height} pixels, limit {max_pixels} pixels"
        )
    return width, height


def decode_image(data: bytes, *, max_bytes: int, max_pixels: int,
                 downscale: bool = False) -> Image:
    """Decode JPEG/PNG/... bytes into a BGR uint8 image.

    The header is checked first (:func:`check_image`): a small file that claims huge
    dimensions is refused without allocating its pixels.

    Args:
        data: encoded image bytes from a client.
        max_bytes: largest accepted encoded size.
        max_pixels: largest accepted width x height.
        downscale: a JPEG over ``max_pixels`` is decoded at the largest of 1/2, 1/4 or 1/8
            size that fits instead of refused (other formats are still refused: they cannot
            be decoded smaller).

    Returns:
        ``H x W x 3`` BGR uint8 array (grey and alpha images are converted).

    Raises:
        ImageRefused: ``image_too_large`` or ``undecodable_image``.
    """
    width, height = check_image(data, max_bytes=max_bytes, max_pixels=max_pixels,
                                downscale=downscale)
    flag = cv2.IMREAD_COLOR
    if width * height > max_pixels:
        reduction = _reduction(data, width, height, max_pixels)
        assert reduction is not None  # check_image refused it otherwise
        flag = reduction
    buf = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(buf, flag)
    if image is None or image.size == 0:
        raise ImageRefused("undecodable_image", "the image data is corrupt or truncated")
    if _truncated_jpeg(data):
        # libjpeg fills a truncated JPEG with grey and only warns; a frame cut short in transit
        # must not be matched as if it were whole.
        raise ImageRefused("undecodable_image", "truncated JPEG (no end-of-image marker)")
    if data[:2] == b"\xff\xd8" and _scan_cut_short(data, image, flag):
        # The same with an end marker appended to the cut data: half a face filled with grey
        # could match the wrong person, so the frame is refused rather than analysed.
        raise ImageRefused("undecodable_image", "truncated JPEG (scan data ends early)")
    return np.ascontiguousarray(image, dtype=np.uint8)


def _reduction(data: bytes, width: int, height: int, max_pixels: int) -> int | None:
    """The OpenCV flag decoding a JPEG at the largest reduced size within ``max_pixels``."""
    if data[:2] != b"\xff\xd8":
        return None
    for factor, flag in REDUCTIONS:
        if -(-width // factor) * -(-height // factor) <= max_pixels:
            return flag
    return None


def _truncated_jpeg(data: bytes) -> bool:
    return data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data[-64:]


_FILL = 128
"""The value libjpeg decodes every missing block to (zero coefficients: mid-grey)."""
_PROBE = b"\xff\x00" * 32
"""Stuffed 1-bits (``FF 00``): no marker, and never valid Huffman data a scan could end on."""


def _scan_cut_short(data: bytes, image: np.ndarray[Any, Any], flag: int) -> bool:
    """Whether a baseline JPEG's scan data stopped before its last block.

    libjpeg decodes the missing blocks of a cut scan as zero coefficients, so the last block
    (the bottom-right corner) comes out exactly mid-grey. Only then (rarely: a real frame's
    corner is almost never exactly 128 in every channel) is the frame decoded once more with
    64 bytes of stuffed 1-bits put before its end marker: a complete scan ignores them, a cut
    one decodes them as the missing data and comes out different. Progressive JPEGs cut
    short keep their earlier, coarser scans and are not detected.
    """
    if not (image[-4:, -4:] == _FILL).all():
        return False
    end = data.rfind(b"\xff\xd9")
    if end < 2:
        return False
    probe = cv2.imdecode(np.frombuffer(data[:end] + _PROBE + data[end:], dtype=np.uint8),
                         flag)  # decoded the same way (full or reduced size) as the frame
    return probe is None or probe.shape != image.shape or not np.array_equal(probe, image)


def encode_jpeg(image: Image, quality: int = 90) -> bytes:
    """Encode a BGR image as JPEG bytes."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ImageRefused("undecodable_image", "could not encode image")
    return bytes(buf.tobytes())


def read_image_file(path: str) -> Image:
    """Read an image file from disk (datasets, fixtures) as BGR; grey files become BGR."""
    with open(path, "rb") as fh:
        data = fh.read()
    return decode_image(data, max_bytes=1 << 30, max_pixels=1 << 28)
