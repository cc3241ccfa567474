"""A tiny Braille dot canvas and a local map projection (pure Python, no Textual).

Each terminal cell holds a 2x4 grid of Braille dots, so a 30x10-cell pane is a 60x40-dot
canvas: enough to draw a notify-radius ring and the lie of cameras and officers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Bit of each dot inside a Braille cell (Unicode U+2800 block), indexed [y][x].
_DOT_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
_BRAILLE_BASE = 0x2800

M_PER_DEG_LAT = 110_540.0
M_PER_DEG_LON_EQUATOR = 111_320.0


class BrailleCanvas:
    """A ``cols`` x ``rows`` cell canvas addressed in dots (``2*cols`` x ``4*rows``)."""

    def __init__(self, cols: int, rows: int) -> None:
        self.cols = max(0, cols)
        self.rows = max(0, rows)
        self._cells = [[0] * self.cols for _ in range(self.rows)]

    @property
    def width(self) -> int:
        return self.cols * 2

    @property
    def height(self) -> int:
        return self.rows * 4

    def set(self, x: float, y: float) -> None:
        """Light the dot at (x, y); dots outside the canvas are ignored."""
        xi, yi = round(x), round(y)
        if 0 <= xi < self.width and 0 <= yi < self.height:
            self._cells[yi // 4][xi // 2] |= _DOT_BITS[yi % 4][xi % 2]

    def circle(self, cx: float, cy: float, radius: float) -> None:
        """Outline of a circle of ``radius`` dots."""
        steps = max(16, int(2 * math.pi * radius))
        for i in range(steps):
            angle = 2 * math.pi * i / steps
            self.set(cx + radius * math.cos(angle), cy + radius * math.sin(angle))

    def lines(self) -> list[str]:
        """The canvas as text, one string per cell row (blank cells are spaces)."""
        return [
            "".join(chr(_BRAILLE_BASE + bits) if bits else " " for bits in row)
            for row in self._cells
        ]


@dataclass(frozen=True)
class Projection:
    """Maps WGS84 points to dots of a canvas, with the same metres per dot on both axes."""

    lat0: float
    lon0: float
    metres_per_dot: float
    width: int
    height: int

    def to_dots(self, lat: float, lon: float) -> tuple[float, float]:
        x_m = (lon - self.lon0) * M_PER_DEG_LON_EQUATOR * math.cos(math.radians(self.lat0))
        y_m = (lat - self.lat0) * M_PER_DEG_LAT
        # North is up: dot rows grow downwards.
        return (self.width / 2 + x_m / self.metres_per_dot,
                self.height / 2 - y_m / self.metres_per_dot)


def fit(
    points: list[tuple[float, float]],
    width: int,
    height: int,
    *,
    min_span_m: float = 200.0,
    margin: float = 0.12,
) -> Projection | None:
    """A projection showing every (lat, lon) in ``points`` on a ``width`` x ``height`` dot
    canvas, centred on their bounding box; None with no points or no room."""
    if not points or width < 2 or height < 2:
        return None
    lats = [p[0] for p in points]
    lons = [p[1] for p in points]
    lat0 = (min(lats) + max(lats)) / 2
    lon0 = (min(lons) + max(lons)) / 2
    span_x = (max(lons) - min(lons)) * M_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat0))
    span_y = (max(lats) - min(lats)) * M_PER_DEG_LAT
    span_x, span_y = max(span_x, min_span_m), max(span_y, min_span_m)
    usable = 1 - 2 * margin
    metres_per_dot = max(span_x / (width * usable), span_y / (height * usable))
    return Projection(lat0, lon0, metres_per_dot, width, height)


def ring_points(lat: float, lon: float, radius_m: float) -> list[tuple[float, float]]:
    """Four compass points of a circle, so :func:`fit` keeps a whole ring in view."""
    dlat = radius_m / M_PER_DEG_LAT
    dlon = radius_m / (M_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat)))
    return [(lat + dlat, lon), (lat - dlat, lon), (lat, lon + dlon), (lat, lon - dlon)]
