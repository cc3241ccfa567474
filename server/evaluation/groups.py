"""Per-group figures from a ``groups.csv`` (``identity,group`` per line).

Identities may be written with their dataset prefix (``faceapi_bbt/amy``) or bare (``amy``)
when the bare name is unique across the datasets evaluated. Every figure is computed at the
*global* thresholds (one threshold is deployed for everyone), and for each metric the report
gives the largest ratio between groups, the figure that shows a demographic differential.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from server.errors import VigilError
from server.evaluation.metrics import (
    IdentificationPoint,
    VerificationPoint,
    as_scores,
    false_rate,
    fnir_at,
    miss_rate,
    rank1,
    ratio,
)
from server.evaluation.report import (
    GroupFigures,
    GroupIdentification,
    GroupRatio,
    GroupVerification,
)
from server.evaluation.scoring import Pairs, SearchLog


class GroupsError(VigilError):
    """The groups file is unreadable or names an unknown or ambiguous identity."""

    def __init__(self, message: str) -> None:
        super().__init__("bad_groups", message)


def load_groups(path: str | Path, identities: Sequence[str]) -> dict[str, str]:
    """Read ``identity,group`` rows (an ``identity,group`` header line is allowed).

    Returns:
        Prefixed identity -> group, for the identities named in the file.

    Raises:
        GroupsError: unreadable file, a malformed row, or an identity that is unknown or
            ambiguous.
    """
    known = set(identities)
    bare: dict[str, list[str]] = {}
    for name in identities:
        bare.setdefault(name.split("/", 1)[-1], []).append(name)
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise GroupsError(f"cannot read {path}: {exc}") from exc
    out: dict[str, str] = {}
    for n, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if n == 1 and [c.lower() for c in cells[:2]] == ["identity", "group"]:
            continue
        if len(cells) != 2 or not cells[0] or not cells[1]:
            raise GroupsError(f"{path}:{n}: expected 'identity,group'")
        name, group = cells
        if name not in known:
            matches = bare.get(name, [])
            if len(matches) != 1:
                what = "ambiguous" if matches else "unknown"
                raise GroupsError(f"{path}:{n}: {what} identity {name!r}")
            name = matches[0]
        out[name] = group
    if not out:
        raise GroupsError(f"{path}: no identity,group rows")
    return out


def group_figures(
    groups: dict[str, str],
    labels: Sequence[str],
    ok: Sequence[bool],
    pairs: Pairs,
    log: SearchLog,
    verification: Sequence[VerificationPoint],
    identification: Sequence[IdentificationPoint],
) -> tuple[list[GroupFigures], list[GroupRatio]]:
    """Figures per group at the global operating points, and the ratios between groups."""
    image_group = np.asarray([groups.get(name, "") for name in labels], dtype=object)
    pair_a = image_group[pairs.first]
    pair_b = image_group[pairs.second]
    figures: list[GroupFigures] = []
    for group in sorted(set(groups.values())):
        members = {i for i, g in enumerate(image_group) if g == group}
        genuine = as_scores(pairs.scores[pairs.genuine & (pair_a == group)])
        impostor = as_scores(pairs.scores[~pairs.genuine & (pair_a == group) & (pair_b == group)])
        searches = log.searches(members)
        figures.append(
            GroupFigures(
                group=group,
                identities=len({labels[i] for i in members}),
                images=len(members),
                failures_to_acquire=sum(1 for i in members if not ok[i]),
                genuine_pairs=int(genuine.size),
                impostor_pairs=int(impostor.size),
                mated=len(searches.mated_top_score),
                nonmated=len(searches.nonmated_top_score),
                rank1=rank1(searches) if searches.mated_top_score else None,
                verification=[
                    GroupVerification(
                        p.fmr, p.threshold, false_rate(impostor, p.threshold),
                        miss_rate(genuine, p.threshold),
                    )
                    for p in verification
                ],
                identification=[
                    GroupIdentification(
                        p.fpir, p.threshold,
                        false_rate(as_scores(searches.nonmated_top_score), p.threshold),
                        fnir_at(searches, p.threshold),
                    )
                    for p in identification
                ],
            )
        )
    return figures, _ratios(figures)


def _ratios(figures: Sequence[GroupFigures]) -> list[GroupRatio]:
    """Largest/smallest ratio of each metric over the groups that have data for it."""
    metrics: dict[str, list[tuple[str, float]]] = {}

    def put(metric: str, group: str, value: float) -> None:
        metrics.setdefault(metric, []).append((group, value))

    for f in figures:
        for v in f.verification:
            if f.impostor_pairs:
                put(f"fmr@fmr={v.target_fmr:g}", f.group, v.fmr)
            if f.genuine_pairs:
                put(f"fnmr@fmr={v.target_fmr:g}", f.group, v.fnmr)
        for p in f.identification:
            if f.nonmated:
                put(f"fpir@fpir={p.target_fpir:g}", f.group, p.fpir)
            if f.mated:
                put(f"fnir@fpir={p.target_fpir:g}", f.group, p.fnir)
        if f.rank1 is not None:
            put("rank1_error", f.group, 1.0 - f.rank1)
    out: list[GroupRatio] = []
    for metric, values in metrics.items():
        if len(values) < 2:
            continue
        hi = max(values, key=lambda gv: gv[1])
        lo = min(values, key=lambda gv: gv[1])
        out.append(GroupRatio(metric, ratio([v for _, v in values]), hi[0], lo[0]))
    return out
