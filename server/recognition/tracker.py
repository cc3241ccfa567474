"""Cooldown tracker: one alert per (camera, watchlist entry) per cooldown window.

A person standing in front of a camera is seen in many frames; the first sighting raises an
alert, later ones within ``cooldown_s`` of the previous sighting update it (sightings, best
similarity, last seen). The window slides with each sighting, so someone lingering for ten
minutes makes one alert, not ten. Memory is bounded by forgetting keys once their window ended.

Each window also remembers the quality of the alert's probe crop (a number, never the crop),
so that a later sighting replaces the crop only with a better view. After a restart the
window is reseeded from the store without it (quality 0: the next tracked view replaces it).
"""

from __future__ import annotations

import threading


class CooldownTracker:
    """Maps (camera, entry) to the alert of its current window."""

    def __init__(self, cooldown_s: float) -> None:
        self.cooldown_s = float(cooldown_s)
        self._open: dict[tuple[str, str], tuple[str, float, float]] = {}
        self._lock = threading.Lock()

    def current(self, camera_id: str, entry_id: str, now: float) -> str | None:
        """The alert id to update for a sighting at ``now``, or None to raise a new one."""
        with self._lock:
            hit = self._open.get((camera_id, entry_id))
            if hit is None:
                return None
            alert_id, last, _ = hit
            if now - last > self.cooldown_s:
                del self._open[(camera_id, entry_id)]
                return None
            return alert_id

    def seen(self, camera_id: str, entry_id: str, alert_id: str, now: float,
             crop_quality: float | None = None) -> None:
        """Record a sighting that raised or updated ``alert_id`` (``crop_quality``: the
        quality of the alert's crop now, None when it did not change)."""
        with self._lock:
            old = self._open.get((camera_id, entry_id))
            if crop_quality is None:
                crop_quality = old[2] if old is not None and old[0] == alert_id else 0.0
            self._open[(camera_id, entry_id)] = (alert_id, now, crop_quality)
            if len(self._open) > 4096:
                self._prune(now)

    def crop_quality(self, camera_id: str, entry_id: str) -> float:
        """The quality of the crop of the open alert of (camera, entry); 0 when unknown."""
        with self._lock:
            hit = self._open.get((camera_id, entry_id))
        return hit[2] if hit is not None else 0.0

    def forget_alert(self, alert_id: str) -> None:
        """Drop an alert so the next sighting raises anew.

        Called by the alerting path when the alert of a window was closed (dismissed or
        resolved) by a human: a closed alert absorbs no new sightings.
        """
        with self._lock:
            for key in [k for k, (a, _, _) in self._open.items() if a == alert_id]:
                del self._open[key]

    def _prune(self, now: float) -> None:
        for key in [k for k, (_, t, _) in self._open.items() if now - t > self.cooldown_s]:
            del self._open[key]
