"""Pure helpers: summary statistics, ratios and target checks (no I/O, no timing)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, Literal

Op = Literal["<=", ">="]


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between closest ranks.

    Matches ``numpy.percentile``'s default method; implemented here so the helper has no
    dependency and can be tested by hand.

    Raises:
        ValueError: no samples, or ``q`` outside 0-100.
    """
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile {q} outside 0-100")
    ordered = sorted(float(s) for s in samples)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarise(samples: Iterable[float], unit: str = "ms", digits: int = 3) -> dict[str, Any]:
    """Median, p99, mean, min, max and count of repeated measurements.

    An empty sample list gives ``n = 0`` and ``None`` figures rather than an exception, so a
    figure that collected nothing still has the same keys (and says so).
    """
    values = [float(s) for s in samples if s is not None and math.isfinite(float(s))]
    if not values:
        return {"median": None, "p99": None, "mean": None, "min": None, "max": None,
                "n": 0, "unit": unit}
    return {
        "median": round(percentile(values, 50.0), digits),
        "p99": round(percentile(values, 99.0), digits),
        "mean": round(sum(values) / len(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "n": len(values),
        "unit": unit,
    }


def ratio(value: float | None, baseline: float | None, digits: int = 2) -> float | None:
    """``value / baseline``, or ``None`` when either is missing or the baseline is zero."""
    if value is None or baseline is None or baseline == 0:
        return None
    return round(value / baseline, digits)


def check(name: str, value: float | None, op: Op, limit: float, unit: str = "") -> dict[str, Any]:
    """One target check; ``met`` is ``None`` when the value could not be measured."""
    met: bool | None
    if value is None:
        met = None
    elif op == "<=":
        met = value <= limit
    else:
        met = value >= limit
    return {"name": name, "value": value, "op": op, "limit": limit, "unit": unit, "met": met}


def targeted(description: str, checks: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Combine checks into the ``target``/``met`` pair every targeted figure carries.

    ``met`` is ``True`` only when every check was measured and passed, ``False`` when any
    measured check failed, and ``None`` when nothing failed but something was not measured.
    """
    results = [c["met"] for c in checks]
    met: bool | None
    if any(r is False for r in results):
        met = False
    elif results and all(r is True for r in results):
        met = True
    else:
        met = None
    return {"target": description, "checks": list(checks), "met": met}


def fmt(value: float | None) -> str:
    """A number for a table note: three significant digits, thousands separated."""
    if value is None:
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def unavailable(reason: str, **extra: Any) -> dict[str, Any]:
    """A figure (or case) that could not run, with the reason; never a made-up number."""
    return {"status": "unavailable", "reason": reason, **extra}


def skipped(reason: str, **extra: Any) -> dict[str, Any]:
    """A case this mode does not run (e.g. 1M templates without ``--full``)."""
    return {"status": "skipped", "reason": reason, **extra}
