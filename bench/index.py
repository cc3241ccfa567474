"""Figure ``index``: the project's watchlist index against exact numpy search, with an HNSW
graph (hnswlib, the index's previous design) measured beside it on the target case.

Workload (the same unit vectors for both): a gallery of ``N`` random unit vectors (templates of
distinct people are close to orthogonal in these spaces, so an isotropic gallery is a fair and
slightly pessimistic model) and two kinds of probe, searched one at a time as the pipeline does:

- *mated* probes: a gallery template plus noise, at cosine 0.6-0.8 to it (a live face of an
  enrolled person: genuine scores of the ONNX embedder on camera-like faces lie there). The
  target's recall@1 is measured on these: a watchlisted face must find its entry.
- *non-mated* probes: fresh random vectors (a passer-by). Their recall against exact search is
  reported beside it with no target: their best candidate is far below any threshold anyway.

The 10k index is built first and measured, then grown to 100k (one insertion order, so the
figure is the same as a single 100k build, without building twice).

At the largest 512-d size up to 100k (the target's case) two more measurements join the case:
``rerank``, the project index's binary search with more sign-code candidates re-ranked, and
``hnsw_reference``, an hnswlib graph with the parameters the index used before (M 32,
ef_construction 128) at ef 64 / 128 / 256, searched alternately with the project index, probe
by probe, so that their ratio is from the same moments.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.context import Context, Row
from bench.stats import check, fmt, ratio, skipped, summarise, targeted

F32 = npt.NDArray[np.float32]
TOP_K = 10
MODEL_ID = "bench-random"


@dataclass
class IndexUnderTest:
    """A thin adapter so the figure measures the project's index when it exists."""

    implementation: str
    params: dict[str, Any]
    add: Callable[[npt.NDArray[np.int64], F32], None]
    search: Callable[[F32, int], list[int]]
    grow: Callable[[int], None]
    capacity: Callable[[], int]
    size_bytes: Callable[[], int | None]
    """What the index allocates for its templates (the project index: vectors, sign codes
    and ids; hnswlib: its graph with the vectors and links)."""
    mode: Callable[[], str] = lambda: "hnsw"
    """Which search answered: ``exact`` (numpy, below the project index's crossover) or
    ``binary`` (sign codes, exact re-rank); ``hnsw`` for hnswlib used directly."""
    index: Any = None
    """The project's ``WatchlistIndex`` itself (for the re-rank sweep), when measured."""


def _project_index(dim: int, capacity: int) -> IndexUnderTest | None:
    """``server.recognition.index.WatchlistIndex`` when helper A's module is importable."""
    try:
        from server.recognition import index as project
    except ImportError:
        return None
    cls = getattr(project, "WatchlistIndex", None)
    if cls is None:
        return None
    idx = cls(MODEL_ID, dim, capacity=capacity)

    def add(ids: npt.NDArray[np.int64], vectors: F32) -> None:
        idx.add([int(i) for i in ids], vectors, MODEL_ID)

    def search(vector: F32, k: int) -> list[int]:
        hits = idx.search(vector[None, :], k, MODEL_ID)[0]
        return [int(h[0]) for h in hits]

    def grow(capacity: int) -> None:
        # The project index grows by itself when adding past its capacity.
        return None

    params: dict[str, Any] = {
        name: getattr(idx, name)
        for name in ("rerank", "binary_scan")
        if isinstance(getattr(idx, name, None), int | float | str)
    }
    params["exact_max_floats"] = getattr(project, "EXACT_MAX_FLOATS", None)

    def size_bytes() -> int | None:
        return int(idx.nbytes) if hasattr(idx, "nbytes") else None

    def mode() -> str:
        return str(getattr(idx, "search_mode", "?"))

    return IndexUnderTest("server.recognition.index.WatchlistIndex", params, add, search, grow,
                          lambda: int(idx.capacity), size_bytes, mode, idx)


def _direct_hnswlib(dim: int, capacity: int, threads: int) -> IndexUnderTest:
    """hnswlib used directly, with the parameters the design names (until the project index
    exists)."""
    import hnswlib

    params = {"space": "cosine", "M": 16, "ef_construction": 200, "ef": 64}
    idx = hnswlib.Index(space="cosine", dim=dim)
    idx.init_index(max_elements=capacity, ef_construction=200, M=16, random_seed=1)
    idx.set_ef(64)

    def add(ids: npt.NDArray[np.int64], vectors: F32) -> None:
        idx.set_num_threads(threads)
        idx.add_items(vectors, ids)
        idx.set_num_threads(1)

    def search(vector: F32, k: int) -> list[int]:
        labels, _ = idx.knn_query(vector, k=k)
        return [int(x) for x in labels[0]]

    def grow(capacity: int) -> None:
        idx.resize_index(capacity)

    return IndexUnderTest("hnswlib (direct: project index not importable)", params, add, search,
                          grow, lambda: int(idx.get_max_elements()),
                          lambda: int(idx.index_file_size()))


def unit_rows(rng: np.random.Generator, n: int, dim: int) -> F32:
    """``n`` random unit vectors."""
    v = rng.standard_normal((n, dim), dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def mated_probes(rng: np.random.Generator, gallery: F32, count: int) -> tuple[F32, F32]:
    """Probes at cosine 0.6-0.8 to a random gallery template; returns (probes, cosines)."""
    n, dim = gallery.shape
    picks = rng.integers(0, n, size=count)
    base = gallery[picks]
    cos = rng.uniform(0.6, 0.8, size=count).astype(np.float32)
    noise = unit_rows(rng, count, dim)
    # remove the component along the template so the cosine is exactly the one drawn
    noise -= (noise * base).sum(axis=1, keepdims=True) * base
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    probes = cos[:, None] * base + np.sqrt(1 - cos**2)[:, None] * noise
    return probes.astype(np.float32), cos


def exact_topk(gallery: F32, probes: F32, k: int) -> npt.NDArray[np.int64]:
    """Ground truth: the ``k`` most similar gallery rows of each probe, best first."""
    out = np.empty((len(probes), k), dtype=np.int64)
    for start in range(0, len(probes), 256):
        sims = probes[start:start + 256] @ gallery.T
        part = np.argpartition(-sims, k, axis=1)[:, :k]
        order = np.take_along_axis(sims, part, axis=1).argsort(axis=1)[:, ::-1]
        out[start:start + 256] = np.take_along_axis(part, order, axis=1)
    return out


def exact_search(gallery: F32, probe: F32, k: int) -> npt.NDArray[np.int64]:
    """The baseline, one probe at a time as the pipeline would: a BLAS product, then top-k."""
    sims = gallery @ probe
    part = np.argpartition(-sims, k)[:k]
    return part[np.argsort(-sims[part])]


def recall(found: list[list[int]], truth: npt.NDArray[np.int64], k: int) -> float:
    """Mean fraction of the exact top-``k`` that the index returned in its top-``k``."""
    hits = [len(set(f[:k]) & set(int(t) for t in row[:k])) / k
            for f, row in zip(found, truth, strict=True)]
    return float(np.mean(hits)) if hits else 0.0


def _rss_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / 2**20


def _measure(
    ctx: Context, iut: IndexUnderTest, gallery: F32, probes: dict[str, F32], build_s: float,
    size_bytes: int | None,
) -> dict[str, Any]:
    n, dim = gallery.shape
    result: dict[str, Any] = {"status": "ok", "templates": n, "dim": dim,
                              "build_s": round(build_s, 3),
                              "index_memory_mb": (round(size_bytes / 2**20, 1)
                                                  if size_bytes is not None else None),
                              "exact_memory_mb": round(gallery.nbytes / 2**20, 1)}
    all_probes = np.concatenate(list(probes.values()))
    index_ms: list[float] = []
    found: list[list[int]] = []
    for probe in all_probes:
        start = time.perf_counter()
        found.append(iut.search(probe, TOP_K))
        index_ms.append((time.perf_counter() - start) * 1000.0)
    truth = exact_topk(gallery, all_probes, TOP_K)
    exact_ms: list[float] = []
    exact_count = min(len(all_probes), ctx.cfg.exact_queries)
    for probe in all_probes[:exact_count]:
        start = time.perf_counter()
        exact_search(gallery, probe, TOP_K)
        exact_ms.append((time.perf_counter() - start) * 1000.0)
    q_index = summarise(index_ms)
    q_exact = summarise(exact_ms)
    result["query_ms"] = q_index
    result["exact_query_ms"] = q_exact
    result["speedup_median"] = ratio(q_exact["median"], q_index["median"], 1)
    result["speedup_p99"] = ratio(q_exact["p99"], q_index["p99"], 1)
    result.update(_recalls(found, truth, probes))
    result["probes"] = {kind: len(block) for kind, block in probes.items()}
    return result


HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EFS = 32, 128, (64, 128, 256)
"""The graph the project index used before (M 32 / ef_construction 128 / ef 256), with two
smaller search breadths."""
RERANK_SWEEP = (64, 256, 1024)


def _recalls(found: list[list[int]], truth: npt.NDArray[np.int64],
             probes: dict[str, F32]) -> dict[str, float]:
    out: dict[str, float] = {}
    offset = 0
    for kind, block in probes.items():
        part = slice(offset, offset + len(block))
        offset += len(block)
        out[f"recall_at_1_{kind}"] = round(recall(found[part], truth[part], 1), 4)
        out[f"recall_at_10_{kind}"] = round(recall(found[part], truth[part], 10), 4)
    return out


def rerank_sweep(ctx: Context, iut: IndexUnderTest, gallery: F32,
                 probes: dict[str, F32]) -> dict[str, Any]:
    """The project index's binary search with more candidates re-ranked: recall against
    time (the index's default is the first row)."""
    idx = iut.index
    if idx is None or not hasattr(idx, "rerank") or iut.mode() != "binary":
        return skipped("the project index does not answer with its binary search here")
    all_probes = np.concatenate(list(probes.values()))
    truth = exact_topk(gallery, all_probes, TOP_K)
    default = idx.rerank
    out: dict[str, Any] = {"status": "ok", "default": default, "points": []}
    try:
        for rerank in RERANK_SWEEP:
            ctx.log(f"index: re-rank sweep, {rerank} candidates")
            idx.rerank = rerank
            timings: list[float] = []
            found: list[list[int]] = []
            for probe in all_probes:
                start = time.perf_counter()
                found.append(iut.search(probe, TOP_K))
                timings.append((time.perf_counter() - start) * 1000.0)
            out["points"].append({"rerank": rerank, "query_ms": summarise(timings),
                                  **_recalls(found, truth, probes)})
    finally:
        idx.rerank = default
    return out


def hnsw_reference(ctx: Context, iut: IndexUnderTest, gallery: F32,
                   probes: dict[str, F32]) -> dict[str, Any]:
    """hnswlib (:data:`HNSW_M`, :data:`HNSW_EF_CONSTRUCTION`, :data:`HNSW_EFS`) on the same
    gallery and probes, each ef searched alternately with the project index (one probe each,
    in turn), one search thread."""
    import hnswlib

    n, dim = gallery.shape
    ctx.log(f"index: HNSW reference, building {n:,} x {dim} "
            f"(M {HNSW_M}, ef_construction {HNSW_EF_CONSTRUCTION}, "
            f"{ctx.cfg.threads} threads)")
    graph = hnswlib.Index(space="cosine", dim=dim)
    graph.init_index(max_elements=n, M=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION,
                     random_seed=100)
    start = time.perf_counter()
    graph.add_items(gallery, np.arange(n, dtype=np.int64), num_threads=ctx.cfg.threads)
    build_s = time.perf_counter() - start
    all_probes = np.concatenate(list(probes.values()))
    truth = exact_topk(gallery, all_probes, TOP_K)
    out: dict[str, Any] = {"status": "ok", "M": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION,
                           "build_s": round(build_s, 1), "build_threads": ctx.cfg.threads,
                           "index_memory_mb": round(graph.index_file_size() / 2**20, 1),
                           "points": []}
    for ef in HNSW_EFS:
        ctx.log(f"index: HNSW reference, ef {ef}")
        graph.set_ef(ef)
        hnsw_ms: list[float] = []
        ours_ms: list[float] = []
        found: list[list[int]] = []
        for probe in all_probes:
            start = time.perf_counter()
            labels, _ = graph.knn_query(probe[None, :], k=TOP_K, num_threads=1)
            hnsw_ms.append((time.perf_counter() - start) * 1000.0)
            found.append([int(x) for x in labels[0]])
            start = time.perf_counter()
            iut.search(probe, TOP_K)
            ours_ms.append((time.perf_counter() - start) * 1000.0)
        h, o = summarise(hnsw_ms), summarise(ours_ms)
        out["points"].append({"ef": ef, "query_ms": h, "project_query_ms": o,
                              "hnsw_over_project_median": ratio(h["median"], o["median"], 1),
                              "hnsw_over_project_p99": ratio(h["p99"], o["p99"], 1),
                              **_recalls(found, truth, probes)})
    del graph
    gc.collect()
    return out


CROSSOVER_SIZES = {128: (1_000, 2_000, 4_000, 8_000, 16_000, 32_000),
                   512: (500, 1_000, 2_000, 4_000, 8_000, 16_000)}
"""Gallery sizes of the exact-vs-binary sweep, around the project's limit at each dimension."""
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""The sweep's environment: numpy's BLAS on one thread, as the sign-code scan. With BLAS's
default thread per core, a matrix-vector product on a loaded 2-core machine spends its time
handing work between threads: at load ~12 the exact search of 4,000 x 128 took 19 ms median
against 0.19 ms on one thread, which compares thread hand-offs, not the two searches."""


def crossover_in_child(ctx: Context) -> dict[str, Any]:
    """:func:`crossover` in a child process whose BLAS runs on one thread (see
    :data:`ONE_THREAD`: the thread count is fixed when numpy loads)."""
    import json
    import os
    import subprocess
    import sys

    ctx.log("index: exact-vs-binary crossover sweep (child process, BLAS on one thread)")
    done = subprocess.run(
        [sys.executable, "-m", "bench.index", "--crossover", ctx.cfg.mode],
        capture_output=True, text=True, env={**os.environ, **ONE_THREAD}, timeout=1800,
        cwd=Path(__file__).resolve().parents[1], check=False)
    if done.returncode != 0:
        raise RuntimeError(f"crossover sweep failed: {done.stderr[-500:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    result["blas_threads"] = 1
    return result


def crossover(ctx: Context, rng: np.random.Generator) -> dict[str, Any]:
    """Exact search against the binary (sign-code) search of the project index, to place the
    exact-search limit (``server.recognition.index.EXACT_MAX_FLOATS``).

    One index per dimension, grown through the sizes; at each, the same mated probes are
    searched one at a time through ``WatchlistIndex.search`` with the limit moved below and
    above the size, the two searches alternating probe by probe (so both see the same load).
    The figure is the ratio of the medians, exact over binary: above 1 the binary search is
    faster.
    """
    try:
        from server.recognition import index as project
    except ImportError:
        return skipped("the project index is not importable")
    if not hasattr(project, "RERANK_CANDIDATES"):
        return skipped("the project index has no binary search")
    out: dict[str, Any] = {"status": "ok", "limit_floats": project.EXACT_MAX_FLOATS,
                           "method": "same probes, exact and binary alternating per probe, "
                                     "k=10, 1 search thread, project defaults (re-rank "
                                     f"{project.RERANK_CANDIDATES})"}
    probes_per_size = max(100, ctx.cfg.index_queries // 5)
    for dim, all_sizes in CROSSOVER_SIZES.items():
        sizes = [n for n in all_sizes if n <= ctx.cfg.index_max]  # --quick: up to 10k
        gallery = unit_rows(rng, sizes[-1], dim)
        idx = project.WatchlistIndex(MODEL_ID, dim, capacity=sizes[-1])
        built = 0
        points: list[dict[str, Any]] = []
        for size in sizes:
            ctx.log(f"index: crossover {dim}-d at {size:,} templates")
            idx.add(list(range(built, size)), gallery[built:size], MODEL_ID)
            built = size
            probes, _ = mated_probes(rng, gallery[:size], probes_per_size)
            truth = exact_topk(gallery[:size], probes, 1)
            timings: dict[str, list[float]] = {"exact": [], "binary": []}
            found: list[list[int]] = []
            for _mode, limit in (("exact", 1 << 62), ("binary", 0)):  # warm both paths
                idx.exact_max_floats = limit
                idx.search(probes[0][None, :], TOP_K, MODEL_ID)
            for probe in probes:
                for mode, limit in (("exact", 1 << 62), ("binary", 0)):
                    idx.exact_max_floats = limit
                    start = time.perf_counter()
                    hits = idx.search(probe[None, :], TOP_K, MODEL_ID)[0]
                    timings[mode].append((time.perf_counter() - start) * 1000.0)
                    if mode == "binary":
                        found.append([int(h[0]) for h in hits])
            exact_ms, binary_ms = summarise(timings["exact"]), summarise(timings["binary"])
            points.append({"templates": size, "floats": size * dim,
                           "exact_ms": exact_ms, "binary_ms": binary_ms,
                           "exact_over_binary_median": ratio(exact_ms["median"],
                                                             binary_ms["median"]),
                           "binary_recall_at_1_mated": round(recall(found, truth, 1), 4),
                           "search_at_limit": ("exact" if size * dim
                                               <= project.EXACT_MAX_FLOATS else "binary")})
        faster = [p["templates"] for p in points if (p["exact_over_binary_median"] or 0) > 1.0]
        out[f"{dim}"] = {"points": points,
                         "binary_faster_from": min(faster) if faster else None}
        del idx, gallery
        gc.collect()
    return out


def run(ctx: Context) -> dict[str, Any]:
    """Build and query the index at each size and dimension of the mode."""
    rng = np.random.default_rng(7)
    cases: dict[str, Any] = {}
    implementation = ""
    params: dict[str, Any] = {}
    for dim in (128, 512):
        sizes = [10_000, 100_000, 1_000_000]
        wanted = [s for s in sizes if s <= ctx.cfg.index_max]
        for size in sizes:
            if size not in wanted:
                reason = ("only with --full" if size == 1_000_000
                          else "not in --quick (10k only)")
                cases[f"{dim}x{size}"] = skipped(reason, templates=size, dim=dim)
        if not wanted:
            continue
        gallery_all = unit_rows(rng, wanted[-1], dim)
        gc.collect()
        before = _rss_mb()
        iut = _project_index(dim, wanted[0]) or _direct_hnswlib(dim, wanted[0], ctx.cfg.threads)
        implementation, params = iut.implementation, iut.params
        built = 0
        build_s = 0.0
        for size in wanted:
            ctx.log(f"index: {dim}-d, building to {size:,} templates")
            iut.grow(size)
            start = time.perf_counter()
            iut.add(np.arange(built, size, dtype=np.int64), gallery_all[built:size])
            build_s += time.perf_counter() - start
            built = size
            gallery = gallery_all[:size]
            probes = {
                "mated": mated_probes(rng, gallery, ctx.cfg.index_queries)[0],
                "non_mated": unit_rows(rng, ctx.cfg.index_queries // 2, dim),
            }
            rss_growth = _rss_mb() - before
            case = _measure(ctx, iut, gallery, probes, build_s, iut.size_bytes())
            case["capacity"] = iut.capacity()
            case["search"] = iut.mode()
            # RSS growth is noisy (memory freed by the previous dimension is reused); the
            # graph's own size is the figure, RSS growth is kept as a cross-check
            case["rss_growth_mb"] = round(rss_growth, 1)
            if dim == 512 and size == max(x for x in wanted if x <= 100_000):
                case["rerank"] = rerank_sweep(ctx, iut, gallery, probes)
                case["hnsw_reference"] = hnsw_reference(ctx, iut, gallery, probes)
            if (dim, size) == (512, 100_000):
                case.update(targeted(
                    "query p99 <= 2 ms at recall@1 >= 0.99 (mated probes)",
                    [check("query_ms.p99", case["query_ms"]["p99"], "<=", 2.0, "ms"),
                     check("recall_at_1_mated", case["recall_at_1_mated"], ">=", 0.99)],
                ))
            cases[f"{dim}x{size}"] = case
            ctx.remember(f"index_memory_mb_{dim}x{size}", case["index_memory_mb"])
        del iut, gallery_all
        gc.collect()
    cases = dict(sorted(cases.items(), key=lambda kv: (kv[1]["dim"], kv[1]["templates"])))
    return {"status": "ok", "implementation": implementation, "params": params,
            "crossover": crossover_in_child(ctx),
            "workload": "random unit gallery; mated probes at cosine 0.6-0.8 to one template, "
                        "non-mated random probes; single-probe queries, k=10, 1 search thread",
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
            "cases": cases}


def rows(result: dict[str, Any]) -> list[Row]:
    """Markdown rows: one per measured case, then one per crossover point."""
    out: list[Row] = []
    for name, case in result.get("cases", {}).items():
        if case.get("status") != "ok":
            out.append(Row("index", name, case.get("status", "?"), note=case.get("reason", "")))
            continue
        q, e = case["query_ms"], case["exact_query_ms"]
        out.append(Row("index", name, "query ms (index | exact)", q["median"], q["p99"],
                       baseline=f'{fmt(e["median"])} / {fmt(e["p99"])}',
                       ratio=case["speedup_p99"],
                       target=case.get("target", ""), met=case.get("met"),
                       note=f'{case.get("search", "?")} search; '
                            f'recall@1 {case["recall_at_1_mated"]} mated / '
                            f'{case["recall_at_1_non_mated"]} non-mated, '
                            f'@10 {case["recall_at_10_mated"]}; build {fmt(case["build_s"])} s; '
                            f'{case["index_memory_mb"]} MB (capacity {case["capacity"]:,})'))
        for point in case.get("rerank", {}).get("points", []):
            q = point["query_ms"]
            out.append(Row("index", f"{name} re-rank {point['rerank']}", "query ms",
                           q["median"], q["p99"],
                           note=f'binary search, {point["rerank"]} candidates: recall@1 '
                                f'{point["recall_at_1_mated"]} mated / '
                                f'{point["recall_at_1_non_mated"]} non-mated, @10 '
                                f'{point["recall_at_10_mated"]} / '
                                f'{point["recall_at_10_non_mated"]}'))
        ref = case.get("hnsw_reference", {})
        for point in ref.get("points", []):
            h, o = point["query_ms"], point["project_query_ms"]
            out.append(Row("index", f"{name} HNSW ef {point['ef']}", "query ms (HNSW | index)",
                           h["median"], h["p99"],
                           baseline=f'{fmt(o["median"])} / {fmt(o["p99"])}',
                           ratio=point["hnsw_over_project_p99"],
                           note=f'hnswlib M {ref["M"]} / ef_construction '
                                f'{ref["ef_construction"]}: recall@1 '
                                f'{point["recall_at_1_mated"]} mated / '
                                f'{point["recall_at_1_non_mated"]} non-mated, @10 '
                                f'{point["recall_at_10_mated"]}; build {fmt(ref["build_s"])} s '
                                f'({ref["build_threads"]} threads); {ref["index_memory_mb"]} MB'))
    cross = result.get("crossover", {})
    for dim in CROSSOVER_SIZES:
        for point in cross.get(str(dim), {}).get("points", []):
            e, b = point["exact_ms"], point["binary_ms"]
            out.append(Row("index", f"crossover {dim}x{point['templates']}",
                           "query ms (binary | exact)", b["median"], b["p99"],
                           baseline=f'{fmt(e["median"])} / {fmt(e["p99"])}',
                           ratio=point["exact_over_binary_median"],
                           note=f"exact/binary medians; limit {cross['limit_floats']:,} floats "
                                f"-> {point['search_at_limit']} here; binary recall@1 "
                                f"{point['binary_recall_at_1_mated']}"))
    return out


if __name__ == "__main__":
    # ``python -m bench.index --crossover MODE``: the sweep alone, as JSON on stdout (progress
    # on stderr); :func:`crossover_in_child` runs it with BLAS on one thread.
    import json
    import sys

    from bench.context import CONFIGS

    if len(sys.argv) != 3 or sys.argv[1] != "--crossover" or sys.argv[2] not in CONFIGS:
        sys.exit(f"usage: python -m bench.index --crossover {{{','.join(CONFIGS)}}}")
    mode = sys.argv[2]
    print(json.dumps(crossover(Context(CONFIGS[mode]), np.random.default_rng(11))))  # type: ignore[index]
