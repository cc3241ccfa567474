"""Tile plans and box arithmetic for fixed-input detectors run on large frames.

A detector with a small fixed input (320x240 for the FacePlugin SSD) sees a 1280x720 frame
scaled down 4x, where a 40 px face becomes 10 px and is lost. So the frame is also cut into
overlapping full-resolution tiles, and a half-resolution level covers the sizes in between:
level ``k`` is the frame scaled by ``2**-k``; the last level is the whole frame fitted into
one tile. Tiles of one level overlap by ``overlap`` pixels, so any face up to that size lies
wholly inside at least one tile of its level; a detection touching an inner tile edge is a cut
face and is dropped, because the neighbouring tile or the next level sees it whole.
"""

from __future__ import annotations

import cv2
import msgspec
import numpy as np
import numpy.typing as npt

from server.recognition.engine import Image

Boxes = npt.NDArray[np.float32]
"""``N x 4`` boxes ``x1, y1, x2, y2``."""


class Tile(msgspec.Struct, frozen=True):
    """One detector input cut from one level of the frame."""

    scale: float
    """Level scale: tile pixels per frame pixel."""
    x: int
    """Left edge in level pixels."""
    y: int
    """Top edge in level pixels."""
    level_w: int
    """Width of the scaled frame (level) in pixels."""
    level_h: int
    """Height of the scaled frame (level) in pixels."""


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile starts spread evenly from 0 to ``length - tile``, overlapping by >= ``overlap``."""
    if length <= tile:
        return [0]
    count = -(-(length - tile) // max(1, tile - overlap)) + 1
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def plan_tiles(
    width: int, height: int, tile_w: int, tile_h: int, overlap: int, tiled: bool = True,
    finest: float = 1.0,
) -> list[Tile]:
    """Every tile of every level for a ``width x height`` frame (see module docstring).

    Args:
        width: frame width.
        height: frame height.
        tile_w: detector input width.
        tile_h: detector input height.
        overlap: overlap between neighbouring tiles of one level, in level pixels.
        tiled: ``False`` gives only the whole-frame pass.
        finest: scale of the finest level (1.0: full resolution). A camera whose smallest
            face to find is larger than the detector's smallest starts coarser, with fewer
            tiles (see :func:`finest_scale`).

    Returns:
        Tiles, finest level first; the last is the whole frame fitted into one tile.
    """
    overlap = max(0, min(overlap, min(tile_w, tile_h) // 2))  # keeps the tile count bounded
    fit = min(tile_w / width, tile_h / height)
    tiles: list[Tile] = []
    level = 0
    finest = min(1.0, max(finest, 1e-6))
    while tiled:
        scale = finest * 2.0**-level
        if scale <= fit * 1.001:
            break
        lw, lh = max(1, round(width * scale)), max(1, round(height * scale))
        for y in _starts(lh, tile_h, overlap):
            for x in _starts(lw, tile_w, overlap):
                tiles.append(Tile(scale, x, y, lw, lh))
        level += 1
    fit = min(fit, 1.0)  # a frame smaller than the tile is padded, never enlarged
    lw, lh = max(1, round(width * fit)), max(1, round(height * fit))
    tiles.append(Tile(fit, 0, 0, lw, lh))
    return tiles


def finest_scale(min_face_px: float, detector_min_px: float) -> float:
    """Scale of the finest tile level that still shows a ``min_face_px`` face (frame pixels)
    at the detector's smallest reliable size ``detector_min_px`` (input pixels); at most 1.

    Level scales halve from there, so every face from ``min_face_px`` up is seen at
    ``detector_min_px`` to twice that on some level (or whole in the last, fitted one).
    """
    if min_face_px <= 0 or detector_min_px <= 0:
        return 1.0
    return min(1.0, detector_min_px / min_face_px)


def cut_tiles(image: Image, tiles: list[Tile], tile_w: int, tile_h: int) -> Image:
    """Cut the planned tiles out of the frame (black padding where a tile passes the level).

    Returns:
        ``len(tiles) x tile_h x tile_w x 3`` uint8 array, in the image's colour order.
    """
    out = np.zeros((len(tiles), tile_h, tile_w, 3), dtype=np.uint8)
    levels: dict[tuple[int, int], Image] = {}
    for i, t in enumerate(tiles):
        key = (t.level_w, t.level_h)
        if key not in levels:
            same = t.level_w == image.shape[1] and t.level_h == image.shape[0]
            levels[key] = image if same else np.asarray(
                cv2.resize(image, key, interpolation=cv2.INTER_AREA), dtype=np.uint8
            )
        level = levels[key]
        crop = level[t.y : t.y + tile_h, t.x : t.x + tile_w]
        out[i, : crop.shape[0], : crop.shape[1]] = crop
    return out


def inner_edge_mask(boxes: Boxes, tile: Tile, tile_w: int, tile_h: int, margin: float) -> (
    npt.NDArray[np.bool_]
):
    """True for boxes (tile pixels) that touch a tile edge lying inside the level: cut faces."""
    keep = np.ones(len(boxes), dtype=bool)
    if tile.x > 0:
        keep &= boxes[:, 0] > margin
    if tile.y > 0:
        keep &= boxes[:, 1] > margin
    if tile.x + tile_w < tile.level_w:
        keep &= boxes[:, 2] < tile_w - margin
    if tile.y + tile_h < tile.level_h:
        keep &= boxes[:, 3] < tile_h - margin
    return ~keep


def to_frame(points: npt.NDArray[np.float32], tile: Tile) -> npt.NDArray[np.float32]:
    """Map ``... x 2k`` interleaved x, y coordinates from tile pixels to frame pixels."""
    out = points.astype(np.float32, copy=True)
    out[..., 0::2] = (out[..., 0::2] + tile.x) / tile.scale
    out[..., 1::2] = (out[..., 1::2] + tile.y) / tile.scale
    return out


def iou_matrix(a: Boxes, b: Boxes) -> npt.NDArray[np.float32]:
    """Intersection over union of every box of ``a`` with every box of ``b``."""
    inter = _intersection(a, b)
    area_a = _area(a)[:, None]
    area_b = _area(b)[None, :]
    union = np.maximum(area_a + area_b - inter, 1e-9)
    return np.asarray(inter / union, dtype=np.float32)


def _area(b: Boxes) -> npt.NDArray[np.float32]:
    return np.asarray(
        np.maximum(b[:, 2] - b[:, 0], 0) * np.maximum(b[:, 3] - b[:, 1], 0), dtype=np.float32
    )


def _intersection(a: Boxes, b: Boxes) -> npt.NDArray[np.float32]:
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.asarray(np.maximum(w, 0) * np.maximum(h, 0), dtype=np.float32)


def nms(
    boxes: Boxes,
    scores: npt.NDArray[np.float32],
    iou: float,
    contain: float = 1.0,
    part: float = 1.0,
) -> list[int]:
    """Greedy non-maximum suppression.

    Args:
        boxes: ``N x 4`` boxes.
        scores: ``N`` scores.
        iou: a box overlapping a kept, better box by more than this is dropped.
        contain: a box whose area lies inside a kept, better box by more than this fraction
            is dropped too (a part of a face found at a finer level); 1.0 disables it.
        part: a box overlapping a kept, better box of 1.5 times its area by more than this
            fraction of its own area is dropped (a chin or brow seen as a small face where a
            tile cut a large one); 1.0 disables it.

    Returns:
        Indices of the kept boxes, best first.
    """
    order = [int(i) for i in np.argsort(-scores, kind="stable")]
    if not order:
        return []
    over = iou_matrix(boxes, boxes)
    area = _area(boxes)
    inside = _intersection(boxes, boxes) / np.maximum(area[:, None], 1e-9)
    larger = area[None, :] >= 1.5 * area[:, None]
    # beaten[i, k]: a kept box k drops box i (written as the negated keep test, so that a
    # NaN overlap drops as it always did). Each kept box marks every box it drops at once,
    # instead of each box testing the kept ones one by one in Python.
    beaten = ~((over <= iou) & (inside <= contain) & ~(larger & (inside > part)))
    dropped = np.zeros(len(order), dtype=bool)
    kept: list[int] = []
    for i in order:
        if not dropped[i]:
            kept.append(i)
            dropped |= beaten[:, i]
    return kept
