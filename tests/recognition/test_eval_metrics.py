"""Metric functions on synthetic scores with answers computed by hand."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from server.evaluation.metrics import (
    Searches,
    as_scores,
    det_curve,
    false_rate,
    fnir_at,
    identification_points,
    miss_rate,
    rank1,
    ratio,
    resolvable,
    threshold_at_rate,
    verification_points,
)


def test_threshold_allows_floor_rate_times_n_negatives() -> None:
    negatives = as_scores([0.1 * i for i in range(10)])  # 0.0 .. 0.9
    # rate 0.2 of 10 -> 2 negatives may pass: threshold just above the 3rd highest (0.7)
    t = threshold_at_rate(negatives, 0.2)
    assert t > 0.7
    assert t == pytest.approx(0.7)
    assert false_rate(negatives, t) == pytest.approx(0.2)
    # rate 0.1 -> 1 may pass: just above 0.8
    t = threshold_at_rate(negatives, 0.1)
    assert 0.8 < t < 0.8 + 1e-12
    assert false_rate(negatives, t) == pytest.approx(0.1)


def test_threshold_with_ties_never_exceeds_the_rate() -> None:
    negatives = as_scores([0.5, 0.5, 0.5, 0.1])
    t = threshold_at_rate(negatives, 0.25)  # 1 may pass, but three tie at 0.5
    assert false_rate(negatives, t) == 0.0
    assert t > 0.5


def test_threshold_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="no negative"):
        threshold_at_rate(as_scores([]), 0.1)
    with pytest.raises(ValueError, match="rate"):
        threshold_at_rate(as_scores([0.1]), 0.0)


def test_resolvable_needs_one_over_rate_negatives() -> None:
    assert resolvable(100, 1e-2)
    assert not resolvable(99, 1e-2)
    assert resolvable(1000, 1e-3)
    assert not resolvable(10**6, 0.0)


def test_verification_points_hand_computed() -> None:
    impostor = as_scores(np.arange(100) / 100.0)  # 0.00 .. 0.99
    genuine = as_scores([0.2, 0.985, 0.995, 0.999])
    points = verification_points(genuine, impostor, rates=(1e-2, 1e-3))
    # 1e-3 needs 1000 impostors: left out
    assert [p.fmr for p in points] == [1e-2]
    p = points[0]
    # 1 impostor may pass: threshold just above 0.98; genuine 0.2 and nothing else fail
    assert 0.98 < p.threshold < 0.9800001
    assert p.fnmr == pytest.approx(0.25)
    assert miss_rate(genuine, p.threshold) == pytest.approx(0.25)


def test_identification_counts_failures_to_acquire_and_wrong_top_as_misses() -> None:
    searches = Searches(
        mated_top_score=[0.9, 0.8, 0.95, math.nan],
        mated_top_correct=[True, True, False, False],
        nonmated_top_score=[0.1 * i for i in range(10)],  # 0.0 .. 0.9
    )
    assert rank1(searches) == pytest.approx(0.5)
    points = identification_points(searches, rates=(1e-1, 1e-2))
    assert [p.fpir for p in points] == [1e-1]  # 10 non-mated searches resolve 0.1 only
    p = points[0]
    # one non-mated may pass: threshold just above 0.8 -> only the 0.9 correct hit remains
    assert 0.8 < p.threshold < 0.8000001
    assert p.fnir == pytest.approx(0.75)
    assert fnir_at(searches, 0.0) == pytest.approx(0.5)  # wrong top and no face still miss


def test_rank1_and_fnir_of_no_searches_are_zero() -> None:
    empty = Searches([], [], [])
    assert rank1(empty) == 0.0
    assert fnir_at(empty, 0.5) == 0.0
    assert identification_points(empty) == []


def test_det_curve_is_monotone_and_spans_the_rates() -> None:
    rng = np.random.default_rng(3)
    genuine = as_scores(rng.normal(0.8, 0.05, 500))
    impostor = as_scores(rng.normal(0.3, 0.1, 5000))
    false, miss = det_curve(genuine, impostor)
    assert false[0] == 1.0
    assert miss[-1] == 1.0
    assert all(a >= b for a, b in itertools.pairwise(false))
    assert all(a <= b for a, b in itertools.pairwise(miss))
    # the tail is sampled: some point lies at or below FMR 1e-3
    assert min(f for f in false if f > 0) <= 1e-3


@pytest.mark.parametrize(
    ("values", "expected"),
    [([0.1, 0.2, 0.4], 4.0), ([0.0, 0.0], 1.0), ([0.0, 0.3], None), ([0.5], None)],
)
def test_ratio(values: list[float], expected: float | None) -> None:
    assert ratio(values) == (pytest.approx(expected) if expected is not None else None)
