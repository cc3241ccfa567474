"""Plain-text formatting shared by the console's widgets (no Textual, easy to test)."""

from __future__ import annotations

import time

from shared.protocol.alerts import DeploymentStats

CATEGORY_LABELS = {
    "wanted_serious_crime": "wanted",
    "suspect_serious_crime": "suspect",
    "missing_person": "missing",
    "victim": "victim",
    "risk_to_self_or_others": "risk",
}
"""Short labels for the queue; the detail view spells the category out."""


def age(seconds: float | None) -> str:
    """``12s``, ``4m``, ``3h``, ``2d``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{int(seconds)}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


def distance(metres: float | None) -> str:
    """``85 m``, ``1.4 km``; ``-`` when unknown."""
    if metres is None:
        return "-"
    if metres < 1000:
        return f"{metres:.0f} m"
    return f"{metres / 1000:.1f} km"


def clock(epoch: float) -> str:
    """``HH:MM:SS`` in the console's local time (what the dispatcher's wall clock says)."""
    return time.strftime("%H:%M:%S", time.localtime(epoch))


def when(epoch: float, now: float) -> str:
    """Local ``HH:MM:SS`` when ``epoch`` is today (by ``now``), else ``28 Nov HH:MM``."""
    then, today = time.localtime(epoch), time.localtime(now)
    if (then.tm_year, then.tm_yday) == (today.tm_year, today.tm_yday):
        return time.strftime("%H:%M:%S", then)
    return time.strftime("%d %b %H:%M", then)


def stamp(epoch: float) -> str:
    """``YYYY-MM-DD HH:MM:SS TZ`` in local time."""
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(epoch))


def countdown(seconds: float) -> str:
    """``1:05`` (minutes:seconds), ``0:00`` once past."""
    left = max(0, int(seconds))
    return f"{left // 60}:{left % 60:02d}"


def similarity(value: float, threshold: float) -> str:
    """``0.71 / 0.60``: the score beside the threshold in force, never alone."""
    return f"{value:.2f} / {threshold:.2f}"


def category(value: str, *, short: bool = False) -> str:
    if short:
        return CATEGORY_LABELS.get(value, value)
    return value.replace("_", " ")


def false_alert_rate(stats: DeploymentStats) -> str:
    """``1 in 4,040 faces (0.025%)``; ``-`` before any face."""
    rate = stats.false_alert_rate
    if rate is None:
        return "-"
    if rate == 0:
        return f"0 in {stats.faces_processed:,} faces"
    return f"1 in {round(1 / rate):,} faces ({rate:.3%})"


def precision(stats: DeploymentStats) -> str:
    """``70% (7 of 10)``; ``-`` before any adjudication."""
    if stats.precision is None:
        return "-"
    return f"{stats.precision:.0%} ({stats.confirmed} of {stats.adjudicated})"
