"""The operating threshold for a watchlist of N entries, from the impostor tail."""

from __future__ import annotations

import math

import numpy as np
import pytest

from server.evaluation.tail import fit_tail
from server.recognition import calibration
from server.recognition.calibration import (
    CALIBRATIONS,
    Tail,
    floor_for,
    operating_threshold,
)


def test_the_tail_fit_recovers_an_exponential_tail() -> None:
    rng = np.random.default_rng(3)
    # bulk: normal scores; tail: exponential excesses of scale 0.02 above 0.5 for 1 in 1,000
    bulk = rng.normal(0.0, 0.1, 998_000)
    bulk = bulk[bulk < 0.5]
    tail_part = 0.5 + rng.exponential(0.02, 1_000_000 - bulk.size)
    tail, measured, check = fit_tail(np.concatenate([bulk, tail_part]), "synthetic",
                                     tail_fmr=1e-4)
    assert tail.scale == pytest.approx(0.02, rel=0.15)
    assert tail.start_fmr == pytest.approx(1e-4)
    # the model says FMR 1e-4 at its start and a tenth of it one scale x ln(10) higher
    assert tail.fmr_at(tail.start) == pytest.approx(1e-4)
    assert tail.threshold_at(1e-5) == pytest.approx(tail.start + tail.scale * math.log(10))
    assert [f for f, _ in measured] == [1e-2, 1e-3, 1e-4, 1e-5, 1e-6]
    # where 20+ pairs still lie above (the last points rest on a handful and scatter)
    for _, measured_fmr, modelled_fmr in check[:2]:
        assert modelled_fmr == pytest.approx(measured_fmr, rel=0.5)


def test_too_few_pairs_cannot_fit_a_tail() -> None:
    with pytest.raises(ValueError, match="too few"):
        fit_tail(np.linspace(0, 1, 400), "tiny")


def test_operating_threshold_rises_with_the_watchlist(monkeypatch: pytest.MonkeyPatch) -> None:
    model = "dlib-resnet-v1"
    tail = Tail(start=0.93, start_fmr=1e-4, scale=0.01, pairs=1_000_000, source="test")
    cal = CALIBRATIONS[model]
    monkeypatch.setitem(CALIBRATIONS, model, calibration.Calibration(
        model_id=model, default=cal.default, fmr_thresholds=cal.fmr_thresholds,
        source=cal.source, tail=tail))
    # N x FMR(t) = 1e-5: FMR 1e-7 for 100 entries, 1e-8 for 1,000
    assert operating_threshold(model, 100) == pytest.approx(0.93 + 0.01 * math.log(1e3))
    assert operating_threshold(model, 1000) == pytest.approx(0.93 + 0.01 * math.log(1e4))
    sizes = [1, 10, 100, 1000, 10_000]
    values = [operating_threshold(model, n) for n in sizes]
    assert values == sorted(values)
    for n, t in zip(sizes, values, strict=True):
        assert t >= floor_for(model, n)
    # a looser target gives a lower threshold
    assert operating_threshold(model, 100, target=1e-3) < operating_threshold(model, 100)
    with pytest.raises(ValueError, match="target"):
        operating_threshold(model, 100, target=0.0)
