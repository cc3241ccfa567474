"""Searching a deployment's watchlist, behind one small interface.

The index proper (hnswlib, ``server.recognition.index.WatchlistIndex``) is used when it is
installed in the tree; otherwise an exact cosine search over the templates does the same job
(watchlists are small: a size cap of a few thousand entries). Either way templates of another
model id are never compared, and an expired entry never matches even before the next rebuild.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

import msgspec
import numpy as np

from server.recognition.engine import Vectors


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


class MatcherCache:
    """One matcher per (watchlist, model id, watchlist version); rebuilt when it changes."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], tuple[int, ExactMatcher]] = {}
        self._lock = threading.Lock()

    def get(self, watchlist_id: str, model_id: str, version: int) -> ExactMatcher | None:
        with self._lock:
            hit = self._cache.get((watchlist_id, model_id))
        return hit[1] if hit is not None and hit[0] == version else None

    def put(self, watchlist_id: str, version: int, matcher: ExactMatcher) -> None:
        with self._lock:
            self._cache[(watchlist_id, matcher.model_id)] = (version, matcher)

    def drop(self, watchlist_id: str) -> None:
        with self._lock:
            for key in [k for k in self._cache if k[0] == watchlist_id]:
                del self._cache[key]
