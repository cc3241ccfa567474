"""Threshold governance: a calibrated default and a floor per model, scaled by watchlist size.

The numbers come from the recognition core's calibration (``server.recognition.calibration``:
``default_threshold(model_id)`` and ``floor_for(model_id, watchlist_size)``, measured with
``vigil eval --calibrate``; the rule is documented there). The floor rises with the watchlist
size because a search against N entries gives a passer-by N chances of a false match: the
false-positive identification rate is about N x the per-comparison false match rate, so
keeping it under a target needs a per-comparison rate 1/N as large, i.e. a stricter threshold
(NPL 2023: the same 0.6 setting gives about 1 in 6,000 false alerts with 10k entries, 1 in
60,000 with 1k). A deployment created without a threshold gets the operating threshold for
its watchlist size (one false alert in 100,000 non-matching faces, from the impostor tail
measured under live conditions; ``calibration.operating_threshold``), never under the floor;
a ``threshold`` setting replaces the operating threshold (still never under the floor).

Where no calibration exists for a model the floor is its default: nobody but an authoriser
can then go below the one figure we have, which is the cautious reading of "uncalibrated".
"""

from __future__ import annotations

import msgspec

from server.recognition.calibration import UncalibratedModel, floor_for, operating_threshold
from server.recognition.calibration import default_threshold as calibrated_default


class ThresholdPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """The default and the floor in force for one model and watchlist size."""

    model_id: str
    watchlist_size: int
    default: float
    floor: float
    calibrated: bool
    """False when the recognition core has no calibration for this model (floor = default)."""
    operating: float = 0.0
    """The threshold for one false alert in 100,000 non-matching faces with this many entries
    (``calibration.operating_threshold``): what a deployment gets when nobody sets one."""
    comparisons: int = 0
    """The N the floor and operating threshold are derived for: the entries' reference photos
    (an entry fused from k photos counts k; docs/operations.md, "Templates"), at least one per
    entry; equal to ``watchlist_size`` when every entry has one photo."""


def policy_for(model_id: str, watchlist_size: int, fallback_default: float,
               comparisons: int | None = None) -> ThresholdPolicy:
    """The threshold policy of a model for a watchlist of ``watchlist_size`` entries.

    Args:
        model_id: the running engine's model id.
        watchlist_size: entries in the deployment's watchlist.
        fallback_default: the default to use when the model has no calibration.
        comparisons: the N to derive the floor and operating threshold for, when it is more
            than the entries (entries fused from several photos: a normalised mean of two
            photos drew 1.2-1.4 times the impostor scores of one photo on lfw_dev, so each
            photo counts); default ``watchlist_size``.
    """
    n = max(1, watchlist_size, comparisons or 0)
    try:
        default = float(calibrated_default(model_id))
        floor = float(floor_for(model_id, n))
        operating = float(operating_threshold(model_id, n))
    except UncalibratedModel:
        return ThresholdPolicy(model_id=model_id, watchlist_size=watchlist_size,
                               default=fallback_default, floor=fallback_default,
                               calibrated=False, operating=fallback_default, comparisons=n)
    return ThresholdPolicy(model_id=model_id, watchlist_size=watchlist_size, default=default,
                           floor=floor, calibrated=True, operating=max(operating, floor),
                           comparisons=n)
