"""Plain state of the officer client: the alerts it holds, and a simulated patrol.

No I/O here: :class:`OfficerState` applies protocol messages (keeping the highest version of
each alert, so a replay never shows an alert twice) and :func:`patrol` yields the positions of
a walk around a point. Both are unit-tested directly.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from shared.protocol.alerts import AlertView
from shared.protocol.officer import (
    AlertAssigned,
    AlertRaised,
    AlertUpdated,
    AlertWithdrawn,
    OfficerOut,
)

EARTH_M_PER_DEG_LAT = 111_320.0


@dataclass
class OfficerState:
    """Alerts routed to this officer, newest version of each."""

    alerts: dict[str, AlertView] = field(default_factory=dict)
    assigned: list[str] = field(default_factory=list)
    """Alert ids assigned to this officer, oldest first."""
    withdrawn: set[str] = field(default_factory=set)
    raised_ids: set[str] = field(default_factory=set)
    """Distinct alerts received as new (``alert_raised``)."""

    def apply(self, message: OfficerOut) -> AlertView | None:
        """Apply one message; returns the alert it changed (None if stale or not an alert)."""
        match message:
            case AlertRaised(alert=alert):
                self.raised_ids.add(alert.id)
                return self._keep(alert)
            case AlertAssigned(alert=alert):
                if alert.id not in self.assigned:
                    self.assigned.append(alert.id)
                self.withdrawn.discard(alert.id)
                return self._keep(alert)
            case AlertUpdated(alert=alert):
                return self._keep(alert)
            case AlertWithdrawn(alert_id=alert_id):
                self.withdrawn.add(alert_id)
                if alert_id in self.assigned:
                    self.assigned.remove(alert_id)
                return self.alerts.get(alert_id)
            case _:
                return None

    def _keep(self, alert: AlertView) -> AlertView | None:
        held = self.alerts.get(alert.id)
        if held is not None and held.version >= alert.version:
            return None  # a replay or an out-of-date copy
        self.alerts[alert.id] = alert
        return alert

    @property
    def alert_count(self) -> int:
        """Distinct alerts received (new or assigned)."""
        return len(self.raised_ids | set(self.assigned) | set(self.alerts))

    def to_accept(self) -> str | None:
        """The oldest assignment still waiting for this officer to accept it."""
        for alert_id in self.assigned:
            alert = self.alerts.get(alert_id)
            if alert is not None and alert.state == "assigned":
                return alert_id
        return None

    def to_resolve(self) -> str | None:
        """The most recent alert this officer accepted and has not resolved."""
        for alert_id in reversed(self.assigned):
            alert = self.alerts.get(alert_id)
            if alert is not None and alert.state == "accepted":
                return alert_id
        return None

    def open_alerts(self) -> list[AlertView]:
        """Alerts not withdrawn and not closed, newest first."""
        live = [a for a in self.alerts.values()
                if a.id not in self.withdrawn and a.state not in ("resolved", "dismissed")]
        return sorted(live, key=lambda a: a.last_seen, reverse=True)


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    """The point ``north_m`` metres north and ``east_m`` east of (lat, lon) (small distances)."""
    dlat = north_m / EARTH_M_PER_DEG_LAT
    dlon = east_m / (EARTH_M_PER_DEG_LAT * max(0.01, math.cos(math.radians(lat))))
    return lat + dlat, lon + dlon


def patrol(
    lat: float, lon: float, *, radius_m: float = 250.0, step_m: float = 15.0,
    seed: int | None = None,
) -> Iterator[tuple[float, float]]:
    """Positions of a simulated foot patrol that loops around (lat, lon), forever.

    The officer walks a circle of about ``radius_m`` around the point, ``step_m`` metres per
    position, with a little wander in and out so that two officers do not move in lockstep.
    Every position stays within ``radius_m * 1.2`` of the centre.
    """
    rng = random.Random(seed)
    angle = rng.uniform(0, 2 * math.pi)
    direction = rng.choice((-1.0, 1.0))
    radius = max(1.0, radius_m)
    while True:
        wander = radius * (1.0 + rng.uniform(-0.15, 0.15))
        yield offset(lat, lon, wander * math.cos(angle), wander * math.sin(angle))
        angle += direction * step_m / radius
