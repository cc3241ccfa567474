"""The watchlist index: nearest-template search for one (watchlist, model id), cosine.

Labels are template ids (ints). Similarity is the cosine of the unit vectors, the same number
the evaluation reports and the thresholds are calibrated on, and every similarity returned is
computed exactly from the stored vector.

Two searches, chosen by size (:attr:`WatchlistIndex.search_mode`):

- ``exact`` up to :data:`EXACT_MAX_FLOATS` stored floats: one numpy product over all live
  templates (recall 1 for every neighbour).
- ``binary`` above it: each template also has a sign code (one bit per dimension of the
  template minus the gallery's mean, :data:`CODE_BYTES_PER_64` bytes per 64 dimensions: 64
  bytes at 512-d). A probe's code is compared with every stored code by Hamming distance
  (faiss's SIMD scan, one thread), and the nearest codes (:func:`default_rerank`: 64 at 512-d)
  are re-ranked by their exact cosine. For two unit vectors at cosine ``c`` the expected
  share of differing bits is ``arccos(c) / pi`` (0.25 at 0.7, 0.30 at 0.6, 0.37 at 0.4)
  against 0.5 +- 0.022 for unrelated 512-d templates, so the template a probe was made from is
  almost always among the candidates, and what is returned is exact for it.

Why not a graph (HNSW, as before): on the hardest honest case, 100,000 random 512-d unit
templates (no cluster structure) and probes at cosine 0.6-0.8 to one of them, a graph walk must
visit a large share of the nodes to find the one close template, so recall needs a wide search
(ef) and the walk is slow; the binary scan reads 6.4 MB of codes per probe at 100k, in order.
Measured by ``make bench``'s ``index`` figure (1,000 mated and 500 random probes, one at a
time, k 10, one thread; hnswlib with this index's previous M 32 / ef_construction 128, built
with both cores; each ef alternated probe by probe with this index). Run A at load average
4.2-6.6, run B at 6.3-10.3 from other work (B's p99s are the scheduler's more than the
searches'; B had 64 candidates at 128-d and faiss's heap variant):

====================  ==============  ==============  ========  ========  =========  =====  ===
100k x 512            p50 ms A / B    p99 ms A / B    recall@1  recall@1  recall@10  build  MB
                                                      mated     random    mated      s A
====================  ==============  ==============  ========  ========  =========  =====  ===
HNSW ef 64            1.85 / 1.81     9.53 / 10.8     0.867     0.178     0.30       475    222
HNSW ef 128           3.16 / 6.31     7.90 / 43.4     0.965     0.284     0.39
HNSW ef 256           5.96 / 11.0     15.9 / 142      0.990     0.438     0.51
binary, 64 re-rank    0.50 / 0.54     0.90 / 4.99     1.000     0.302     0.27       0.9    202
====================  ==============  ==============  ========  ========  =========  =====  ===

(recalls from run A; B's HNSW at ef 256 had 0.999. The target, p99 <= 2 ms at recall@1 >= 0.99,
is met in A and not in B. Alternating with ef 256 the binary search took 1.18 / 5.61 ms in A,
twice its time alone, likely because each walk through the 222 MB graph pushes the codes out
of the caches: still 5.0x / 2.8x faster.) The scan is linear in the gallery: at 1M x 512 (by
hand, load 6-8) p50 6.5-10 ms and p99 31-41 ms at recall@1 1.000, about the graph's time at
100k, and a graph at 1M needs a wider ef still; so no graph is kept (1M misses the 2 ms
target either way).

Its weak point is the *other* neighbours: the 2nd..10th nearest random templates lie at
cosine ~0.15-0.19, which sign bits barely tell apart from the rest, so recall@10 (and recall
for random probes, whose best template is itself such a one) is low, as the graph's is at a
usable ef; none of them is near a match threshold (0.45 for the ONNX model). Weak genuine
matches lose first: at cosine 0.35 to the template 0.65% were missed at 100k x 512 (0.1% with
256 candidates), at 0.4 none of 2,000. ``rerank`` widens the candidates (the bench sweeps
64 / 256 / 1,024).

Sign codes assume roughly centred data (a random 512-d gallery is; dlib's 128-d embeddings lie
in a narrow cone, so raw sign bits would mostly agree): the codes are taken after subtracting
the mean of the stored templates, recomputed (with every code) each time the index doubles.

Locking. A readers-writer lock: any number of ``search`` calls share it (numpy and faiss
release the GIL while they work), while every mutation (``add``, ``remove``, ``rebuild``,
growth) holds it exclusively; ``save`` reads only. Writers are preferred, so a stream of
searches cannot starve an expiry sweep.

Deletion moves the last row into the removed one (O(dim)), so nothing is left to compact.

Persistence. ``save()`` writes the ids and vectors (``.npz``, no pickles) to ``path`` and a
JSON side file ``path + ".meta"`` (format version, model id, dimension, the caller's version
string, the count and the SHA-256 of the data file), both atomically (temporary file +
rename). ``open()`` loads the file only when the side file matches all of that and the data
is well-formed; otherwise (missing, partial, tampered, another model, a stale version, the
hnswlib graph files of format 1) it rebuilds from the caller's stored templates.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import uuid
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from server.errors import ModelMismatch, VigilError
from server.recognition.engine import Vectors, normalise_rows
from server.recognition.rwlock import ReadWriteLock

_faiss: Any
try:
    _faiss = importlib.import_module("faiss")
except ImportError:  # faiss-cpu is a dependency; without it numpy scans (see _hamming_nearest)
    _faiss = None

FORMAT_VERSION = 2
"""2: ids and vectors in an ``.npz`` (1 was an hnswlib graph; such files are rebuilt)."""
DEFAULT_CAPACITY = 1024
CODE_BYTES_PER_64 = 8
RERANK_CANDIDATES = 64
"""Nearest sign codes re-ranked exactly (at least ``k``) for codes of 512 bits or more;
shorter codes get proportionally more (256 at 128-d), because the Hamming gap between a mated
and an unrelated template grows with the number of bits faster than its noise (``bits`` against
``sqrt(bits)``): at 100k x 128 with 64 candidates 0.2% of mated probes lost their template, with
256 none of 1,000. See the module docstring for the recall at 512-d; the bench's ``index``
figure sweeps it."""
EXACT_MAX_FLOATS = 4_096_000
"""Up to this many stored floats (8,000 x 512 or 32,000 x 128) a search is an exact numpy
product over the live templates (recall 1 for every neighbour); above it, the binary search.
The binary search is faster from about 1,000 x 512 (``make bench``'s crossover sweep, the
``index`` figure's ``crossover``: one probe at a time through :meth:`WatchlistIndex.search`,
both searches alternating on the same mated probes, numpy's BLAS and the scan each on one
thread; two runs at load average 4-6 and 6-10, ratio of medians exact over binary at 512-d
0.94 / 0.94 at 500 templates, 1.12 / 1.11 at 1,000, 1.39 / 1.19 at 2,000, 2.6 / 2.3 at 4,000;
at 128-d 0.91 / 0.91 at 2,000, 1.11 / 1.16 at 4,000, 1.49 / 1.55 at 8,000), but it is
approximate (a weak genuine match can miss the re-rank, see the module docstring), and the
exact product of 8,000 x 512 on one thread costs ~0.4 ms median, 0.8 ms p99 (load ~3). So the
limit is set where exact search stays well inside the 2 ms target rather than at the speed
crossover: every watchlist in service (at most 2,000 entries) is searched exactly, and only
larger galleries use the codes. ``search_mode`` says which is used."""

Match = tuple[int, float]
"""``(template id, similarity)``."""
TemplateSource = Callable[[], tuple[Sequence[int], npt.ArrayLike]]
"""Returns the stored ``(template ids, vectors)`` of one watchlist and model, for a rebuild."""
Codes = npt.NDArray[np.uint8]


class IndexInputError(VigilError):
    """Bad input to the index other than a model mismatch (bad ids, non-finite vectors)."""

    def __init__(self, message: str) -> None:
        super().__init__("bad_index_input", message)


class StaleIndex(VigilError):
    """A saved index is missing, partial, modified or out of date: rebuild it."""

    def __init__(self, message: str) -> None:
        super().__init__("stale_index", message)


class WatchlistIndex:
    """Nearest-template search for one watchlist and one model.

    Args:
        model_id: the embedding model whose templates this index holds.
        dim: template length.
        path: file to save to / load from (``None``: memory only).
        capacity: initial number of rows; the arrays grow (doubling) beyond it.
        version: the caller's version of the template set (e.g. the watchlist version hash),
            stored by ``save`` and checked by ``open``.
        rerank: sign-code candidates re-ranked exactly in ``binary`` mode (at least ``k``;
            ``None``: :func:`default_rerank`).
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
        rerank: int | None = None,
        exact_max_floats: int | None = None,
    ) -> None:
        if dim <= 0:
            raise IndexInputError(f"dimension must be positive, got {dim}")
        rerank = default_rerank(dim) if rerank is None else rerank
        if rerank < 1:
            raise IndexInputError(f"rerank must be at least 1, got {rerank}")
        self.model_id = model_id
        self.dim = int(dim)
        self.path = Path(path) if path is not None else None
        self.version = version
        self.rerank = int(rerank)
        self.exact_max_floats = exact_max_floats
        self._lock = ReadWriteLock()
        self._code_bytes = -(-self.dim // 64) * CODE_BYTES_PER_64
        rows = max(16, int(capacity))
        self._vectors: Vectors = np.zeros((rows, self.dim), dtype=np.float32)
        """Unit vectors; rows ``[0, n)`` are live, in no particular order."""
        self._codes: Codes = np.zeros((rows, self._code_bytes), dtype=np.uint8)
        self._row_ids = np.zeros(rows, dtype=np.int64)
        self._rows: dict[int, int] = {}
        """Template id -> row."""
        self._centre: Vectors = np.zeros(self.dim, dtype=np.float32)
        self._centred_at = 0
        """Live count when the centre (and every code) was last computed."""

    # -- queries -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, template_id: object) -> bool:
        return template_id in self._rows

    @property
    def capacity(self) -> int:
        return int(self._vectors.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes held for templates (vectors, codes, ids), at the current capacity."""
        return int(self._vectors.nbytes + self._codes.nbytes + self._row_ids.nbytes)

    @property
    def search_mode(self) -> str:
        """``exact`` (numpy product, up to ``exact_max_floats``) or ``binary`` (sign codes,
        exact re-rank)."""
        return "exact" if len(self._rows) * self.dim <= self._exact_limit() else "binary"

    @property
    def binary_scan(self) -> str:
        """What scans the sign codes: ``faiss`` or ``numpy`` (without faiss-cpu: ~10x slower)."""
        return "faiss" if _faiss is not None else "numpy"

    def _exact_limit(self) -> int:
        return EXACT_MAX_FLOATS if self.exact_max_floats is None else self.exact_max_floats

    def ids(self) -> list[int]:
        """Live template ids, sorted."""
        with self._lock.read():
            return sorted(self._rows)

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
            IndexInputError: ``k`` below 1, non-finite query values.
        """
        self._check_model(model_id)
        queries = self._vectors_of(vectors)
        if k < 1:
            raise IndexInputError(f"k must be at least 1, got {k}")
        with self._lock.read():
            n = len(self._rows)
            if n == 0 or queries.shape[0] == 0:
                return [[] for _ in range(queries.shape[0])]
            kk = min(k, n)
            if n * self.dim <= self._exact_limit():
                return self._exact_search(queries, kk)
            return self._binary_search(queries, kk)

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
        data = self._vectors_of(vectors)
        ids = _checked_ids(template_ids, data.shape[0])
        if not ids:
            return
        with self._lock.write():
            self._add_locked(ids, data)

    def remove(self, template_id: int) -> bool:
        """Remove one template; returns whether it was present."""
        return self.remove_many([template_id]) == 1

    def remove_many(self, template_ids: Iterable[int]) -> int:
        """Remove templates (absent ids are ignored); returns how many were removed."""
        removed = 0
        with self._lock.write():
            for t in template_ids:
                row = self._rows.pop(int(t), None)
                if row is None:
                    continue
                last = len(self._rows)  # the row count before this removal, minus one
                if row != last:  # move the last row into the hole
                    moved = int(self._row_ids[last])
                    self._vectors[row] = self._vectors[last]
                    self._codes[row] = self._codes[last]
                    self._row_ids[row] = moved
                    self._rows[moved] = row
                removed += 1
        return removed

    def rebuild(self, template_ids: Sequence[int], vectors: npt.ArrayLike) -> None:
        """Replace the whole content with these templates (e.g. from the store).

        Raises:
            ModelMismatch: vectors of another dimension.
            IndexInputError: ids and vectors differ in number, repeat, or are negative.
        """
        data = self._vectors_of(vectors)
        ids = _checked_ids(template_ids, data.shape[0])
        # built aside, so searches go on until the swap
        fresh = WatchlistIndex(self.model_id, self.dim,
                               capacity=max(len(ids), DEFAULT_CAPACITY // 8))
        if ids:
            fresh._add_locked(ids, data)
        with self._lock.write():
            self._vectors, self._codes, self._row_ids = (fresh._vectors, fresh._codes,
                                                         fresh._row_ids)
            self._rows, self._centre, self._centred_at = (fresh._rows, fresh._centre,
                                                          fresh._centred_at)

    # -- persistence ---------------------------------------------------------------------

    def save(self) -> None:
        """Write the templates and their side file atomically (needs ``path``)."""
        if self.path is None:
            raise IndexInputError("this index has no file path")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temp_beside(self.path)
        # saving reads only, so searches go on meanwhile; mutations wait
        with self._lock.read():
            n = len(self._rows)
            with open(tmp, "wb") as fh:
                np.savez(fh, ids=self._row_ids[:n], vectors=self._vectors[:n])
            meta = {
                "format": FORMAT_VERSION,
                "model_id": self.model_id,
                "dim": self.dim,
                "version": self.version,
                "count": n,
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
    ) -> WatchlistIndex:
        """Load a saved index, checking it against its side file.

        Raises:
            ModelMismatch: the file holds another model's templates or dimension.
            StaleIndex: missing, partial, modified or malformed files, or another ``version``.
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
        try:
            with np.load(path, allow_pickle=False) as stored:
                ids, vectors = stored["ids"], stored["vectors"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise StaleIndex(f"{path} cannot be loaded: {exc}") from exc
        if (ids.ndim != 1 or ids.dtype != np.int64 or vectors.shape != (len(ids), dim)
                or len(ids) != meta.get("count")):
            raise StaleIndex(f"{path} holds arrays of unexpected shape or type")
        index = cls(model_id, dim, path, capacity=len(ids),
                    version=str(meta.get("version", "")))
        try:
            index.rebuild(ids.tolist(), vectors)
        except (IndexInputError, ModelMismatch) as exc:
            raise StaleIndex(f"{path} holds bad templates: {exc}") from exc
        return index

    @classmethod
    def open(
        cls, path: str | Path, model_id: str, dim: int, version: str, templates: TemplateSource,
    ) -> WatchlistIndex:
        """Load the saved index if it is current, else rebuild it from ``templates()`` and
        save it. ``version`` identifies the template set (e.g. the watchlist version hash).

        Raises:
            ModelMismatch: ``templates()`` returned vectors of another dimension.
        """
        try:
            return cls.load(path, model_id, dim, version=version)
        except (StaleIndex, ModelMismatch):
            pass
        ids, vectors = templates()
        index = cls(model_id, dim, path, version=version)
        index.rebuild(ids, vectors)
        index.save()
        return index

    # -- internals -----------------------------------------------------------------------

    def _check_model(self, model_id: str | None) -> None:
        if model_id is not None and model_id != self.model_id:
            raise ModelMismatch(
                "model_mismatch",
                f"templates of model {model_id!r} cannot be compared with this index of "
                f"{self.model_id!r}",
            )

    def _vectors_of(self, vectors: npt.ArrayLike) -> Vectors:
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

    def _encode(self, unit: Vectors) -> Codes:
        """Sign codes of unit vectors (after the centre), padded to whole 64-bit words."""
        bits = np.packbits(unit > self._centre, axis=1)
        if bits.shape[1] == self._code_bytes:
            return bits
        padded = np.zeros((bits.shape[0], self._code_bytes), dtype=np.uint8)
        padded[:, : bits.shape[1]] = bits
        return padded

    def _resize_locked(self, rows: int) -> None:
        n = len(self._rows)
        vectors = np.zeros((rows, self.dim), dtype=np.float32)
        codes = np.zeros((rows, self._code_bytes), dtype=np.uint8)
        row_ids = np.zeros(rows, dtype=np.int64)
        vectors[:n], codes[:n], row_ids[:n] = (self._vectors[:n], self._codes[:n],
                                               self._row_ids[:n])
        self._vectors, self._codes, self._row_ids = vectors, codes, row_ids

    def _add_locked(self, ids: list[int], data: Vectors) -> None:
        rows = np.empty(len(ids), dtype=np.int64)
        n = len(self._rows)
        new = sum(1 for t in ids if t not in self._rows)
        if n + new > self.capacity:
            self._resize_locked(max(n + new, 2 * self.capacity))
        for i, t in enumerate(ids):  # a known id is replaced in place
            row = self._rows.get(t)
            if row is None:
                row = self._rows[t] = n
                n += 1
            rows[i] = row
        self._vectors[rows] = data
        self._row_ids[rows] = ids
        if n >= 2 * self._centred_at:
            # re-centre on (at least half of) what is stored now: amortised O(1) per add
            self._centre = self._vectors[:n].mean(axis=0, dtype=np.float64).astype(np.float32)
            self._codes[:n] = self._encode(self._vectors[:n])
            self._centred_at = n
        else:
            self._codes[rows] = self._encode(data)

    def _exact_search(self, queries: Vectors, k: int) -> list[list[Match]]:
        """Exact top-``k`` by cosine over the live templates (call under the read lock)."""
        n = len(self._rows)
        sims = queries @ self._vectors[:n].T
        return [self._best(row, np.arange(n), k) for row in sims]

    def _binary_search(self, queries: Vectors, k: int) -> list[list[Match]]:
        """Top-``k`` among the nearest sign codes, by exact cosine (under the read lock)."""
        n = len(self._rows)
        candidates = _hamming_nearest(self._encode(queries), self._codes[:n],
                                      min(n, max(self.rerank, k)))
        out: list[list[Match]] = []
        for query, rows in zip(queries, candidates, strict=True):
            out.append(self._best(self._vectors[rows] @ query, rows, k))
        return out

    def _best(self, sims: npt.NDArray[np.float32], rows: npt.NDArray[np.int64],
              k: int) -> list[Match]:
        """The ``k`` best of ``sims`` (similarities of ``rows``), best first."""
        top = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
        top = top[np.argsort(-sims[top], kind="stable")]
        return [(int(self._row_ids[rows[j]]), float(sims[j])) for j in top]


def default_rerank(dim: int) -> int:
    """:data:`RERANK_CANDIDATES` per 512 bits of code, at least that many."""
    return RERANK_CANDIDATES * max(1, 512 // dim)


def _hamming_nearest(queries: Codes, codes: Codes, count: int) -> npt.NDArray[np.int64]:
    """Rows of the ``count`` codes nearest each query code by Hamming distance (unordered).

    faiss scans with SIMD popcounts in one pass (0.4-0.6 ms p50 at 100k x 64 bytes, with the
    re-rank; numpy's XOR, popcount and sum below took 5.7 ms, not the same run). It is told to
    use one thread on every call, because the setting is per calling thread and OpenMP threads
    spinning on a loaded 2-core machine took the p99 from 4.5 to 104 ms. Its counting variant
    (``mc``) keeps a count per distance instead of a heap of ``count`` entries: as fast at 64
    candidates, and 0.59 against 1.15 ms p50 at 1,024 (100k x 512, same run). numpy is the same
    search without faiss-cpu installed.
    """
    if _faiss is not None:
        _faiss.omp_set_num_threads(1)
        _, rows = _faiss.knn_hamming(np.ascontiguousarray(queries), codes, count,
                                     variant="mc")
        return np.asarray(rows, dtype=np.int64)
    words = codes.view(np.uint64)
    out = np.empty((len(queries), count), dtype=np.int64)
    for i, query in enumerate(queries.view(np.uint64)):
        distance = np.bitwise_count(words ^ query).sum(axis=1, dtype=np.uint16)
        out[i] = (np.argpartition(distance, count - 1)[:count] if count < len(distance)
                  else np.arange(len(distance)))
    return out


def _checked_ids(template_ids: Sequence[int], count: int) -> list[int]:
    try:
        ids = [int(t) for t in template_ids]
    except (TypeError, ValueError) as exc:
        raise IndexInputError(f"template ids must be integers: {exc}") from exc
    if len(ids) != count:
        raise IndexInputError(f"{len(ids)} ids for {count} vectors")
    if len(set(ids)) != len(ids) or any(t < 0 for t in ids):
        raise IndexInputError("template ids must be distinct non-negative integers")
    return ids


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
    a data/side-file pair from different writers fails its checksum and is rebuilt)."""
    return path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = _temp_beside(path)
    tmp.write_bytes(data)
    os.replace(tmp, path)
