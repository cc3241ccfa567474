"""FNIR at a deployment's operating threshold for a watchlist of N entries
(``vigil eval --watchlist-size N``, per group with ``--groups``).

The threshold is :func:`server.recognition.calibration.operating_threshold` (the calibrated
threshold for a target false-alert rate per face with N entries), the one a deployment gets
by default; the evaluation then reports how many mated searches it misses (FNIR, failures to
acquire counting as misses) and the share of non-mated searches that reach it (FPIR, which
with this protocol's small gallery says little about N entries: the target is met by
construction of the calibration, not measured here).
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from server.evaluation.metrics import as_scores, false_rate, fnir_at
from server.evaluation.scoring import SearchLog
from server.recognition.calibration import TARGET_FALSE_ALERT_RATE, operating_threshold


class OperatingFigures(msgspec.Struct, frozen=True):
    """Rates of one set of searches at the operating threshold."""

    group: str
    """``all``, or the group's name."""
    mated: int
    fnir: float
    nonmated: int
    fpir: float


class OperatingPoint(msgspec.Struct, frozen=True):
    """The operating threshold for N entries and the rates there."""

    watchlist_size: int
    target_false_alert_rate: float
    threshold: float
    figures: list[OperatingFigures]


def operating_point(
    model_id: str, watchlist_size: int, log: SearchLog, labels: Sequence[str],
    groups: dict[str, str] | None = None, target: float = TARGET_FALSE_ALERT_RATE,
) -> OperatingPoint:
    """FNIR and FPIR at the operating threshold, overall and per group.

    Raises:
        UncalibratedModel: the model has no calibration.
    """
    threshold = operating_threshold(model_id, watchlist_size, target)
    cuts: list[tuple[str, set[int] | None]] = [("all", None)]
    for group in sorted(set((groups or {}).values())):
        cuts.append((group, {i for i, name in enumerate(labels)
                             if (groups or {}).get(name) == group}))
    figures = []
    for name, keep in cuts:
        searches = log.searches(keep)
        nonmated = as_scores(searches.nonmated_top_score)
        figures.append(OperatingFigures(
            group=name, mated=len(searches.mated_top_score),
            fnir=round(fnir_at(searches, threshold), 6), nonmated=int(nonmated.size),
            fpir=round(false_rate(nonmated, threshold), 6)))
    return OperatingPoint(watchlist_size=watchlist_size, target_false_alert_rate=target,
                          threshold=round(threshold, 5), figures=figures)
