"""Calibrated thresholds: lookup, the floor's growth with watchlist size, derivation."""

from __future__ import annotations

import numpy as np
import pytest

from server.errors import VigilError
from server.evaluation.calibrate import derive_calibration
from server.evaluation.metrics import as_scores
from server.recognition.calibration import (
    CALIBRATIONS,
    UncalibratedModel,
    calibration,
    default_threshold,
    floor_for,
    threshold_at_fmr,
    threshold_for,
)

DLIB = "dlib-resnet-v1"


def test_dlib_is_calibrated_and_unknown_models_are_refused() -> None:
    assert 0.5 < default_threshold(DLIB) < 1.0
    with pytest.raises(UncalibratedModel) as info:
        default_threshold("no-such-model")
    assert info.value.code == "uncalibrated_model"
    with pytest.raises(UncalibratedModel):
        floor_for("no-such-model", 10)


@pytest.mark.parametrize("model_id", sorted(CALIBRATIONS))
def test_every_calibration_is_consistent(model_id: str) -> None:
    c = calibration(model_id)
    fmrs = [f for f, _ in c.fmr_thresholds]
    thresholds = [t for _, t in c.fmr_thresholds]
    assert fmrs == sorted(fmrs, reverse=True)
    assert thresholds == sorted(thresholds)  # a lower FMR needs a higher threshold
    assert c.default in thresholds


def test_floor_follows_fmr_over_watchlist_size() -> None:
    table = dict(calibration(DLIB).fmr_thresholds)
    assert floor_for(DLIB, 1) == table[1e-2]
    assert floor_for(DLIB, 0) == table[1e-2]  # an empty watchlist is treated as one entry
    assert floor_for(DLIB, 10) == pytest.approx(table[1e-3])
    assert floor_for(DLIB, 100) == pytest.approx(table[1e-4])
    # between table points: interpolated in log10(FMR)
    assert table[1e-3] < floor_for(DLIB, 30) < table[1e-4]
    # beyond the table: extrapolated with the last slope, still rising
    step = table[1e-5] - table[1e-4]
    assert floor_for(DLIB, 10_000) == pytest.approx(table[1e-5] + step)
    sizes = [1, 2, 5, 10, 50, 100, 500, 2000, 10**5]
    floors = [floor_for(DLIB, n) for n in sizes]
    assert floors == sorted(floors)


def test_threshold_for_never_sits_below_the_floor() -> None:
    for n in (1, 10, 100, 1000, 2000):
        assert threshold_for(DLIB, n) == max(default_threshold(DLIB), floor_for(DLIB, n))
        assert threshold_for(DLIB, n) >= floor_for(DLIB, n)
    assert threshold_for(DLIB, 5) == default_threshold(DLIB)
    with pytest.raises(ValueError, match="fmr"):
        threshold_at_fmr(DLIB, 0.0)


def test_derive_calibration_hand_computed() -> None:
    impostor = as_scores(np.arange(100_000) / 100_000.0)  # 0.00000 .. 0.99999
    c = derive_calibration("m", impostor, "synthetic")
    # FMR 1e-2 lets 1,000 impostors pass: threshold just above the 1,001st highest (0.99)
    assert dict(c.fmr_thresholds) == {1e-2: 0.99, 1e-3: 0.999, 1e-4: 0.9999, 1e-5: 1.0}
    assert c.default == 0.9999
    with pytest.raises(VigilError) as info:
        derive_calibration("m", impostor[:9_999], "too small")
    assert info.value.code == "too_few_pairs"
