"""Suggesting the officer to send: the nearest available one, by great-circle distance."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from shared.geo import distance_m, valid_position


class Candidate(msgspec.Struct, frozen=True):
    officer_id: str
    status: str
    lat: float | None
    lon: float | None


class Suggestion(msgspec.Struct, frozen=True):
    officer_id: str
    distance_m: float


def nearest_available(
    officers: Iterable[Candidate], lat: float | None, lon: float | None
) -> Suggestion | None:
    """The available officer with a known position closest to ``(lat, lon)``.

    Returns None when the place is unknown or no available officer has a position (an
    invalid position, e.g. NaN, counts as unknown).
    """
    if lat is None or lon is None or not valid_position(lat, lon):
        return None
    best: Suggestion | None = None
    for o in officers:
        if o.status != "available" or o.lat is None or o.lon is None:
            continue
        if not valid_position(o.lat, o.lon):
            continue
        d = distance_m(lat, lon, o.lat, o.lon)
        if best is None or d < best.distance_m:
            best = Suggestion(o.officer_id, d)
    return best


def within_radius(
    officers: Iterable[Candidate], lat: float | None, lon: float | None, radius_m: float
) -> list[str]:
    """Officers (not off duty, position known) within ``radius_m`` of the place.

    An invalid position (NaN, infinite, out of range) is unknown: nobody is within range of it.
    """
    if lat is None or lon is None or not valid_position(lat, lon):
        return []
    return [
        o.officer_id
        for o in officers
        if o.status != "off_duty"
        and o.lat is not None
        and o.lon is not None
        and distance_m(lat, lon, o.lat, o.lon) <= radius_m
    ]
