"""Calibrated thresholds per embedding model: a default, and a floor that rises with the
watchlist size (DESIGN.md, "Threshold governance").

Where the numbers come from. ``vigil eval --calibrate`` on the three development datasets
(``faceapi_bbt``, ``face_recognition_examples``, ``orl_faces``: 455 images, 54 identities)
pools every impostor pair (100,502 for dlib) and records the threshold at each false match
rate (FMR) the pairs resolve: ``fmr_thresholds``. From that table:

* **default** = the threshold at FMR 1e-4 (ten impostor pairs above it, a stable estimate).
  On the development sets it gave FNMR 3.9 % (verification) and, in the 1:N protocol with a
  27-identity gallery, FPIR 0/225 and FNIR 4.0 %.
* **floor_for(N)**: a face that matches nobody is compared with every one of the N entries,
  so its chance of raising a false alert is about ``N x FMR(t)`` (union bound; false alerts
  grow linearly with N). The floor is the threshold at which that expected rate reaches
  ``FLOOR_FALSE_ALERT_RATE`` = 1e-2 (one false alert per 100 non-matching faces scanned):
  ``FMR(t) = 1e-2 / N``, read from the table by linear interpolation in ``log10(FMR)``,
  extrapolated with the slope of the last two points below the smallest measured FMR (the
  development data cannot measure further; the extrapolation is marked as such), and never
  below the FMR 1e-2 threshold (N = 1). So floor_for(100) is the FMR 1e-4 threshold, i.e.
  the default: for watchlists up to 100 entries the default sits at or above the floor.
* **threshold_for(N)** = ``max(default, floor_for(N))``: the threshold a deployment gets
  unless an authoriser sets another (setting one below ``floor_for(N)`` needs an authoriser
  and is audited).

Thresholds are cosine similarities; a comparison matches when ``similarity >= threshold``.
"""

from __future__ import annotations

import itertools
import math

import msgspec

from server.errors import VigilError

FLOOR_FALSE_ALERT_RATE = 1e-2
"""Expected false alerts per non-matching face scanned at the floor."""
TARGET_FALSE_ALERT_RATE = 1e-5
"""Expected false alerts per non-matching face at a deployment's default operating threshold
(one in 100,000 faces; see :func:`operating_threshold`)."""


class Tail(msgspec.Struct, frozen=True):
    """Exponential model of the impostor tail under live conditions (``vigil eval --tail``):
    ``FMR(t) = start_fmr * exp(-(t - start) / scale)`` for ``t >= start``.

    Attributes:
        start: the score exceeded by a fraction ``start_fmr`` of the impostor pairs.
        start_fmr: the measured false match rate at ``start``.
        scale: mean excess of the impostor scores above ``start`` (maximum likelihood).
        pairs: impostor pairs measured.
        source: what was measured (dataset half, probe conditions).
    """

    start: float
    start_fmr: float
    scale: float
    pairs: int
    source: str

    def fmr_at(self, threshold: float) -> float:
        """Modelled false match rate at ``threshold`` (``start_fmr`` below ``start``)."""
        if threshold <= self.start:
            return self.start_fmr
        return self.start_fmr * math.exp(-(threshold - self.start) / self.scale)

    def threshold_at(self, fmr: float) -> float:
        """The threshold whose modelled false match rate is ``fmr`` (at least ``start``)."""
        if fmr >= self.start_fmr:
            return self.start
        return self.start + self.scale * math.log(self.start_fmr / fmr)


class Calibration(msgspec.Struct, frozen=True):
    """Calibrated thresholds of one model.

    Attributes:
        model_id: the embedding model.
        default: the calibrated default threshold (the FMR 1e-4 point).
        fmr_thresholds: ``(fmr, threshold)`` pairs, FMR decreasing, from pooled impostor pairs.
        source: what the figures were measured on.
        tail: the impostor tail under live conditions, when measured (``vigil eval --tail``).
    """

    model_id: str
    default: float
    fmr_thresholds: tuple[tuple[float, float], ...]
    source: str
    tail: Tail | None = None
    """Impostor tail under live conditions, for :func:`operating_threshold`."""


class UncalibratedModel(VigilError):
    """No calibration is recorded for this model id: run ``vigil eval --calibrate``."""

    def __init__(self, model_id: str) -> None:
        super().__init__(
            "uncalibrated_model",
            f"no calibrated threshold for model {model_id!r}; run `vigil eval --calibrate` on "
            "labelled photos and record the result in server/recognition/calibration.py",
        )


_DEV = "faceapi_bbt + face_recognition_examples + orl_faces (455 images, 54 identities)"

_LFW_TAIL = ("lfw_dev calibration half (identities by name hash), clean gallery vs probes at "
             "64 px (blur 0.7 px, x0.7, JPEG 60)")

CALIBRATIONS: dict[str, Calibration] = {
    # dlib 128-d ResNet: 100,502 impostor / 1,876 genuine pairs (2 failures to acquire).
    # FNMR at these points: 0.27 %, 1.55 %, 3.94 %, 6.29 %. Thresholds rounded up to 4 digits.
    # The FMR 1e-5 point rests on the two highest impostor scores: treat it as indicative.
    "dlib-resnet-v1": Calibration(
        model_id="dlib-resnet-v1",
        default=0.9418,
        fmr_thresholds=((1e-2, 0.9157), (1e-3, 0.9316), (1e-4, 0.9418), (1e-5, 0.9456)),
        source=_DEV,
    ),
    # dlib's live tail, measured (`vigil eval --tail --engine dlib`, lfw_dev calibration half,
    # 4,096,049 impostor pairs, 32 probe failures): FMR 1e-4 at 0.93995, mean excess 0.005359;
    # the fit matches down to the highest pairs (0.96093: measured 1.95e-6, modelled 2.0e-6).
    # Not recorded as `tail=` yet: it would put the 400-entry default at 0.984 (N=1: 0.952),
    # where dlib recalls almost nothing, and the dlib end-to-end tests were not re-run with it.
    # ONNX model packs: add one line per model id here, from `vigil eval --calibrate
    # --engine onnx` on the same three datasets (the JSON's "calibration" object).
    # FacePlugin 512-d embedder (pack "faceplugin": tiled SSD detector, the package's own
    # 68-point landmark model, ArcFace-template alignment): 101,391 impostor / 1,894 genuine
    # pairs, no failure to acquire. FNMR at these points: 0.00 %, 0.21 %, 0.58 % (FMR 1e-5
    # rests on one impostor pair). 1:N: rank-1 1.0, FNIR 0/201 at FPIR 1e-2 (threshold
    # 0.3731). With dlib's 68 points (the pack's landmarks before this calibration) it gave
    # 0.3176 / 0.3917 / 0.4454 / 0.48 and FNMR 0.63 % at 1e-4.
    "faceplugin-fr-feature-512@87aacdfe5751": Calibration(
        model_id="faceplugin-fr-feature-512@87aacdfe5751",
        default=0.4403,
        fmr_thresholds=((1e-2, 0.3173), (1e-3, 0.3925), (1e-4, 0.4403), (1e-5, 0.4747)),
        source=_DEV,
        # `vigil eval --tail --engine onnx ../shared/datasets/lfw_dev` (calibration half: 1,503
        # clean gallery photos x 2,770 probes at 64 px, no failure to acquire; 4,160,540
        # impostor pairs). Measured thresholds: FMR 1e-2 0.2468, 1e-3 0.3353, 1e-4 0.4082,
        # 1e-5 0.4792, 1e-6 0.6831. Fit check (measured / modelled FMR): 0.4297: 5.0e-5 /
        # 5.4e-5; 0.4561: 2.0e-5 / 2.5e-5; 0.5326: 4.8e-6 / 2.8e-6; 0.6387 (the 8 highest
        # pairs): 1.9e-6 / 1.3e-7. The extreme pairs lie above the exponential model: LFW
        # photos of two people in which the larger face is not the named person's (Doug
        # Duncan's photo shows Charles Moose; docs/operations.md, "Landmarks"), so they are
        # the same person recognised, and the thresholds far out are cautious. Without the 26
        # calibration-half photos whose largest face is not the central one, the mean excess
        # is 0.0293 (0.0289 with dlib's points). N = 400 at 1e-5 per face: 0.696 (0.677 with
        # dlib's points, FMR 1e-4 at 0.4099, mean excess 0.0322).
        tail=Tail(start=0.40823, start_fmr=9.9987e-5, scale=0.034696, pairs=4_160_540,
                  source=_LFW_TAIL),
    ),
}


def calibration(model_id: str) -> Calibration:
    """The calibration of ``model_id``.

    Raises:
        UncalibratedModel: none is recorded.
    """
    try:
        return CALIBRATIONS[model_id]
    except KeyError:
        raise UncalibratedModel(model_id) from None


def default_threshold(model_id: str) -> float:
    """The calibrated default threshold of ``model_id`` (see the module docstring).

    Raises:
        UncalibratedModel: the model has no calibration.
    """
    return calibration(model_id).default


def threshold_at_fmr(model_id: str, fmr: float) -> float:
    """The threshold whose false match rate is ``fmr``, from the calibration table
    (log-linear interpolation; linear extrapolation in ``log10(FMR)`` past the last point).

    Raises:
        UncalibratedModel: the model has no calibration.
        ValueError: ``fmr`` is not in ``(0, 1]``.
    """
    if not 0.0 < fmr <= 1.0:
        raise ValueError(f"fmr must be in (0, 1], got {fmr}")
    table = calibration(model_id).fmr_thresholds
    first_fmr, first_t = table[0]
    if fmr >= first_fmr or len(table) == 1:
        return first_t
    x = math.log10(fmr)
    for (f0, t0), (f1, t1) in itertools.pairwise(table):
        if f1 <= fmr <= f0:
            return _lerp(x, math.log10(f0), t0, math.log10(f1), t1)
    (f0, t0), (f1, t1) = table[-2], table[-1]
    return _lerp(x, math.log10(f0), t0, math.log10(f1), t1)  # extrapolated


def floor_for(model_id: str, watchlist_size: int) -> float:
    """The lowest threshold allowed without an authoriser for a watchlist of this size:
    where ``watchlist_size x FMR`` reaches :data:`FLOOR_FALSE_ALERT_RATE`.

    Raises:
        UncalibratedModel: the model has no calibration.
    """
    n = max(1, int(watchlist_size))
    return threshold_at_fmr(model_id, FLOOR_FALSE_ALERT_RATE / n)


def threshold_for(model_id: str, watchlist_size: int) -> float:
    """The default threshold for a watchlist of this size: ``max(default, floor)``.

    Raises:
        UncalibratedModel: the model has no calibration.
    """
    return max(default_threshold(model_id), floor_for(model_id, watchlist_size))


def operating_threshold(
    model_id: str, watchlist_size: int, target: float = TARGET_FALSE_ALERT_RATE
) -> float:
    """The threshold at which a passer-by on no watchlist raises a false alert with
    probability ``target`` against a watchlist of ``watchlist_size`` entries.

    A non-matching face is compared with all N entries; it raises a false alert when its best
    score reaches the threshold: ``P = 1 - (1 - FMR(t))^N ~= N x FMR(t)`` for small rates (the
    union bound, exact enough below 1e-2 and on the safe side), so ``FMR(t) = target / N``.
    ``FMR(t)`` comes from the model's impostor tail measured under live conditions
    (:class:`Tail`) where recorded, else from the clean-photo table (extrapolated), and the
    result is never below :func:`floor_for` (N).

    Raises:
        UncalibratedModel: the model has no calibration.
        ValueError: ``target`` is not in ``(0, 1)``.
    """
    if not 0.0 < target < 1.0:
        raise ValueError(f"target must be in (0, 1), got {target}")
    n = max(1, int(watchlist_size))
    cal = calibration(model_id)
    fmr = target / n
    t = cal.tail.threshold_at(fmr) if cal.tail is not None else threshold_at_fmr(model_id, fmr)
    return max(t, floor_for(model_id, n))


def _lerp(x: float, x0: float, y0: float, x1: float, y1: float) -> float:
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
