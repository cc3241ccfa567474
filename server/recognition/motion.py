"""Where a camera frame can hold a face the camera's tracks do not already explain.

A fixed camera's frame mostly repeats the one before: the background stays, and the faces in
view are the camera's live tracks. So the detector's finest level, which costs most of a
frame's detection (a 1280x720 frame at ``min_face_px`` 40: the 768x432 level is ~80% of it),
need not run on the whole frame every time. Between two *full* frames it runs only on the
*regions* of the frame that changed since the last frame analysed, and around every live
track's last and predicted box. The coarser levels still run whole on every frame.

What changed is read from a *grid*: the mean grey level of each cell of a coarse grid
(:data:`GRID_COLS` cells across, about 20 x 20 px in a 1280x720 frame). A cell changed when
its mean moved by more than :data:`CHANGE_LEVELS` grey levels after the whole frame's median
move is taken off (exposure, a light switched on). The grid is far too coarse to show a face
(a 100 px face is 5 x 5 cells) and is the only thing kept of a frame between two frames: the
camera's tracks hold it in server memory, and drop it whenever they end (``camera_tracks``).

Full frames bound what the regions can miss (a face that appears without changing its cells'
means, such as a head turning towards the camera): every ``detect_full_every``-th frame, the
first frame after the tracks ended (no grid), a frame whose size changed, and a frame whose
regions cover most of the finest level (``ssd_levels.plan_regions`` decides) are detected
whole.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import msgspec
import numpy as np
import numpy.typing as npt

from server.recognition.engine import Image
from server.recognition.tracking import Box, TrackHint

GRID_COLS = 64
"""Cells across a frame (the rows follow the frame's aspect ratio)."""
CHANGE_LEVELS = 6.0
"""A cell changed when its mean grey level moved by more than this (0-255 scale) beyond the
frame's median move. Sensor noise of sd 3 per pixel moves a 20 x 20 px cell's mean by ~0.15;
a face moving over a background moves it by tens of levels."""
TRACK_MARGIN = 0.25
"""A track's region is its predicted box grown by this share of its side on every edge (its
motion may be off by that much)."""
EXPLAINED_MARGIN = 1.0
"""Changed cells within this many face sides around a track's last or predicted box are its
own movement (the head, hair and shoulders of the person it follows), not a new face."""


class Grid(msgspec.Struct, frozen=True, array_like=True):
    """A frame's mean grey level per cell (``rows x cols`` float32), and the frame's size."""

    width: int
    height: int
    rows: int
    cols: int
    means: bytes

    def array(self) -> npt.NDArray[np.float32]:
        return np.frombuffer(self.means, dtype=np.float32).reshape(self.rows, self.cols)


class SceneHint(msgspec.Struct, frozen=True, array_like=True):
    """What a worker needs to detect only where needed (one camera, one frame)."""

    previous: Grid | None
    """The last analysed frame's grid (None: none kept)."""
    full: bool = True
    """Detect the whole frame (a full frame), whatever changed."""


def grid_of(image: Image) -> Grid:
    """The frame's grid (see module docstring)."""
    h, w = image.shape[:2]
    cols = min(GRID_COLS, w)
    rows = max(1, min(h, round(cols * h / w)))
    # A bilinear shrink to 4x the grid first reads ~1 pixel in 6 of a 1280x720 frame and
    # costs 0.2 ms, against 1 ms for averaging every pixel; each cell still averages ~64
    # pixels, so sensor noise moves its mean by well under a grey level.
    sampled = cv2.resize(image, (4 * cols, 4 * rows), interpolation=cv2.INTER_LINEAR)
    small = cv2.resize(sampled, (cols, rows), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
    return Grid(w, h, rows, cols, np.asarray(grey, dtype=np.float32).tobytes())


def changed_boxes(previous: Grid, current: Grid, covered: Sequence[Box] = ()) -> list[Box]:
    """Boxes (frame pixels) around the groups of cells that changed, each grown by a cell;
    cells wholly inside a ``covered`` box (looked at anyway) do not count.

    Returns the whole frame as one box when the frames' sizes differ.
    """
    width, height = current.width, current.height
    if (previous.width, previous.height, previous.rows, previous.cols) != (
            width, height, current.rows, current.cols):
        return [(0.0, 0.0, float(width), float(height))]
    rows, cols = current.rows, current.cols
    cell_w, cell_h = width / cols, height / rows
    diff = current.array() - previous.array()
    moved = np.abs(diff - np.median(diff)) > CHANGE_LEVELS
    for x1, y1, x2, y2 in covered:
        c1, r1 = max(0, int(np.ceil(x1 / cell_w))), max(0, int(np.ceil(y1 / cell_h)))
        c2, r2 = int(x2 // cell_w), int(y2 // cell_h)
        if c2 > c1 and r2 > r1:
            moved[r1:r2, c1:c2] = False
    if not moved.any():
        return []
    grown = cv2.dilate(moved.astype(np.uint8), np.ones((3, 3), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    return [(float(x * cell_w), float(y * cell_h), float((x + w) * cell_w),
             float((y + h) * cell_h))
            for x, y, w, h, _ in stats[1:count].tolist()]


def _grown(box: Box, margin: float) -> Box:
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    return (x1 - mx, y1 - my, x2 + mx, y2 + my)


def track_boxes(tracks: Sequence[TrackHint]) -> list[Box]:
    """Where each live track's face is looked for: its predicted box grown by
    :data:`TRACK_MARGIN`."""
    return [_grown(t.predicted, TRACK_MARGIN) for t in tracks]


def explained_boxes(tracks: Sequence[TrackHint]) -> list[Box]:
    """Where a change is the tracked people's own movement: each track's last and predicted
    boxes grown by :data:`EXPLAINED_MARGIN`."""
    return [_grown(b, EXPLAINED_MARGIN) for t in tracks for b in (t.box, t.predicted)]
