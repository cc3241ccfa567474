"""From templates to scores: all verification pairs and open-set searches.

Searches here are exact (a matrix product over the gallery) so that the figures measure the
model, not the approximate index; the index's own recall is measured separately.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import numpy as np
import numpy.typing as npt

from server.evaluation.dataset import Protocol
from server.evaluation.metrics import Scores, Searches
from server.recognition.engine import Vectors

Indices = npt.NDArray[np.int64]


class Pairs(msgspec.Struct, frozen=True):
    """Similarity of every unordered pair of acquired images.

    Attributes:
        first / second: image indices of each pair (``first < second``).
        scores: cosine similarity of each pair.
        genuine: whether the pair shares an identity.
    """

    first: Indices
    second: Indices
    scores: Scores
    genuine: npt.NDArray[np.bool_]

    def split(self) -> tuple[Scores, Scores]:
        """``(genuine scores, impostor scores)``."""
        return self.scores[self.genuine], self.scores[~self.genuine]


class SearchLog(msgspec.Struct, frozen=True):
    """Per-search details, kept so that figures can be cut by group.

    Attributes:
        mated_probe / nonmated_probe: image index of each search.
        mated_score / mated_correct: top-1 similarity (``nan`` if not acquired) and whether
            the top candidate was right.
        nonmated_score: top-1 similarity (``nan`` if not acquired: such probes are left out).
    """

    mated_probe: list[int]
    mated_score: list[float]
    mated_correct: list[bool]
    nonmated_probe: list[int]
    nonmated_score: list[float]

    def searches(self, keep: set[int] | None = None) -> Searches:
        """The searches (of probes in ``keep``, when given) for the metric functions."""
        mated = [
            (s, c)
            for p, s, c in zip(self.mated_probe, self.mated_score, self.mated_correct, strict=True)
            if keep is None or p in keep
        ]
        nonmated = [
            s
            for p, s in zip(self.nonmated_probe, self.nonmated_score, strict=True)
            if (keep is None or p in keep) and not np.isnan(s)
        ]
        return Searches([s for s, _ in mated], [c for _, c in mated], nonmated)


def all_pairs(vectors: Vectors, ok: Sequence[bool], labels: Sequence[str]) -> Pairs:
    """Scores of every pair of acquired images (images that failed are left out).

    Memory grows with the square of the image count (about 40 bytes per pair: 5,000 images
    need ~500 MB), which suits development sets, not million-image benchmarks.
    """
    idx = np.flatnonzero(np.asarray(ok, dtype=bool))
    v = vectors[idx].astype(np.float32)
    sims = v @ v.T
    a, b = np.triu_indices(idx.size, k=1)
    names = np.asarray(labels, dtype=object)[idx]
    return Pairs(
        idx[a].astype(np.int64),
        idx[b].astype(np.int64),
        sims[a, b].astype(np.float64),
        np.asarray(names[a] == names[b], dtype=bool),
    )


def search(
    gallery_vectors: Vectors,
    gallery_labels: Sequence[str],
    probes: Vectors,
    probe_ok: Sequence[bool],
    labels: Sequence[str],
    protocol: Protocol,
) -> SearchLog:
    """Run every mated and non-mated search of ``protocol`` against the gallery.

    Args:
        gallery_vectors: templates of the enrolled identities that acquired.
        gallery_labels: their identities.
        probes: templates of every image (rows of unused or failed images are ignored).
        probe_ok: whether each probe row holds a template.
        labels: identity of every image.
        protocol: the split.
    """
    empty = gallery_vectors.shape[0] == 0
    sims = None if empty else probes.astype(np.float32) @ gallery_vectors.astype(np.float32).T

    def top(i: int) -> tuple[float, str | None]:
        if sims is None or not probe_ok[i]:
            return float("nan"), None
        j = int(np.argmax(sims[i]))
        return float(sims[i, j]), gallery_labels[j]

    mated_score: list[float] = []
    mated_correct: list[bool] = []
    for i in protocol.mated:
        score, who = top(i)
        mated_score.append(score)
        mated_correct.append(who is not None and who == labels[i])
    nonmated_score = [top(i)[0] for i in protocol.nonmated]
    return SearchLog(
        list(protocol.mated), mated_score, mated_correct, list(protocol.nonmated), nonmated_score
    )


def gallery_of(
    vectors: Vectors, ok: Sequence[bool], labels: Sequence[str], protocol: Protocol
) -> tuple[Vectors, list[str], int]:
    """Gallery templates and identities, and the number of failures to enrol."""
    rows = [i for i in protocol.gallery if ok[i]]
    g = np.ascontiguousarray(vectors[rows], dtype=np.float32).reshape(len(rows), vectors.shape[1])
    return g, [labels[i] for i in rows], len(protocol.gallery) - len(rows)
