"""WatchlistIndex: add, remove, search, save/load, rebuild, staleness, growth, concurrency."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from server.errors import ModelMismatch
from server.recognition.engine import normalise_rows
from server.recognition.index import (
    REBUILD_MIN_DELETED,
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
    assert index.deleted == 1
    assert all(t != 3 for t, _ in index.search(v[3], 20, MODEL)[0])
    index.add([3], v[3], MODEL)
    assert 3 in index
    assert index.search(v[3], 1, MODEL)[0][0][0] == 3


def test_many_removals_trigger_a_rebuild_that_keeps_the_rest() -> None:
    n = REBUILD_MIN_DELETED * 3
    v = _vectors(n)
    index = WatchlistIndex(MODEL, DIM)
    index.add(list(range(n)), v, MODEL)
    index.remove_many(range(REBUILD_MIN_DELETED + 1))
    assert index.deleted == 0  # compacted
    assert len(index) == n - REBUILD_MIN_DELETED - 1
    keep = np.arange(REBUILD_MIN_DELETED + 1, n)
    assert _top1(index, v[keep]) == keep.tolist()


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


def test_save_load_round_trip(tmp_path: Path) -> None:
    v = _vectors(40)
    path = tmp_path / "wl" / "index.bin"
    index = WatchlistIndex(MODEL, DIM, path, version="v1")
    index.add(list(range(40)), v, MODEL)
    index.remove(5)
    index.save()
    loaded = WatchlistIndex.load(path, MODEL, DIM, version="v1")
    assert loaded.ids() == [i for i in range(40) if i != 5]
    assert loaded.deleted == 1
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


def test_concurrent_searches_while_adding_and_removing() -> None:
    v = _vectors(600, seed=2)
    stable = list(range(100))
    index = WatchlistIndex(MODEL, DIM, capacity=64)
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


def test_small_index_searches_exactly_and_agrees_with_the_graph(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Below the crossover the search is an exact product; forcing the HNSW walk on the same
    templates finds the same best matches with the same similarities."""
    from server.recognition import index as module

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
    monkeypatch.setattr(module, "EXACT_MAX_FLOATS", 0)
    assert idx.search_mode == "hnsw"
    graph = idx.search(probes, k=3, model_id="m")
    assert [r[0][0] for r in graph] == [r[0][0] for r in exact]
    assert [r[0][1] for r in graph] == pytest.approx([r[0][1] for r in exact], abs=1e-5)


def test_build_uses_every_core_by_default_and_finds_the_same_matches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Inserting with several threads (the default: every core) builds a graph that finds
    the same best matches as a one-thread build."""
    import os

    from server.recognition import index as module

    monkeypatch.setattr(module, "EXACT_MAX_FLOATS", 0)  # search the graph, not the product
    vectors = _vectors(2000, seed=3)
    probes = _near(vectors[::50], seed=4)
    assert WatchlistIndex(MODEL, DIM).build_threads == (os.cpu_count() or 1)
    found = []
    for threads in (1, 4):
        idx = WatchlistIndex(MODEL, DIM, build_threads=threads)
        assert idx.build_threads == threads
        idx.rebuild(list(range(2000)), vectors)
        found.append(_top1(idx, probes))
    assert found[0] == found[1] == list(range(0, 2000, 50))
