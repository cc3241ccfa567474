"""Cooldown tracker: one alert per (camera, watchlist entry) per cooldown window.

A person standing in front of a camera is seen in many frames; the first sighting raises an
alert, later ones within ``cooldown_s`` of the previous sighting update it (sightings, best
similarity, last seen). The window slides with each sighting, so someone lingering for ten
minutes makes one alert, not ten. Memory is bounded by forgetting keys once their window ended.
"""

from __future__ import annotations

import threading


class CooldownTracker:
    """Maps (camera, entry) to the alert of its current window."""

    def __init__(self, cooldown_s: float) -> None:
        self.cooldown_s = float(cooldown_s)
        self._open: dict[tuple[str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def current(self, camera_id: str, entry_id: str, now: float) -> str | None:
        """The alert id to update for a sighting at ``now``, or None to raise a new one."""
        with self._lock:
            hit = self._open.get((camera_id, entry_id))
            if hit is None:
                return None
            alert_id, last = hit
            if now - last > self.cooldown_s:
                del self._open[(camera_id, entry_id)]
                return None
            return alert_id

    def seen(self, camera_id: str, entry_id: str, alert_id: str, now: float) -> None:
        """Record a sighting that raised or updated ``alert_id``."""
        with self._lock:
            self._open[(camera_id, entry_id)] = (alert_id, now)
            if len(self._open) > 4096:
                self._prune(now)

    def forget_alert(self, alert_id: str) -> None:
        """Drop an alert so the next sighting raises anew.

        Called by the alerting path when the alert of a window was closed (dismissed or
        resolved) by a human: a closed alert absorbs no new sightings.
        """
        with self._lock:
            for key in [k for k, (a, _) in self._open.items() if a == alert_id]:
                del self._open[key]

    def _prune(self, now: float) -> None:
        for key in [k for k, (_, t) in self._open.items() if now - t > self.cooldown_s]:
            del self._open[key]
