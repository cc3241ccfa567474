"""The evaluation report: what ``vigil eval --json`` prints (one JSON object)."""

from __future__ import annotations

import msgspec

from server.evaluation.metrics import IdentificationPoint, VerificationPoint
from server.evaluation.operating import OperatingPoint
from server.recognition.calibration import Calibration


class Timing(msgspec.Struct, frozen=True):
    """Median per-stage times on this machine (milliseconds)."""

    detect_ms_per_image: float
    embed_ms_per_face: float


class Degraded(msgspec.Struct, frozen=True):
    """Identification figures with the search images degraded by one condition (the
    gallery stays clean)."""

    condition: str
    failures_to_acquire: int
    """Searches (mated and non-mated) that gave no template under this condition, including
    those that already failed on the clean image."""
    rank1: float
    identification: list[IdentificationPoint]


class GroupVerification(msgspec.Struct, frozen=True):
    """One group's rates at a global verification operating point."""

    target_fmr: float
    threshold: float
    fmr: float
    fnmr: float


class GroupIdentification(msgspec.Struct, frozen=True):
    """One group's rates at a global identification operating point."""

    target_fpir: float
    threshold: float
    fpir: float
    fnir: float


class GroupFigures(msgspec.Struct, frozen=True):
    """Every figure for the identities of one group, at the global thresholds.

    Impostor pairs are those with both images in the group (the demographic FMR of NIST
    FRVT part 3); genuine pairs, mated and non-mated searches are the group's own.
    """

    group: str
    identities: int
    images: int
    failures_to_acquire: int
    genuine_pairs: int
    impostor_pairs: int
    mated: int
    nonmated: int
    rank1: float | None
    verification: list[GroupVerification]
    identification: list[GroupIdentification]


class GroupRatio(msgspec.Struct, frozen=True):
    """Largest over smallest value of one metric across groups (``None``: undefined, e.g.
    a zero smallest value with a non-zero largest)."""

    metric: str
    ratio: float | None
    highest: str
    lowest: str


class EvalReport(msgspec.Struct, frozen=True, omit_defaults=True):
    """Result of one evaluation run.

    Attributes:
        images: labelled images found.
        failures_to_acquire: images that gave no template (see ``failure_reasons``).
        quality_gate: whether faces failing the quality gate counted as failures to acquire.
        quality_rejected: acquired faces that the live quality gate would reject, by reason.
        gallery: enrolled identities (templates in the 1:N gallery).
        failures_to_enrol: enrolment images that gave no template (their identity's mated
            searches can then only miss).
        mated / nonmated: searches of each kind (mated ones include failures to acquire).
        rank1: share of mated searches whose top candidate is right.
        largest_group_ratio: the largest defined ratio in ``group_ratios``.
        calibration: with ``--calibrate``, the thresholds derived from these images (the
            line to record in :mod:`server.recognition.calibration`).
    """

    engine: str
    model_id: str
    datasets: list[str]
    images: int
    identities: int
    failures_to_acquire: int
    failure_reasons: dict[str, int]
    quality_gate: bool
    quality_rejected: dict[str, int]
    genuine_pairs: int
    impostor_pairs: int
    verification: list[VerificationPoint]
    gallery: int
    failures_to_enrol: int
    mated: int
    nonmated: int
    rank1: float
    identification: list[IdentificationPoint]
    timing: Timing
    degraded: list[Degraded] | None = None
    groups: list[GroupFigures] | None = None
    group_ratios: list[GroupRatio] | None = None
    largest_group_ratio: float | None = None
    calibration: Calibration | None = None
    operating: OperatingPoint | None = None
    """FNIR at the operating threshold for ``--watchlist-size N`` (per group with groups)."""
