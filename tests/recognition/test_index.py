"""WatchlistIndex: add, remove, search (exact and binary), save/load, rebuild, staleness,
growth, concurrency."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from server.errors import ModelMismatch
from server.recognition import index as index_module
from server.recognition.engine import normalise_rows
from server.recognition.index import (
    FORMAT_VERSION,
    IndexInputError,
    StaleIndex,
    WatchlistIndex,
)
from server.recognition.rwlock import ReadWriteLock

DIM = 32
MODEL = "test-model"


def _vectors(n: int, seed: int = 0) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    return normalise_rows(rng.standard_normal((n, DIM)))


def _near(v: npt.NDArray[np.float32], noise: float = 0.2, seed: int = 1) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    return normalise_rows(v + rng.standard_normal(v.shape) * noise / np.sqrt(DIM))


def _top1(index: WatchlistIndex, queries: npt.NDArray[np.float32]) -> list[int]:
    return [hits[0][0] for hits in index.search(queries, 1, MODEL)]


def test_add_and_search_returns_ids_and_cosine_similarity() -> None:
    v = _vectors(50)
    index = WatchlistIndex(MODEL, DIM)
    index.add(list(range(100, 150)), v, MODEL)
    assert len(index) == 50
    hits = index.search(v[7], k=3, model_id=MODEL)
    assert len(hits) == 1
    assert hits[0][0][0] == 107
    assert hits[0][0][1] == pytest.approx(1.0, abs=1e-5)
    assert hits[0][1][1] == pytest.approx(float(v[7] @ v[hits[0][1][0] - 100]), abs=1e-5)
    assert _top1(index, _near(v)) == list(range(100, 150))


def test_search_of_empty_index_and_k_beyond_size() -> None:
    index = WatchlistIndex(MODEL, DIM)
    assert index.search(_vectors(2), 5, MODEL) == [[], []]
    index.add([1, 2], _vectors(2), MODEL)
    assert [len(h) for h in index.search(_vectors(3, seed=5), 10, MODEL)] == [2, 2, 2]


def test_remove_hides_templates_and_re_add_revives() -> None:
    v = _vectors(20)
    index = WatchlistIndex(MODEL, DIM)
    index.add(list(range(20)), v, MODEL)
    assert index.remove(3)
    assert not index.remove(3)
    assert 3 not in index
    assert all(t != 3 for t, _ in index.search(v[3], 20, MODEL)[0])
    index.add([3], v[3], MODEL)
    assert 3 in index
    assert index.search(v[3], 1, MODEL)[0][0][0] == 3


@pytest.mark.parametrize("exact_max_floats", [None, 0], ids=["exact", "binary"])
def test_many_removals_keep_the_rest(exact_max_floats: int | None) -> None:
    """Removal moves the last row into the hole: every remaining id keeps its own vector."""
    n = 200
    v = _vectors(n)
    index = WatchlistIndex(MODEL, DIM, exact_max_floats=exact_max_floats)
    index.add(list(range(n)), v, MODEL)
    assert index.remove_many([*range(0, n, 3), 10_000]) == len(range(0, n, 3))
    keep = [i for i in range(n) if i % 3]
    assert len(index) == len(keep)
    assert index.ids() == keep
    assert _top1(index, v[keep]) == keep
    gone = index.search(v[::3], 5, MODEL)
    assert all(t % 3 for row in gone for t, _ in row)


def test_growth_beyond_initial_capacity() -> None:
    v = _vectors(300)
    index = WatchlistIndex(MODEL, DIM, capacity=16)
    for start in range(0, 300, 30):
        index.add(list(range(start, start + 30)), v[start : start + 30], MODEL)
    assert len(index) == 300
    assert index.capacity >= 300
    assert _top1(index, v) == list(range(300))


def test_wrong_model_and_dimension_are_refused() -> None:
    index = WatchlistIndex(MODEL, DIM)
    with pytest.raises(ModelMismatch) as info:
        index.add([1], _vectors(1), "other-model")
    assert info.value.code == "model_mismatch"
    with pytest.raises(ModelMismatch):
        index.add([1], np.ones((1, DIM + 1), dtype=np.float32), MODEL)
    with pytest.raises(ModelMismatch):
        index.search(np.ones(DIM - 1), 1, MODEL)
    with pytest.raises(ModelMismatch):
        index.search(_vectors(1), 1, "other-model")
    assert len(index) == 0


def test_bad_input_is_refused() -> None:
    index = WatchlistIndex(MODEL, DIM)
    with pytest.raises(IndexInputError):
        index.add([1, 2], _vectors(1), MODEL)
    with pytest.raises(IndexInputError):
        index.add([1, 1], _vectors(2), MODEL)
    with pytest.raises(IndexInputError):
        index.add([-1], _vectors(1), MODEL)
    bad = _vectors(1)
    bad[0, 0] = np.nan
    with pytest.raises(IndexInputError):
        index.add([1], bad, MODEL)
    with pytest.raises(IndexInputError):
        index.search(_vectors(1), 0, MODEL)
    with pytest.raises(IndexInputError):
        index.add(["not-a-number"], _vectors(1), MODEL)  # type: ignore[list-item]
    with pytest.raises(IndexInputError):
        index.search([["x"] * DIM], 1, MODEL)
    with pytest.raises(IndexInputError):
        WatchlistIndex(MODEL, DIM, rerank=0)
    with pytest.raises(IndexInputError):
        WatchlistIndex(MODEL, 0)
    assert len(index) == 0
    assert index_module.default_rerank(512) == 64
    assert index_module.default_rerank(128) == 256  # shorter codes: more candidates


def test_save_load_round_trip(tmp_path: Path) -> None:
    v = _vectors(40)
    path = tmp_path / "wl" / "index.bin"
    index = WatchlistIndex(MODEL, DIM, path, version="v1")
    index.add(list(range(40)), v, MODEL)
    index.remove(5)
    index.save()
    loaded = WatchlistIndex.load(path, MODEL, DIM, version="v1")
    assert loaded.ids() == [i for i in range(40) if i != 5]
    assert _top1(loaded, v[:5]) == [0, 1, 2, 3, 4]
    with pytest.raises(ModelMismatch):
        WatchlistIndex.load(path, "other-model", DIM)
    with pytest.raises(StaleIndex):
        WatchlistIndex.load(path, MODEL, DIM, version="v2")


def test_open_rebuilds_when_missing_stale_or_tampered(tmp_path: Path) -> None:
    v = _vectors(30)
    path = tmp_path / "index.bin"
    calls: list[str] = []

    def templates(ids: list[int]) -> tuple[list[int], npt.NDArray[np.float32]]:
        calls.append("rebuild")
        return ids, v[ids]

    first = WatchlistIndex.open(path, MODEL, DIM, "v1", lambda: templates(list(range(30))))
    assert calls == ["rebuild"]
    assert len(first) == 30
    assert path.is_file()
    again = WatchlistIndex.open(path, MODEL, DIM, "v1", lambda: templates([]))
    assert calls == ["rebuild"]  # current: loaded, not rebuilt
    assert len(again) == 30
    # a new version of the watchlist (an entry removed) makes the file stale
    newer = WatchlistIndex.open(path, MODEL, DIM, "v2", lambda: templates(list(range(29))))
    assert calls == ["rebuild"] * 2
    assert len(newer) == 29
    # a damaged file is rebuilt, never trusted
    path.write_bytes(path.read_bytes()[:100])
    fixed = WatchlistIndex.open(path, MODEL, DIM, "v2", lambda: templates(list(range(29))))
    assert calls == ["rebuild"] * 3
    assert _top1(fixed, v[:29]) == list(range(29))
    # a missing side file too
    WatchlistIndex.meta_path(path).unlink()
    WatchlistIndex.open(path, MODEL, DIM, "v2", lambda: templates(list(range(29))))
    assert calls == ["rebuild"] * 4


@pytest.mark.parametrize("exact_max_floats", [None, 0], ids=["exact", "binary"])
def test_concurrent_searches_while_adding_and_removing(exact_max_floats: int | None) -> None:
    v = _vectors(600, seed=2)
    stable = list(range(100))
    index = WatchlistIndex(MODEL, DIM, capacity=64, exact_max_floats=exact_max_floats)
    index.add(stable, v[:100], MODEL)
    queries = _near(v[:100], seed=9)
    errors: list[BaseException] = []
    wrong: list[int] = []
    done = threading.Event()

    def searcher() -> None:
        try:
            while not done.is_set():
                top = _top1(index, queries)
                wrong.extend(i for i, t in enumerate(top) if t != i)
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)

    def writer() -> None:
        try:
            for start in range(100, 600, 50):  # grows past capacity, removes, re-adds
                ids = list(range(start, start + 50))
                index.add(ids, v[start : start + 50], MODEL)
                index.remove_many(ids[:40])
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    threads = [threading.Thread(target=searcher) for _ in range(3)]
    threads.append(threading.Thread(target=writer))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert wrong == []  # the stable templates were always found
    assert len(index) == 100 + 10 * 10


def test_readers_share_the_lock_and_a_writer_excludes_them() -> None:
    lock = ReadWriteLock()
    first_in, release_first, second_in = threading.Event(), threading.Event(), threading.Event()

    def reader(entered: threading.Event, hold: threading.Event | None) -> None:
        with lock.read():
            entered.set()
            if hold is not None:
                hold.wait(30)

    r1 = threading.Thread(target=reader, args=(first_in, release_first))
    r1.start()
    assert first_in.wait(30)
    r2 = threading.Thread(target=reader, args=(second_in, None))
    r2.start()
    assert second_in.wait(30)  # a second reader enters while the first still holds it
    writer_in = threading.Event()

    def writer() -> None:
        with lock.write():
            writer_in.set()

    w = threading.Thread(target=writer)
    w.start()
    assert not writer_in.wait(0.2)  # blocked by the first reader
    release_first.set()
    assert writer_in.wait(30)
    for t in (r1, r2, w):
        t.join(30)


def test_small_index_searches_exactly_and_agrees_with_the_binary_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Below the crossover the search is an exact product; forcing the binary search on the
    same templates finds the same best matches with the same similarities."""
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((300, 128)).astype(np.float32)
    idx = WatchlistIndex("m", 128)
    idx.add(list(range(300)), vectors, "m")
    idx.remove(7)
    assert idx.search_mode == "exact"
    probes = vectors[[3, 7, 150]] + 0.05 * rng.standard_normal((3, 128)).astype(np.float32)
    exact = idx.search(probes, k=3, model_id="m")
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    q = probes / np.linalg.norm(probes, axis=1, keepdims=True)
    sims = q @ unit.T
    sims[:, 7] = -2.0  # removed
    for row, found in zip(sims, exact, strict=True):
        assert [t for t, _ in found] == [int(j) for j in np.argsort(-row)[:3]]
        assert [s for _, s in found] == pytest.approx([float(row[t]) for t, _ in found],
                                                       abs=1e-5)
    monkeypatch.setattr(index_module, "EXACT_MAX_FLOATS", 0)
    assert idx.search_mode == "binary"
    binary = idx.search(probes, k=3, model_id="m")
    assert [r[0][0] for r in binary] == [r[0][0] for r in exact]
    assert [r[0][1] for r in binary] == pytest.approx([r[0][1] for r in exact], abs=1e-5)


def _mated(gallery: npt.NDArray[np.float32], count: int,
           seed: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Probes at cosine 0.6-0.8 to a random gallery row (as the bench's mated probes)."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(gallery), size=count)
    base = gallery[picks]
    noise = rng.standard_normal(base.shape).astype(np.float32)
    noise -= (noise * base).sum(axis=1, keepdims=True) * base
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    cos = rng.uniform(0.6, 0.8, size=(count, 1)).astype(np.float32)
    return (cos * base + np.sqrt(1 - cos**2) * noise).astype(np.float32), picks


@pytest.mark.parametrize("scan", ["faiss", "numpy"])
def test_binary_search_recall_against_exact(scan: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """On 5,000 random 256-d templates the sign-code search finds, for every mated probe, the
    exact best template with its exact similarity, with faiss's scan and numpy's alike."""
    if scan == "numpy":
        monkeypatch.setattr(index_module, "_faiss", None)
    elif index_module._faiss is None:
        pytest.skip("faiss-cpu is not installed in this environment")
    dim = 256
    gallery = normalise_rows(np.random.default_rng(11).standard_normal((5000, dim)))
    probes, picks = _mated(gallery, 200, seed=12)
    idx = WatchlistIndex(MODEL, dim, exact_max_floats=0)
    idx.add(list(range(5000)), gallery, MODEL)
    assert (idx.search_mode, idx.binary_scan) == ("binary", scan)
    found = idx.search(probes, k=1, model_id=MODEL)
    exact = probes @ gallery.T
    assert [row[0][0] for row in found] == np.argmax(exact, axis=1).tolist() == picks.tolist()
    assert [row[0][1] for row in found] == pytest.approx(np.max(exact, axis=1).tolist(),
                                                          abs=1e-5)


def test_faiss_and_numpy_scans_pick_codes_at_the_same_distances() -> None:
    if index_module._faiss is None:
        pytest.skip("faiss-cpu is not installed in this environment")
    rng = np.random.default_rng(13)
    codes = rng.integers(0, 256, size=(3000, 64), dtype=np.uint8)
    queries = rng.integers(0, 256, size=(4, 64), dtype=np.uint8)
    faiss_rows = index_module._hamming_nearest(queries, codes, 50)
    saved = index_module._faiss
    try:
        index_module._faiss = None
        numpy_rows = index_module._hamming_nearest(queries, codes, 50)
    finally:
        index_module._faiss = saved
    bits = np.unpackbits(codes, axis=1)
    for q, a, b in zip(np.unpackbits(queries, axis=1), faiss_rows, numpy_rows, strict=True):
        distance = (bits != q).sum(axis=1)
        # ties at the cut may pick different rows; the distances picked are the same, the least
        assert sorted(distance[a]) == sorted(distance[b]) == sorted(distance)[:50]


def test_binary_search_on_a_narrow_cone_of_templates() -> None:
    """Embeddings such as dlib's lie in a narrow cone (cosine ~0.9 and more between strangers): the
    codes are taken around the templates' mean, so the sign bits still separate them."""
    rng = np.random.default_rng(21)
    dim = 128
    common = normalise_rows(rng.standard_normal((1, dim)))
    spread = normalise_rows(rng.standard_normal((3000, dim)))
    gallery = normalise_rows(common * 5.0 + spread)
    assert float(np.median(gallery[:200] @ gallery[200:400].T)) > 0.95  # raw signs: 70 of 100
    probes = normalise_rows(gallery[:100] + 0.2 / np.sqrt(dim) * rng.standard_normal((100, dim)))
    idx = WatchlistIndex(MODEL, dim, exact_max_floats=0, rerank=16)
    for start in range(0, 3000, 7):  # grown a few templates at a time, as a watchlist is
        idx.add(list(range(start, min(start + 7, 3000))), gallery[start : start + 7], MODEL)
    assert np.argmax(probes @ gallery.T, axis=1).tolist() == list(range(100))
    assert _top1(idx, probes) == list(range(100))


def test_binary_search_respects_removals_and_survives_a_round_trip(tmp_path: Path) -> None:
    dim = 256
    gallery = normalise_rows(np.random.default_rng(31).standard_normal((3000, dim)))
    probes, picks = _mated(gallery, 100, seed=32)
    path = tmp_path / "index.bin"
    idx = WatchlistIndex(MODEL, dim, path, version="v1", exact_max_floats=0)
    idx.add(list(range(3000)), gallery, MODEL)
    removed = sorted(set(picks[:30].tolist()))
    idx.remove_many(removed)
    found = idx.search(probes, k=3, model_id=MODEL)
    assert all(t not in removed for row in found for t, _ in row)
    kept = [i for i, p in enumerate(picks) if p not in removed]
    assert [found[i][0][0] for i in kept] == picks[kept].tolist()
    idx.save()
    loaded = WatchlistIndex.load(path, MODEL, dim, version="v1")
    loaded.exact_max_floats = 0
    assert loaded.ids() == idx.ids()
    # (the probes whose template was removed have no close template: their best
    # candidates are strangers that sign codes rank loosely, so only the others compare)
    again = loaded.search(probes[kept], k=1, model_id=MODEL)
    assert [row[0][0] for row in again] == picks[kept].tolist()
    assert [row[0][1] for row in again] == pytest.approx([found[i][0][1] for i in kept])


def test_old_format_or_malformed_files_are_rebuilt(tmp_path: Path) -> None:
    """A format-1 (hnswlib) file, or a data file whose arrays are wrong though its checksum
    matches, is stale: ``open`` rebuilds from the store."""
    import hashlib
    import json

    v = _vectors(20)
    path = tmp_path / "index.bin"
    WatchlistIndex.open(path, MODEL, DIM, "v1", lambda: (list(range(20)), v))
    meta_path = WatchlistIndex.meta_path(path)
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "format": 1}))
    with pytest.raises(StaleIndex):
        WatchlistIndex.load(path, MODEL, DIM, version="v1")
    with open(path, "wb") as fh:  # well-formed npz, wrong content, matching checksum
        np.savez(fh, ids=np.arange(20, dtype=np.int64), vectors=np.zeros((20, DIM + 1)))
    meta_path.write_text(json.dumps({**meta, "format": FORMAT_VERSION,
                                     "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}))
    with pytest.raises(StaleIndex):
        WatchlistIndex.load(path, MODEL, DIM, version="v1")
    with open(path, "wb") as fh:  # repeated ids
        np.savez(fh, ids=np.zeros(20, dtype=np.int64), vectors=v)
    meta_path.write_text(json.dumps({**meta, "format": FORMAT_VERSION,
                                     "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}))
    with pytest.raises(StaleIndex):
        WatchlistIndex.load(path, MODEL, DIM, version="v1")
    fixed = WatchlistIndex.open(path, MODEL, DIM, "v1", lambda: (list(range(20)), v))
    assert _top1(fixed, v) == list(range(20))
    assert WatchlistIndex.load(path, MODEL, DIM, version="v1").ids() == list(range(20))
