"""Deployment statistics: the two figures that answer different questions, always together.

- **False alert rate** = false alerts / faces processed. What a passer-by risks: the Met's
  "one in 1,000" is this figure.
- **Alert precision** = confirmed / adjudicated alerts. What an officer sent to a stop can
  expect: the Essex review's "8 of 42, 19%" is this figure.

Definitions (kept here, in one place, and quoted in docs/operations.md):

- *adjudicated*: every alert a human closed, by a dispatcher's dismissal or an officer's
  recorded outcome (confirmed, not the person, not located, outdated entry). Open alerts are
  not adjudicated yet. This is the Essex denominator: all 42 alerts, including the 4 whose
  subject was never reached, so the example gives 8 / 42 = 19.0%.
- *false alert*: a human said the person was not the one on the watchlist: an officer's
  ``not_the_person`` outcome or a dispatcher's dismissal as ``different_person``. Dismissals
  for other reasons (duplicate, poor image, outdated entry) are not counted as false matches.
"""

from __future__ import annotations

import msgspec

from shared.rates import false_alert_rate, precision


class OutcomeCounts(msgspec.Struct, frozen=True, kw_only=True):
    """Alerts of one deployment by how they ended."""

    alerts: int = 0
    open: int = 0
    dismissed: int = 0
    dismissed_different_person: int = 0
    confirmed: int = 0
    not_the_person: int = 0
    not_located: int = 0
    outdated_entry: int = 0


class Figures(msgspec.Struct, frozen=True, kw_only=True):
    adjudicated: int
    false_alerts: int
    false_alert_rate: float | None
    """None before any face was processed."""
    precision: float | None
    """None before any alert was adjudicated."""


def tally(rows: list[tuple[str, str | None, str | None, int]]) -> OutcomeCounts:
    """Counts from ``(state, outcome, dismiss_reason, n)`` groups of alerts."""
    c: dict[str, int] = {}

    def add(key: str, n: int) -> None:
        c[key] = c.get(key, 0) + n

    for state, outcome, reason, n in rows:
        add("alerts", n)
        if state == "dismissed":
            add("dismissed", n)
            if reason == "different_person":
                add("dismissed_different_person", n)
        elif state == "resolved" and outcome:
            add(outcome, n)
        else:
            add("open", n)
    return OutcomeCounts(
        alerts=c.get("alerts", 0), open=c.get("open", 0), dismissed=c.get("dismissed", 0),
        dismissed_different_person=c.get("dismissed_different_person", 0),
        confirmed=c.get("confirmed_match", 0), not_the_person=c.get("not_the_person", 0),
        not_located=c.get("not_located", 0), outdated_entry=c.get("outdated_entry", 0),
    )


def figures(counts: OutcomeCounts, faces_processed: int) -> Figures:
    """False alert rate and precision from the counts (see the module docstring)."""
    adjudicated = (counts.dismissed + counts.confirmed + counts.not_the_person
                   + counts.not_located + counts.outdated_entry)
    false_alerts = counts.not_the_person + counts.dismissed_different_person
    return Figures(
        adjudicated=adjudicated,
        false_alerts=false_alerts,
        false_alert_rate=false_alert_rate(false_alerts, faces_processed),
        precision=precision(counts.confirmed, adjudicated),
    )


def percent(value: float | None, digits: int = 1) -> str:
    """``19.0%`` (or ``n/a``)."""
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def one_in(value: float | None) -> str:
    """A rate as ``1 in 1,000`` (or ``none`` / ``n/a``)."""
    if value is None:
        return "n/a"
    if value == 0:
        return "none"
    return f"1 in {round(1 / value):,}"
