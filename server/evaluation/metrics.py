"""Accuracy metrics on similarity scores: pure functions, no engine, no I/O.

Decision rule everywhere: a comparison is a *match* (an alert, in the live system) when
``similarity >= threshold``. Operating points are chosen on the impostor / non-mated side:

* ``threshold_at_rate(negatives, rate)`` allows at most ``floor(rate * n)`` negative scores at
  or above the threshold, and returns the smallest threshold that does so: just above the
  ``(k+1)``-th highest negative score (``numpy.nextafter`` of it), where ``k = floor(rate * n)``.
* An operating point is reported only when there are at least ``1 / rate`` negatives ("where
  the number of impostor pairs allows"); with fewer, the rate cannot be resolved at all.

Verification (1:1): every pair of acquired images; FNMR is the share of genuine pairs below the
threshold. Open-set identification (1:N), following ISO/IEC 19795-1 and NIST FRVT 1:N:

* a mated search *hits* at threshold ``t`` when its top-ranked candidate is its own identity and
  the similarity is ``>= t``; FNIR is the share of mated searches that do not hit. A mated probe
  that failed to acquire (no face found) counts as a miss at every threshold, so FNIR includes
  failures to acquire (conservative).
* a non-mated search raises a false positive when its top similarity is ``>= t``; FPIR is their
  share among non-mated searches that produced a template (a probe with no face can raise no
  alert; leaving it out of the denominator can only raise FPIR, again conservative).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec
import numpy as np
import numpy.typing as npt

Scores = npt.NDArray[np.float64]


class VerificationPoint(msgspec.Struct, frozen=True):
    """FNMR at a fixed false match rate."""

    fmr: float
    threshold: float
    fnmr: float


class IdentificationPoint(msgspec.Struct, frozen=True):
    """FNIR at a fixed false positive identification rate."""

    fpir: float
    threshold: float
    fnir: float


class Searches(msgspec.Struct, frozen=True):
    """Outcome of open-set searches, reduced to what the metrics need.

    Attributes:
        mated_top_score: top-1 similarity of each mated search (``nan`` when the probe failed
            to acquire).
        mated_top_correct: whether the top-1 candidate is the probe's own identity (``False``
            when the probe failed to acquire).
        nonmated_top_score: top-1 similarity of each non-mated search that acquired a face.
    """

    mated_top_score: list[float]
    mated_top_correct: list[bool]
    nonmated_top_score: list[float]


def as_scores(values: Sequence[float] | npt.NDArray[np.floating]) -> Scores:
    """A 1-d float64 copy of ``values`` without NaNs."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    return arr[~np.isnan(arr)]


def resolvable(n_negatives: int, rate: float) -> bool:
    """Whether ``n_negatives`` scores can resolve a false rate of ``rate`` (n >= 1/rate)."""
    return rate > 0 and n_negatives >= math.ceil(1.0 / rate - 1e-9)


def threshold_at_rate(negatives: Scores, rate: float) -> float:
    """The smallest threshold at which at most ``floor(rate * n)`` negatives score ``>=`` it.

    Args:
        negatives: impostor (or non-mated top-1) similarities.
        rate: target false match / false positive identification rate.

    Raises:
        ValueError: no negatives, or a rate outside ``(0, 1]``.
    """
    if negatives.size == 0:
        raise ValueError("no negative scores")
    if not 0.0 < rate <= 1.0:
        raise ValueError(f"rate must be in (0, 1], got {rate}")
    allowed = math.floor(rate * negatives.size + 1e-9)
    if allowed >= negatives.size:
        return float(negatives.min())
    ranked = np.sort(negatives)[::-1]
    return float(np.nextafter(ranked[allowed], np.inf))


def false_rate(negatives: Scores, threshold: float) -> float:
    """Share of negative scores at or above ``threshold`` (FMR or FPIR)."""
    return float(np.mean(negatives >= threshold)) if negatives.size else 0.0


def miss_rate(positives: Scores, threshold: float) -> float:
    """Share of genuine scores below ``threshold`` (FNMR)."""
    return float(np.mean(positives < threshold)) if positives.size else 0.0


def verification_points(
    genuine: Scores, impostor: Scores, rates: Sequence[float] = (1e-2, 1e-3, 1e-4)
) -> list[VerificationPoint]:
    """FNMR at each false match rate that the number of impostor pairs resolves."""
    points: list[VerificationPoint] = []
    for rate in rates:
        if genuine.size == 0 or not resolvable(impostor.size, rate):
            continue
        t = threshold_at_rate(impostor, rate)
        points.append(VerificationPoint(rate, t, miss_rate(genuine, t)))
    return points


def fnir_at(searches: Searches, threshold: float) -> float:
    """FNIR at ``threshold`` (failures to acquire count as misses)."""
    n = len(searches.mated_top_score)
    if n == 0:
        return 0.0
    hits = sum(
        1
        for score, correct in zip(
            searches.mated_top_score, searches.mated_top_correct, strict=True
        )
        if correct and not math.isnan(score) and score >= threshold
    )
    return 1.0 - hits / n


def identification_points(
    searches: Searches, rates: Sequence[float] = (1e-1, 1e-2, 1e-3)
) -> list[IdentificationPoint]:
    """FNIR at each FPIR that the number of non-mated searches resolves."""
    nonmated = as_scores(searches.nonmated_top_score)
    points: list[IdentificationPoint] = []
    for rate in rates:
        if not searches.mated_top_score or not resolvable(nonmated.size, rate):
            continue
        t = threshold_at_rate(nonmated, rate)
        points.append(IdentificationPoint(rate, t, fnir_at(searches, t)))
    return points


def rank1(searches: Searches) -> float:
    """Share of mated searches whose top candidate is the right identity (no threshold;
    failures to acquire count as wrong)."""
    n = len(searches.mated_top_correct)
    return sum(searches.mated_top_correct) / n if n else 0.0


def _det_thresholds(positives: Scores, negatives: Scores, points: int) -> Scores:
    """Thresholds for a DET curve: log-spaced ranks of the negatives (so that the low
    false-rate tail gets as many points as the bulk) plus evenly spaced positive quantiles."""
    ranked = np.sort(negatives)[::-1]
    ranks = np.unique(np.round(np.logspace(0, np.log10(ranked.size), points)).astype(int)) - 1
    positive_q = np.quantile(positives, np.linspace(0.0, 1.0, points))
    top = np.nextafter(max(ranked[0], positive_q[-1]), np.inf)  # nothing passes: miss = 1
    return np.unique(np.concatenate([ranked[ranks], np.nextafter(ranked[ranks], np.inf),
                                     positive_q, [top]]))


def det_curve(
    positives: Scores, negatives: Scores, points: int = 100
) -> tuple[list[float], list[float]]:
    """False (FMR) and miss (FNMR) rates over thresholds spanning every score, for a DET plot.

    Returns:
        ``(false_rates, miss_rates)``, one entry per threshold, false rate decreasing.
    """
    if positives.size == 0 or negatives.size == 0:
        return [], []
    candidates = _det_thresholds(positives, negatives, points)
    neg = np.sort(negatives)
    pos = np.sort(positives)
    # counts by binary search: O((n + m) log) instead of a pass per threshold
    false = 1.0 - np.searchsorted(neg, candidates, side="left") / neg.size
    miss = np.searchsorted(pos, candidates, side="left") / pos.size
    return [float(x) for x in false], [float(x) for x in miss]


def identification_det(searches: Searches, points: int = 100) -> tuple[list[float], list[float]]:
    """FPIR and FNIR over a range of thresholds, for the identification DET curve."""
    nonmated = as_scores(searches.nonmated_top_score)
    mated = as_scores(searches.mated_top_score)
    if nonmated.size == 0 or mated.size == 0:
        return [], []
    candidates = _det_thresholds(mated, nonmated, points)
    return (
        [false_rate(nonmated, float(t)) for t in candidates],
        [fnir_at(searches, float(t)) for t in candidates],
    )


def ratio(values: Sequence[float]) -> float | None:
    """Largest over smallest of ``values``; ``None`` when undefined (fewer than two values,
    or the smallest is zero while the largest is not). Equal zeros give 1."""
    if len(values) < 2:
        return None
    hi, lo = max(values), min(values)
    if lo <= 0.0:
        return 1.0 if hi <= 0.0 else None
    return hi / lo
