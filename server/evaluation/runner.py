"""One evaluation run: acquire every image once, then score the protocol (and conditions).

The acquisition (the slow part) is separate from :func:`score`, so a caller that already
holds the templates (a test session, a calibration script) can recompute every figure
without running the engine again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec
import numpy as np

from server.evaluation.acquire import (
    Acquisition,
    Progress,
    acquire,
    file_loaders,
    no_progress,
    prepare,
)
from server.evaluation.dataset import Sample, list_samples, split
from server.evaluation.degrade import Condition, conditions
from server.evaluation.groups import group_figures, load_groups
from server.evaluation.metrics import (
    det_curve,
    identification_det,
    identification_points,
    rank1,
    verification_points,
)
from server.evaluation.report import Degraded, EvalReport, Timing
from server.evaluation.scoring import Pairs, SearchLog, all_pairs, gallery_of, search
from server.recognition.engine import FaceEngine, Image
from server.recognition.image_io import read_image_file
from server.settings import QualitySettings


class Curves(msgspec.Struct, frozen=True):
    """Points of the DET curves, for the plot."""

    verification: tuple[list[float], list[float]]
    identification: tuple[list[float], list[float]]
    degraded: dict[str, tuple[list[float], list[float]]] = {}


class Evaluation(msgspec.Struct, frozen=True):
    """A report with the curves and the per-image data behind it."""

    report: EvalReport
    curves: Curves
    pairs: Pairs
    searches: SearchLog
    samples: list[Sample]
    acquired: Acquisition


def _median(values: Sequence[float]) -> float:
    return round(float(np.median(values)), 2) if values else 0.0


def score(
    engine: FaceEngine,
    datasets: Sequence[str],
    samples: Sequence[Sample],
    acquired: Acquisition,
    *,
    quality_gate: bool = False,
    groups: dict[str, str] | None = None,
) -> Evaluation:
    """Every figure of the clean run from templates already acquired."""
    labels = [s.identity for s in samples]
    protocol = split(samples)
    pairs = all_pairs(acquired.vectors, acquired.ok, labels)
    genuine, impostor = pairs.split()
    verification = verification_points(genuine, impostor)
    g, g_labels, fte = gallery_of(acquired.vectors, acquired.ok, labels, protocol)
    log = search(g, g_labels, acquired.vectors, acquired.ok, labels, protocol)
    searches = log.searches()
    identification = identification_points(searches)
    report = EvalReport(
        engine=engine.name,
        model_id=engine.model_id,
        datasets=[str(d) for d in datasets],
        images=len(samples),
        identities=len(set(labels)),
        failures_to_acquire=acquired.failures,
        failure_reasons=acquired.failure_reasons(),
        quality_gate=quality_gate,
        quality_rejected=acquired.quality_rejected(),
        genuine_pairs=int(genuine.size),
        impostor_pairs=int(impostor.size),
        verification=verification,
        gallery=len(g_labels),
        failures_to_enrol=fte,
        mated=len(searches.mated_top_score),
        nonmated=len(searches.nonmated_top_score),
        rank1=round(rank1(searches), 6),
        identification=identification,
        timing=Timing(_median(acquired.detect_ms), _median(acquired.embed_ms)),
    )
    if groups:
        figures, ratios = group_figures(
            groups, labels, acquired.ok, pairs, log, verification, identification
        )
        defined = [r.ratio for r in ratios if r.ratio is not None]
        report = msgspec.structs.replace(
            report,
            groups=figures,
            group_ratios=ratios,
            largest_group_ratio=max(defined) if defined else None,
        )
    curves = Curves(det_curve(genuine, impostor), identification_det(searches))
    return Evaluation(report, curves, pairs, log, list(samples), acquired)


def degraded_run(
    engine: FaceEngine,
    samples: Sequence[Sample],
    clean: Acquisition,
    condition: Condition,
    *,
    quality: QualitySettings | None = None,
    quality_gate: bool = False,
    progress: Progress[int] = no_progress,
) -> tuple[Degraded, tuple[list[float], list[float]]]:
    """Identification with every search image degraded by ``condition`` (gallery clean)."""
    labels = [s.identity for s in samples]
    protocol = split(samples)
    probes = [*protocol.mated, *protocol.nonmated]
    # a probe that failed on the clean image (no face, unreadable, or refused by the gate)
    # has no face size to degrade to: it stays a failure without running the engine again
    runnable = [i for i in probes if clean.ok[i]]

    def loader(i: int) -> Callable[[], Image]:
        return lambda: condition.apply(
            prepare(read_image_file(samples[i].path)), clean.face_height[i]
        )

    done = acquire(
        engine,
        [loader(i) for i in runnable],
        quality=quality,
        gate=quality_gate,
        progress=progress,
        description=condition.name,
    )
    vectors = np.zeros_like(clean.vectors)
    ok = [False] * len(samples)
    for row, i in enumerate(runnable):
        vectors[i] = done.vectors[row]
        ok[i] = done.ok[row]
    g, g_labels, _ = gallery_of(clean.vectors, clean.ok, labels, protocol)
    searches = search(g, g_labels, vectors, ok, labels, protocol).searches()
    result = Degraded(
        condition.name,
        sum(1 for i in probes if not ok[i]),
        round(rank1(searches), 6),
        identification_points(searches),
    )
    return result, identification_det(searches)


def evaluate(
    engine: FaceEngine,
    datasets: Sequence[str],
    *,
    degrade: bool = False,
    groups_file: str | Path | None = None,
    quality: QualitySettings | None = None,
    quality_gate: bool = False,
    progress: Progress[int] = no_progress,
) -> Evaluation:
    """Run the whole evaluation of ``engine`` on labelled dataset folders.

    Raises:
        DatasetError: a dataset folder is missing or empty.
        GroupsError: the groups file is invalid.
    """
    samples = list_samples(datasets)
    labels = [s.identity for s in samples]
    groups = load_groups(groups_file, sorted(set(labels))) if groups_file else None
    acquired = acquire(
        engine, file_loaders(samples), quality=quality, gate=quality_gate, progress=progress
    )
    result = score(engine, datasets, samples, acquired, quality_gate=quality_gate, groups=groups)
    if not degrade:
        return result
    rows: list[Degraded] = []
    curves: dict[str, tuple[list[float], list[float]]] = {}
    for condition in conditions():
        row, curve = degraded_run(
            engine, samples, acquired, condition,
            quality=quality, quality_gate=quality_gate, progress=progress,
        )
        rows.append(row)
        curves[condition.name] = curve
    return msgspec.structs.replace(
        result,
        report=msgspec.structs.replace(result.report, degraded=rows),
        curves=msgspec.structs.replace(result.curves, degraded=curves),
    )

