"""Figure ``onnx_sessions``: ONNX engine frames/s per session configuration, same run.

Each configuration starts ``workers`` processes (as the server's ``ProcessEngine`` does),
each loading the installed pack with that configuration's ``SessionTuning`` and intra-op
threads; every worker warms up on one frame, all start together, and each runs the same
JPEG frames (1280x720, 5 composed faces) through the server's per-frame path
(``find_faces``: decode, detect from ``min_face_px`` up, quality gate, embed). Throughput is
all frames over the wall time from the first start to the last finish, so it counts what the
workers cost each other on the shared cores; CPU ms per frame (process CPU time, summed over
the workers) is reported beside it. On a machine loaded by other work the wall figure mostly
measures the share of the CPU the configuration's threads win, so compare CPU per frame there.

The baseline is the configuration the server uses by default (``SessionTuning()`` with
``default_threads(workers)`` threads in ``Settings.workers`` processes); every other
configuration's ratio is its frames/s over the baseline's. Every configuration runs once per
round (two rounds outside ``--quick``, in alternating order) and its median round is kept:
other work on a shared machine comes in bursts. Configurations whose workers x threads
exceed the cores are measured on purpose (to show the oversubscription cost) and
marked so. One configuration keeps the embedder on ONNX Runtime (``embedder_runtime``
``onnxruntime``; the default is ``auto``: OpenVINO where it is installed and agrees), and
``embed_runtimes`` compares the two runtimes on the embedder alone (:mod:`bench.embed_runtimes`).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import numpy as np

from bench import embed_runtimes
from bench.context import Context, Row
from bench.stats import ratio, summarise, unavailable

FRAME = (1280, 720)
FACES = 5
READY_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class Config:
    """One measured configuration."""

    name: str
    workers: int
    threads: int
    tuning: dict[str, Any]
    """``SessionTuning`` fields that differ from the default."""
    runtime: str = "auto"
    """The embedder runtime setting."""


def configurations(cores: int, workers: int) -> list[Config]:
    """The default first (the baseline), then one change at a time, then other splits of the
    cores between processes and threads."""
    from server.recognition.onnx_engine import default_threads

    t = default_threads(workers)
    base = f"{workers}w x {t}t"
    out = [
        Config(f"{base} default (all, sequential, arena, no spin)", workers, t, {}),
        Config(f"{base} optimisation basic", workers, t, {"optimisation": "basic"}),
        Config(f"{base} optimisation extended", workers, t, {"optimisation": "extended"}),
        Config(f"{base} parallel mode, 2 inter-op", workers, t,
               {"parallel": True, "inter_threads": 2}),
        Config(f"{base} arena off", workers, t, {"arena": False}),
        Config(f"{base} spinning on", workers, t, {"spinning": True}),
        Config(f"{base} embedder on ONNX Runtime", workers, t, {}, "onnxruntime"),
    ]
    seen = {(workers, t)}
    for w in sorted({1, max(1, cores // 2), cores}):
        for threads in sorted({1, max(1, cores // w), cores}):
            if (w, threads) in seen:
                continue
            seen.add((w, threads))
            over = " (oversubscribed)" if w * threads > cores else ""
            out.append(Config(f"{w}w x {threads}t{over}", w, threads, {}))
    return out


def _worker(pack: str, threads: int, tuning: dict[str, Any], runtime: str,
            frames: list[bytes], ready: Any, start: Event, results: Any) -> None:
    import psutil

    from server.recognition.frame_faces import find_faces
    from server.recognition.onnx_engine import OnnxEngine, SessionTuning
    from server.recognition.timing import StageTimer
    from server.settings import load_settings

    try:
        settings = load_settings(engine="onnx")
        engine = OnnxEngine(Path(pack), threads=threads, verify=False,
                            tuning=SessionTuning(**tuning), runtime=runtime)
        find_faces(engine, frames[0], settings, settings.min_face_px, StageTimer())  # warm-up
        ready.put(os.getpid())
        start.wait(READY_TIMEOUT_S)
        t0, c0 = time.monotonic(), time.process_time()
        faces = 0
        for jpeg in frames:
            faces += len(find_faces(engine, jpeg, settings, settings.min_face_px,
                                    StageTimer()).faces)
        results.put({"start": t0, "end": time.monotonic(),
                     "cpu_s": time.process_time() - c0, "frames": len(frames), "faces": faces,
                     "embedder_runtime": engine.embedder_runtime,
                     "rss_mb": psutil.Process().memory_info().rss / 2**20})
    except Exception as exc:  # reported by the parent, never a hang
        ready.put(f"{type(exc).__name__}: {exc}")


def measure(pack: Path, config: Config, frames: list[bytes]) -> dict[str, Any]:
    """Frames/s of one configuration (see module docstring)."""
    ctx = multiprocessing.get_context("spawn")
    ready, results, start = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_worker, args=(str(pack), config.threads, config.tuning,
                                               config.runtime, frames, ready, start, results))
             for _ in range(config.workers)]
    for p in procs:
        p.start()
    try:
        for _ in procs:
            got = ready.get(timeout=READY_TIMEOUT_S)
            if isinstance(got, str):
                return unavailable(f"worker failed: {got}")
        start.set()
        runs = [results.get(timeout=READY_TIMEOUT_S) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    wall = max(r["end"] for r in runs) - min(r["start"] for r in runs)
    total = sum(r["frames"] for r in runs)
    cpu = sum(r["cpu_s"] for r in runs)
    return {
        "status": "ok", "workers": config.workers, "threads": config.threads,
        "tuning": config.tuning, "frames": total, "wall_s": round(wall, 3),
        "frames_per_s": round(total / wall, 3) if wall > 0 else None,
        "cpu_ms_per_frame": round(cpu * 1000 / total, 1) if total else None,
        "faces_per_frame": round(sum(r["faces"] for r in runs) / total, 2) if total else None,
        "embedder_runtime": "/".join(sorted({r["embedder_runtime"] for r in runs})),
        "worker_rss_mb": round(max(r["rss_mb"] for r in runs), 1),
    }


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median frames/s of a configuration's rounds (all its figures)."""
    ok = sorted((r for r in runs if r.get("status") == "ok"), key=lambda r: r["frames_per_s"])
    if not ok:
        return runs[0]
    chosen = dict(ok[(len(ok) - 1) // 2])
    chosen["rounds_frames_per_s"] = [r["frames_per_s"] for r in ok]
    return chosen


def _frames(count: int) -> list[bytes]:
    from bench.scenes import compose, cut_faces, source_photos
    from server.recognition.image_io import encode_jpeg

    cuts = cut_faces(source_photos())
    rng = np.random.default_rng(2024)  # the recognition figure's pipeline frames
    return [encode_jpeg(compose(rng, cuts, *FRAME, FACES).image, 85) for _ in range(count)]


def run(ctx: Context) -> dict[str, Any]:
    from server.recognition.engines import choose_engine
    from server.settings import load_settings

    settings = load_settings(engine="onnx")
    try:
        choice = choose_engine(settings)
    except Exception as exc:  # no pack: reported, not fatal
        return unavailable(f"no usable ONNX model pack: {type(exc).__name__}: {exc}")
    if choice.pack is None:
        return unavailable("the ONNX engine did not come from a pack")
    cores = os.cpu_count() or 1
    frames = _frames(max(4, ctx.cfg.pipeline_frames * 2))
    configs = configurations(cores, max(1, settings.workers))
    rounds = 1 if ctx.cfg.mode == "quick" else 2
    runs: dict[str, list[dict[str, Any]]] = {c.name: [] for c in configs}
    for r in range(rounds):
        # alternate the order so that a burst of load from elsewhere hits different ones
        for config in configs if r % 2 == 0 else configs[::-1]:
            ctx.log(f"onnx_sessions: round {r + 1}/{rounds}: {config.name}")
            runs[config.name].append(measure(choice.pack, config, frames))
    out = {name: _median_run(got) for name, got in runs.items()}
    ctx.log("onnx_sessions: the embedder on ONNX Runtime and OpenVINO, same chips")
    compared = embed_runtimes.measure(choice.pack)
    names = list(out)
    base = out[names[0]]
    for name in names:
        figure = out[name]
        if figure.get("status") == "ok" and base.get("status") == "ok":
            figure["vs_default"] = ratio(figure["frames_per_s"], base["frames_per_s"])
            figure["cpu_vs_default"] = ratio(figure["cpu_ms_per_frame"],
                                             base["cpu_ms_per_frame"])
    ok = {n: f for n, f in out.items() if f.get("status") == "ok"}
    best = max(ok, key=lambda n: ok[n]["frames_per_s"]) if ok else None
    fits = {n: f for n, f in ok.items() if f["workers"] * f["threads"] <= cores}
    least_cpu = min(fits, key=lambda n: fits[n]["cpu_ms_per_frame"]) if fits else None
    return {
        "status": "ok", "cores": cores, "server_workers": settings.workers,
        "frame": f"{FRAME[0]}x{FRAME[1]}, {FACES} faces, JPEG q85, min_face_px "
                 f"{settings.min_face_px}",
        "frames_per_worker": len(frames), "rounds": rounds, "baseline": names[0], "best": best,
        "least_cpu_without_oversubscription": least_cpu,
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "configurations": out,
        "cpu_ms_per_frame": summarise(f["cpu_ms_per_frame"] for f in ok.values()),
        "embed_runtimes": compared,
    }


def rows(result: dict[str, Any]) -> list[Row]:
    """One row per configuration: frames/s, ratio to the server's default."""
    base = result["configurations"][result["baseline"]]
    out: list[Row] = []
    for name, fig in result["configurations"].items():
        if fig.get("status") != "ok":
            out.append(Row("onnx_sessions", name, fig.get("status", "?"),
                           note=fig.get("reason", "")))
            continue
        best = " (most frames/s)" if name == result["best"] else ""
        if name == result.get("least_cpu_without_oversubscription"):
            best += " (least CPU)"
        out.append(Row("onnx_sessions", name + best, "frames/s, all workers busy",
                       fig["frames_per_s"], baseline=f"{base.get('frames_per_s')} frames/s",
                       ratio=fig.get("vs_default"),
                       note=f"CPU {fig['cpu_ms_per_frame']} ms/frame "
                            f"({fig.get('cpu_vs_default')}x default); embedder on "
                            f"{fig.get('embedder_runtime')}; worker RSS "
                            f"{fig.get('worker_rss_mb')} MB; {result['frame']}; "
                            f"load {result['load_average']}"))
    out.extend(_runtime_rows(result.get("embed_runtimes", {})))
    return out


def _runtime_rows(emb: dict[str, Any]) -> list[Row]:
    if emb.get("status") != "ok":
        return [Row("onnx_sessions", "embedder runtimes", emb.get("status", "?"),
                    note=emb.get("reason", ""))]
    ms = emb["cpu_ms_per_face"]
    out = []
    for name, s in ms.items():
        base = emb["baselines"][name]
        note = f"{emb['chips']} chips x {emb['rounds']} rounds, interleaved"
        if name == "openvino":
            note += (f"; cosine to ONNX Runtime min {emb['cosine']['min']}, max abs diff "
                     f"{emb['max_abs_diff']:.1e}")
        out.append(Row("onnx_sessions", f"embedder on {name}", "CPU ms/face, 1 thread",
                       s["median"], s["p99"], baseline=f"{ms[base]['median']} ms {base}",
                       ratio=emb["vs_onnxruntime"][name],
                       note=f"{note}; load {emb['load_average']}"))
    return out
