"""The two figures every deployment reports, always together (DESIGN.md, statistics).

Defined once here for the server (``server.domain.stats``) and the dispatcher console, which
recomputes them over summed deployments. Which alerts count as *false* and *adjudicated* is
the server's definition (``server.domain.stats``); these are only the ratios.
"""

from __future__ import annotations


def false_alert_rate(false_alerts: int, faces_processed: int) -> float | None:
    """False alerts per face processed (what a passer-by risks); None before any face."""
    return false_alerts / faces_processed if faces_processed > 0 else None


def precision(confirmed: int, adjudicated: int) -> float | None:
    """Confirmed matches per adjudicated alert (what an officer sent to a stop can expect);
    None before any alert was adjudicated."""
    return confirmed / adjudicated if adjudicated > 0 else None
