"""Searching a deployment's watchlist, behind one small interface.

:class:`IndexMatcher` wraps the watchlist index (``server.recognition.index.WatchlistIndex``,
saved under ``<data_dir>/indexes/<watchlist_id>/`` and rebuilt from the store when missing or
stale); :class:`ExactMatcher` is an exact cosine search used by unit tests and as a reference.
Either way templates of another model id are never compared, and an expired entry never
matches even before the expiry sweep removes it from the index.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import msgspec
import numpy as np

from server.recognition.engine import Vectors
from server.recognition.index import WatchlistIndex

INDEX_CANDIDATES = 4
"""Nearest templates examined per face, so that an expired entry still in the graph does not
hide the next best one."""


class Hit(msgspec.Struct, frozen=True):
    entry_id: str
    similarity: float


class Matcher(Protocol):
    """Best watchlist hit per template (None when the watchlist is empty)."""

    model_id: str

    def search(self, vectors: Vectors, now: float) -> list[Hit | None]: ...


class ExactMatcher:
    """Exact cosine search over unit templates (thread-safe: read-only after build)."""

    def __init__(
        self,
        model_id: str,
        entry_ids: Sequence[str],
        vectors: Vectors,
        expires: Sequence[float],
    ) -> None:
        self.model_id = model_id
        self._ids = list(entry_ids)
        self._vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(
            len(self._ids), -1
        )
        self._expires = np.asarray(expires, dtype=np.float64)

    def __len__(self) -> int:
        return len(self._ids)

    def search(self, vectors: Vectors, now: float) -> list[Hit | None]:
        if len(vectors) == 0:
            return []
        if not self._ids:
            return [None] * len(vectors)
        sims = vectors @ self._vectors.T
        sims[:, self._expires <= now] = -2.0  # expired entries leave the index at once
        best = np.argmax(sims, axis=1)
        out: list[Hit | None] = []
        for row, col in enumerate(best):
            sim = float(sims[row, col])
            out.append(Hit(self._ids[int(col)], sim) if sim > -2.0 else None)
        return out


def index_path(data_dir: Path, watchlist_id: str, model_id: str) -> Path:
    """Where the index of one watchlist and model is saved. (The suffix dates from the hnswlib
    graph; a file of that format is stale and overwritten in place by the next ``open``, so the
    name is kept: a new one would leave the old file, templates included, behind.)"""
    return data_dir / "indexes" / watchlist_id / f"{model_id}.hnsw"


class IndexMatcher:
    """The watchlist's index plus the entry and expiry of each template id."""

    def __init__(self, index: WatchlistIndex, entries: dict[int, tuple[str, float]]) -> None:
        self.model_id = index.model_id
        self.index = index
        self._entries = entries

    def __len__(self) -> int:
        return len(self.index)

    @classmethod
    def open(
        cls, path: Path, model_id: str, dim: int, version: int,
        template_ids: Sequence[int], entry_ids: Sequence[str], vectors: Vectors,
        expires: Sequence[float],
    ) -> IndexMatcher:
        """Load the saved index if it matches ``version``, else rebuild and save it (blocking:
        call from the worker pool)."""
        index = WatchlistIndex.open(path, model_id, dim, str(version),
                                    lambda: (list(template_ids), vectors))
        entries = {int(t): (e, float(x))
                   for t, e, x in zip(template_ids, entry_ids, expires, strict=True)}
        return cls(index, entries)

    def search(self, vectors: Vectors, now: float) -> list[Hit | None]:
        if len(vectors) == 0:
            return []
        rows = self.index.search(vectors, k=INDEX_CANDIDATES, model_id=self.model_id)
        out: list[Hit | None] = []
        for row in rows:
            hit: Hit | None = None
            for template_id, similarity in row:
                entry = self._entries.get(template_id)
                if entry is not None and entry[1] > now:
                    hit = Hit(entry[0], similarity)
                    break
            out.append(hit)
        return out


class MatcherCache:
    """One matcher per (watchlist, model id, watchlist version); rebuilt when it changes."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], tuple[int, Matcher]] = {}
        self._lock = threading.Lock()

    def get(self, watchlist_id: str, model_id: str, version: int) -> Matcher | None:
        with self._lock:
            hit = self._cache.get((watchlist_id, model_id))
        return hit[1] if hit is not None and hit[0] == version else None

    def put(self, watchlist_id: str, version: int, matcher: Matcher) -> None:
        with self._lock:
            self._cache[(watchlist_id, matcher.model_id)] = (version, matcher)

    def drop(self, watchlist_id: str) -> None:
        with self._lock:
            for key in [k for k in self._cache if k[0] == watchlist_id]:
                del self._cache[key]
