"""Great-circle distance, used to route alerts and to suggest the nearest officer."""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6_371_008.8


def valid_position(lat: float | None, lon: float | None) -> bool:
    """True when ``(lat, lon)`` is a finite WGS84 point (-90..90, -180..180)."""
    if lat is None or lon is None:
        return False
    return (
        math.isfinite(lat) and math.isfinite(lon) and -90.0 <= lat <= 90.0
        and -180.0 <= lon <= 180.0
    )


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in metres between two WGS84 points.

    Returns ``math.inf`` when any coordinate is not finite (NaN or infinite): such a point
    is nowhere, so it is never within any radius nor the nearest, and it never raises
    (``math.asin`` of NaN would otherwise fail with a domain error).
    """
    if not all(math.isfinite(v) for v in (lat1, lon1, lat2, lon2)):
        return math.inf
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))
