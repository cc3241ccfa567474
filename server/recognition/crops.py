"""The probe crop: the one image of a passer-by Vigil keeps, and only because they matched."""

from __future__ import annotations

import cv2
import numpy as np

from server.recognition.engine import Face, Image
from server.recognition.image_io import encode_jpeg

CROP_MARGIN = 0.6
"""Probe crop = face box grown by this fraction of its size on each side."""


def probe_crop(image: Image, face: Face, faces: list[Face]) -> bytes:
    """JPEG of the matched face with a margin; any other face inside the crop is blurred."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = face.box
    mx, my = (x2 - x1) * CROP_MARGIN, (y2 - y1) * CROP_MARGIN
    cx1, cy1 = max(0, int(x1 - mx)), max(0, int(y1 - my))
    cx2, cy2 = min(w, int(x2 + mx)), min(h, int(y2 + my))
    crop = np.array(image[cy1:cy2, cx1:cx2], copy=True)
    for other in faces:
        if other is face:
            continue
        ox1 = max(0, int(other.box[0]) - cx1 - 4)
        oy1 = max(0, int(other.box[1]) - cy1 - 4)
        ox2 = min(crop.shape[1], int(other.box[2]) - cx1 + 4)
        oy2 = min(crop.shape[0], int(other.box[3]) - cy1 + 4)
        if ox2 - ox1 < 2 or oy2 - oy1 < 2:
            continue
        region = crop[oy1:oy2, ox1:ox2]
        # Pixelate then blur: no identifiable detail survives, whatever the face size.
        small = cv2.resize(region, (4, 4), interpolation=cv2.INTER_AREA)
        crop[oy1:oy2, ox1:ox2] = cv2.GaussianBlur(
            cv2.resize(small, (ox2 - ox1, oy2 - oy1), interpolation=cv2.INTER_LINEAR),
            (0, 0), 3,
        )
    return encode_jpeg(crop, quality=90)
