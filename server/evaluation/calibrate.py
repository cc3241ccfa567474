"""Deriving a model's calibration from an evaluation (``vigil eval --calibrate``).

The rule is the one documented in :mod:`server.recognition.calibration`: the FMR table from
pooled impostor pairs, and the default at FMR 1e-4.
"""

from __future__ import annotations

import math

from server.errors import VigilError
from server.evaluation.metrics import Scores, resolvable, threshold_at_rate
from server.recognition.calibration import Calibration

CALIBRATION_FMRS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
DEFAULT_FMR = 1e-4


def derive_calibration(
    model_id: str, impostor: Scores, source: str, *, digits: int = 4
) -> Calibration:
    """Calibration of ``model_id`` from its impostor similarities.

    Raises:
        VigilError: ``too_few_pairs`` when the pairs cannot resolve FMR 1e-4 (10,000 needed).
    """
    if not resolvable(impostor.size, DEFAULT_FMR):
        raise VigilError(
            "too_few_pairs",
            f"{impostor.size} impostor pairs cannot resolve FMR {DEFAULT_FMR:g}; "
            "evaluate on more identities",
        )
    # rounded *up*, so that a recorded threshold never lets more impostors pass than measured
    scale = 10**digits
    table = tuple(
        (fmr, math.ceil(threshold_at_rate(impostor, fmr) * scale) / scale)
        for fmr in CALIBRATION_FMRS
        if resolvable(impostor.size, fmr)
    )
    default = next(t for fmr, t in table if fmr == DEFAULT_FMR)
    return Calibration(model_id=model_id, default=default, fmr_thresholds=table, source=source)
