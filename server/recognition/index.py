"""The watchlist index: one hnswlib HNSW graph per (watchlist, model id), cosine space.

Labels are template ids (ints). Similarity is ``1 - cosine distance``, so it is the same
number the evaluation reports and the thresholds are calibrated on.

Locking. hnswlib (0.8) lets several ``knn_query`` calls run at once, but its resize, save,
load and deletion bookkeeping are not documented as safe against concurrent searches, and a
rebuild swaps the whole graph. So this class uses a readers-writer lock: any number of
``search`` calls share it (they run in worker threads, and hnswlib releases the GIL while
searching), while every mutation (``add``, ``remove``, ``rebuild``, growth, ``save``) holds
it exclusively. Writers are preferred, so a stream of searches cannot starve an expiry sweep.

Deletion uses ``mark_deleted`` (the element stays in the graph as a routing node but is
never returned); when deleted elements pass :data:`REBUILD_DELETED_FRACTION` of the graph,
it is rebuilt from the live vectors so that memory and recall do not decay.

Persistence. ``save()`` writes the graph to ``path`` and a JSON side file ``path + ".meta"``
(format version, model id, dimension, the caller's version string, live and deleted ids and
the SHA-256 of the graph file), both atomically (temporary file + rename). ``open()`` loads
the file only when the side file matches all of that; otherwise (missing, partial, tampered,
another model, a stale version) it rebuilds from the caller's stored templates.

Search quality: ``M`` 32, ``ef_construction`` 128, ``ef`` (search breadth) 256, chosen for
recall@1 >= 0.99 on the hardest case measured: 100,000 random 512-d unit templates (no
cluster structure, unlike real faces) and 1,000 mated probes at cosine 0.6-0.8 to one of them
(a live face of an enrolled person; the embedder's genuine scores lie there), recall@1 against
the template the probe was made from. Measured with 2 build threads on a 2-core machine at
load average 7-14 (other work), so the times are only comparable within a row:

=====================  ==========  =========  =========  =========  =========
M / ef_construction    build (s)   ef 64      ef 128     ef 256     ef 512
=====================  ==========  =========  =========  =========  =========
16 / 200 (before)      1,124       0.594      0.802      0.939      0.989
32 / 128 (now)         1,247                  0.972      **0.999**
=====================  ==========  =========  =========  =========  =========

At 10,000 templates and 128-d the old 16 / 200 / 128 already gave recall 1.0 for near
queries; below :data:`EXACT_MAX_FLOATS` a search is exact anyway. ``make bench``'s ``index``
figure owns the timing figures (query p99 at 100k x 512, build time).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import hnswlib
import numpy as np
import numpy.typing as npt

from server.errors import ModelMismatch, VigilError
from server.recognition.engine import Vectors, normalise_rows
from server.recognition.rwlock import ReadWriteLock

FORMAT_VERSION = 1
DEFAULT_CAPACITY = 1024
DEFAULT_M = 32
DEFAULT_EF_CONSTRUCTION = 128
DEFAULT_EF = 256
EXACT_MAX_FLOATS = 4_096_000
"""Up to this many stored floats (templates x dimension: 32,000 x 128 or 8,000 x 512), a
search is an exact numpy product over the live templates instead of an HNSW walk: exact
(recall 1) and as fast or faster there. Set from ``make bench``'s crossover sweep (the
``index`` figure's ``crossover``: one probe at a time through :meth:`WatchlistIndex.search`,
both searches alternating on the same mated probes, M 32 / ef_construction 128 / ef 256,
numpy's BLAS and the walk each on one thread; load average ~10, so the ratio of medians,
exact over HNSW, is the figure): at 128-d 0.64 at 8,000 templates, 0.76 at 16,000, 1.24 at
32,000, 2.0 at 48,000; at 512-d 0.64 at 2,000, 0.53 at 4,000, 0.29 at 8,000, 0.64 at 12,000,
0.99 at 16,000, 1.15 at 24,000. The walk catches up at about 4M floats at 128-d and 8M at
512-d; one limit in floats takes the lower. Watchlists hold at most 2,000 entries, so every
search in service is exact; ``search_mode`` says which is used. The exact search keeps a
normalised copy of the vectors (16 MB at the limit)."""
REBUILD_DELETED_FRACTION = 0.25
"""Rebuild when deleted elements exceed this share of the graph (and number at least
:data:`REBUILD_MIN_DELETED`, so that a small watchlist is not rebuilt on every removal)."""
REBUILD_MIN_DELETED = 64

Match = tuple[int, float]
"""``(template id, similarity)``."""
TemplateSource = Callable[[], tuple[Sequence[int], npt.ArrayLike]]
"""Returns the stored ``(template ids, vectors)`` of one watchlist and model, for a rebuild."""


class IndexInputError(VigilError):
    """Bad input to the index other than a model mismatch (bad ids, non-finite vectors)."""

    def __init__(self, message: str) -> None:
        super().__init__("bad_index_input", message)


class WatchlistIndex:
    """Approximate nearest-template search for one watchlist and one model.

    Args:
        model_id: the embedding model whose templates this index holds.
        dim: template length.
        path: file to save to / load from (``None``: memory only).
        capacity: initial number of elements; the graph grows (doubling) beyond it.
        version: the caller's version of the template set (e.g. the watchlist version hash),
            stored by ``save`` and checked by ``open``.
        m: HNSW links per node.
        ef_construction: HNSW build breadth.
        ef: HNSW search breadth.
        build_threads: threads for inserting (0: every core).
        exact_max_floats: search exactly up to this many stored floats (``None``:
            :data:`EXACT_MAX_FLOATS`; the benchmark's crossover sweep sets it to time both
            searches on the same index).
    """

    def __init__(
        self,
        model_id: str,
        dim: int,
        path: str | Path | None = None,
        capacity: int = DEFAULT_CAPACITY,
        *,
        version: str = "",
        m: int = DEFAULT_M,
        ef_construction: int = DEFAULT_EF_CONSTRUCTION,
        ef: int = DEFAULT_EF,
        build_threads: int = 0,
        exact_max_floats: int | None = None,
    ) -> None:
        if dim <= 0:
            raise IndexInputError(f"dimension must be positive, got {dim}")
        self.model_id = model_id
        self.dim = int(dim)
        self.path = Path(path) if path is not None else None
        self.version = version
        self.m = m
        self.ef_construction = ef_construction
        self.ef = ef
        self.build_threads = build_threads or (os.cpu_count() or 1)
        """Threads hnswlib inserts with (0: every core): a rebuild of a large watchlist is a
        burst of work nothing else waits on, so it may use them all."""
        self.exact_max_floats = exact_max_floats
        self._lock = ReadWriteLock()
        self._live: set[int] = set()
        self._deleted: set[int] = set()
        self._graph = self._new_graph(max(16, int(capacity)))
        self._exact_cache: tuple[npt.NDArray[np.int64], Vectors] | None = None
        """Live ids and their vectors for exact search (rebuilt after a change)."""

    # -- queries -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, template_id: object) -> bool:
        return template_id in self._live

    @property
    def capacity(self) -> int:
        return int(self._graph.get_max_elements())

    @property
    def deleted(self) -> int:
        """Elements marked deleted and still in the graph."""
        return len(self._deleted)

    @property
    def search_mode(self) -> str:
        """``exact`` (numpy product, up to ``exact_max_floats``) or ``hnsw``."""
        return "exact" if len(self._live) * self.dim <= self._exact_limit() else "hnsw"

    def _exact_limit(self) -> int:
        return EXACT_MAX_FLOATS if self.exact_max_floats is None else self.exact_max_floats

    def ids(self) -> list[int]:
        """Live template ids, sorted."""
        with self._lock.read():
            return sorted(self._live)

    def search(
        self, vectors: npt.ArrayLike, k: int = 1, model_id: str | None = None
    ) -> list[list[Match]]:
        """The ``k`` most similar templates of each query vector, best first.

        Args:
            vectors: ``dim`` or ``N x dim`` query templates.
            k: results per query (fewer when the index holds fewer templates).
            model_id: the model that produced the queries; must be this index's.

        Returns:
            One list of ``(template id, similarity)`` per query.

        Raises:
            ModelMismatch: another model id or dimension.
        """
        self._check_model(model_id)
        queries = self._vectors(vectors)
        if k < 1:
            raise IndexInputError(f"k must be at least 1, got {k}")
        with self._lock.read():
            n = len(self._live)
            if n == 0 or queries.shape[0] == 0:
                return [[] for _ in range(queries.shape[0])]
            kk = min(k, n)
            if n * self.dim <= self._exact_limit():
                return self._exact_search(queries, kk)
            try:
                labels, distances = self._graph.knn_query(queries, k=kk, num_threads=1)
            except RuntimeError:
                # hnswlib refuses when deletions leave fewer than k reachable elements;
                # answer exactly from the live vectors instead (rare, and small when it happens)
                return self._exact(queries, kk)
        return [
            [(int(label), float(1.0 - dist)) for label, dist in zip(row_l, row_d, strict=True)]
            for row_l, row_d in zip(labels, distances, strict=True)
        ]

    # -- mutations -----------------------------------------------------------------------

    def add(
        self, template_ids: Sequence[int], vectors: npt.ArrayLike, model_id: str | None = None
    ) -> None:
        """Add (or replace) templates.

        Raises:
            ModelMismatch: another model id or dimension.
            IndexInputError: ids and vectors differ in number, repeat, or are negative.
        """
        self._check_model(model_id)
        data = self._vectors(vectors)
        ids = [int(t) for t in template_ids]
        if len(ids) != data.shape[0]:
            raise IndexInputError(f"{len(ids)} ids for {data.shape[0]} vectors")
        if len(set(ids)) != len(ids) or any(t < 0 for t in ids):
            raise IndexInputError("template ids must be distinct non-negative integers")
        if not ids:
            return
        with self._lock.write():
            self._add_locked(ids, data)
            self._exact_cache = None

    def remove(self, template_id: int) -> bool:
        """Remove one template; returns whether it was present."""
        return self.remove_many([template_id]) == 1

    def remove_many(self, template_ids: Iterable[int]) -> int:
        """Remove templates (absent ids are ignored); returns how many were removed."""
        removed = 0
        with self._lock.write():
            self._exact_cache = None
            for t in template_ids:
                t = int(t)
                if t in self._live:
                    self._graph.mark_deleted(t)
                    self._live.discard(t)
                    self._deleted.add(t)
                    removed += 1
            total = len(self._live) + len(self._deleted)
            if (
                len(self._deleted) >= REBUILD_MIN_DELETED
                and len(self._deleted) > REBUILD_DELETED_FRACTION * total
            ):
                self._compact_locked()
        return removed

    def rebuild(self, template_ids: Sequence[int], vectors: npt.ArrayLike) -> None:
        """Replace the whole content with these templates (e.g. from the store)."""
        data = self._vectors(vectors)
        ids = [int(t) for t in template_ids]
        if len(ids) != data.shape[0]:
            raise IndexInputError(f"{len(ids)} ids for {data.shape[0]} vectors")
        graph = self._new_graph(max(16, len(ids) * 2, DEFAULT_CAPACITY // 8))
        if ids:
            graph.add_items(data, np.asarray(ids, dtype=np.int64),
                            num_threads=self.build_threads)
        with self._lock.write():
            self._graph = graph
            self._live = set(ids)
            self._deleted = set()
            self._exact_cache = None

    # -- persistence ---------------------------------------------------------------------

    def save(self) -> None:
        """Write the graph and its side file atomically (needs ``path``)."""
        if self.path is None:
            raise IndexInputError("this index has no file path")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temp_beside(self.path)
        with self._lock.write():
            self._graph.save_index(str(tmp))
            meta = {
                "format": FORMAT_VERSION,
                "model_id": self.model_id,
                "dim": self.dim,
                "version": self.version,
                "live": sorted(self._live),
                "deleted": sorted(self._deleted),
                "sha256": _sha256(tmp),
            }
            os.replace(tmp, self.path)
            _write_atomic(self.meta_path(self.path), json.dumps(meta).encode())

    @staticmethod
    def meta_path(path: Path) -> Path:
        return path.with_name(path.name + ".meta")

    @classmethod
    def load(
        cls, path: str | Path, model_id: str, dim: int, *, version: str | None = None,
        ef: int = DEFAULT_EF,
    ) -> WatchlistIndex:
        """Load a saved index, checking it against its side file.

        Raises:
            ModelMismatch: the file holds another model's templates or dimension.
            StaleIndex: missing, partial or modified files, or another ``version``.
        """
        path = Path(path)
        meta = _read_meta(cls.meta_path(path))
        if meta.get("model_id") != model_id or meta.get("dim") != dim:
            raise ModelMismatch(
                "model_mismatch",
                f"index file holds {meta.get('model_id')}/{meta.get('dim')}, "
                f"not {model_id}/{dim}",
            )
        if meta.get("format") != FORMAT_VERSION:
            raise StaleIndex(f"index format {meta.get('format')}, expected {FORMAT_VERSION}")
        if version is not None and meta.get("version") != version:
            raise StaleIndex(f"index version {meta.get('version')!r}, expected {version!r}")
        if not path.is_file() or _sha256(path) != meta.get("sha256"):
            raise StaleIndex(f"{path} is missing or does not match its side file")
        index = cls(model_id, dim, path, version=str(meta.get("version", "")), ef=ef)
        live = {int(t) for t in meta.get("live", [])}
        deleted = {int(t) for t in meta.get("deleted", [])}
        graph = hnswlib.Index(space="cosine", dim=dim)
        try:
            graph.load_index(str(path))
        except (RuntimeError, ValueError) as exc:
            raise StaleIndex(f"{path} cannot be loaded: {exc}") from exc
        graph.set_ef(ef)
        if int(graph.get_current_count()) != len(live) + len(deleted):
            raise StaleIndex(f"{path} holds {graph.get_current_count()} elements, side file "
                             f"{len(live) + len(deleted)}")
        index._graph, index._live, index._deleted = graph, live, deleted
        index._exact_cache = None
        return index

    @classmethod
    def open(
        cls, path: str | Path, model_id: str, dim: int, version: str, templates: TemplateSource,
        *, ef: int = DEFAULT_EF,
    ) -> WatchlistIndex:
        """Load the saved index if it is current, else rebuild it from ``templates()`` and
        save it. ``version`` identifies the template set (e.g. the watchlist version hash).

        Raises:
            ModelMismatch: ``templates()`` returned vectors of another dimension.
        """
        try:
            return cls.load(path, model_id, dim, version=version, ef=ef)
        except (StaleIndex, ModelMismatch):
            pass
        ids, vectors = templates()
        index = cls(model_id, dim, path, version=version, ef=ef)
        index.rebuild(ids, vectors)
        index.save()
        return index

    # -- internals -----------------------------------------------------------------------

    def _new_graph(self, capacity: int) -> Any:
        graph = hnswlib.Index(space="cosine", dim=self.dim)
        graph.init_index(max_elements=capacity, M=self.m, ef_construction=self.ef_construction,
                         random_seed=100)
        graph.set_ef(self.ef)
        return graph

    def _check_model(self, model_id: str | None) -> None:
        if model_id is not None and model_id != self.model_id:
            raise ModelMismatch(
                "model_mismatch",
                f"templates of model {model_id!r} cannot be compared with this index of "
                f"{self.model_id!r}",
            )

    def _vectors(self, vectors: npt.ArrayLike) -> Vectors:
        try:
            data = np.asarray(vectors, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise IndexInputError(f"vectors are not numeric: {exc}") from exc
        if data.ndim == 1:
            data = data[None, :] if data.size else data.reshape(0, self.dim)
        if data.ndim != 2 or data.shape[1] != self.dim:
            raise ModelMismatch(
                "model_mismatch",
                f"vectors of shape {tuple(data.shape)} do not fit a {self.dim}-d index of "
                f"{self.model_id!r}",
            )
        if not np.all(np.isfinite(data)):
            raise IndexInputError("vectors contain NaN or infinity")
        return normalise_rows(data)

    def _add_locked(self, ids: list[int], data: Vectors) -> None:
        # a re-added id that was deleted is revived in place by hnswlib (its vector updated)
        revived = [t for t in ids if t in self._deleted]
        for t in revived:
            self._graph.unmark_deleted(t)
            self._deleted.discard(t)
        new = sum(1 for t in ids if t not in self._live and t not in revived)
        used = int(self._graph.get_current_count())
        if used + new > self.capacity:
            self._graph.resize_index(max(used + new, 2 * self.capacity))
        self._graph.add_items(data, np.asarray(ids, dtype=np.int64),
                            num_threads=self.build_threads)
        self._live.update(ids)

    def _exact_search(self, queries: Vectors, k: int) -> list[list[Match]]:
        """Exact top-``k`` by cosine over the live templates (call under the read lock)."""
        cached = self._exact_cache
        if cached is None:
            ids = np.asarray(sorted(self._live), dtype=np.int64)
            stored = normalise_rows(np.asarray(self._graph.get_items(ids), dtype=np.float32))
            cached = self._exact_cache = (ids, stored)  # readers racing here compute the same
        ids, stored = cached
        sims = queries @ stored.T
        if k < len(ids):
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        else:
            top = np.broadcast_to(np.arange(len(ids)), (len(sims), len(ids)))
        out: list[list[Match]] = []
        for row, cols in zip(sims, top, strict=True):
            best = cols[np.argsort(-row[cols], kind="stable")]
            out.append([(int(ids[j]), float(row[j])) for j in best])
        return out

    def _compact_locked(self) -> None:
        ids = sorted(self._live)
        graph = self._new_graph(max(16, len(ids) * 2, DEFAULT_CAPACITY // 8))
        if ids:
            vectors = np.asarray(self._graph.get_items(ids), dtype=np.float32)
            graph.add_items(vectors, np.asarray(ids, dtype=np.int64),
                            num_threads=self.build_threads)
        self._graph = graph
        self._deleted = set()

    def _exact(self, queries: Vectors, k: int) -> list[list[Match]]:
        ids = sorted(self._live)
        stored = normalise_rows(np.asarray(self._graph.get_items(ids), dtype=np.float32))
        sims = queries @ stored.T
        out: list[list[Match]] = []
        for row in sims:
            best = np.argsort(-row)[:k]
            out.append([(ids[j], float(row[j])) for j in best])
        return out


class StaleIndex(VigilError):
    """A saved index is missing, partial, modified or out of date: rebuild it."""

    def __init__(self, message: str) -> None:
        super().__init__("stale_index", message)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StaleIndex(f"no readable side file {path}") from exc
    if not isinstance(meta, dict):
        raise StaleIndex(f"side file {path} is not a JSON object")
    return meta


def _temp_beside(path: Path) -> Path:
    """A temporary name next to ``path``, unique per writer, so that two processes or
    threads saving the same index never write into one file (the last rename wins whole;
    a graph/side-file pair from different writers fails its checksum and is rebuilt)."""
    return path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = _temp_beside(path)
    tmp.write_bytes(data)
    os.replace(tmp, path)
