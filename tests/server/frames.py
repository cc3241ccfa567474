"""Test frames made from real photos: a face of one person composited among other faces."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from server.recognition.dlib_engine import DlibEngine
from server.recognition.engine import Image
from server.recognition.image_io import encode_jpeg, read_image_file
from tests.paths import DATASETS

DATASET = DATASETS / "face_recognition_examples"


def insightface_image(name: str) -> Path:
    import insightface

    return Path(os.path.dirname(insightface.__file__)) / "data" / "images" / name


def face_tiles(engine: DlibEngine, path: Path, size: int = 150) -> list[Image]:
    """Square tiles, one per detected face, scaled so each face is about 0.55 * size wide."""
    image = read_image_file(str(path))
    tiles: list[Image] = []
    for face in engine.detect(image):
        x1, y1, x2, y2 = face.box
        side = max(x2 - x1, y2 - y1) / 0.55
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        half = side / 2
        h, w = image.shape[:2]
        a, b = int(max(0, cx - half)), int(max(0, cy - half))
        c, d = int(min(w, cx + half)), int(min(h, cy + half))
        crop = image[b:d, a:c]
        tile: Image = np.ascontiguousarray(
            cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA), dtype=np.uint8)
        tiles.append(tile)
    return tiles


def compose(tiles: list[Image], width: int = 640, height: int = 360) -> Image:
    """Tiles side by side on a plain background, centred vertically."""
    canvas = np.full((height, width, 3), 90, dtype=np.uint8)
    n = len(tiles)
    slot = width // max(1, n)
    for i, tile in enumerate(tiles):
        th, tw = tile.shape[:2]
        x = i * slot + (slot - tw) // 2
        y = (height - th) // 2
        canvas[y:y + th, x:x + tw] = tile
    return canvas


def jpeg(image: Image) -> bytes:
    return encode_jpeg(image, quality=90)
