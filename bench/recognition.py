"""Figure ``recognition``: detection, embedding and single-core pipeline cost per engine.

For every engine available (dlib always; onnx when a model pack is installed), on the same
composed scenes (:mod:`bench.scenes`):

- detect ms/frame at 640x360, 1280x720 and 1920x1080 with 0, 1, 5 and 20 faces, and the
  detection recall and false detections per frame on those scenes;
- embed ms/face at batch 1 and batch 4 (with the runtime the embedder ran on: the ONNX
  engine's ``embedder_runtime``; ``onnx_sessions`` compares the runtimes in the same run);
- a single-thread pipeline over JPEG frames (1280x720, 5 faces): decode, detect, quality,
  embed, search (an index of 1,000 templates), giving frames/s and faces/s per core from the
  process CPU time, and the stage breakdown. Detection there looks for faces from the
  server's ``min_face_px`` setting up, as camera frames are (the grid above: every face).

The baseline is the dlib engine measured in the same run: each engine's ratios are its figure
over dlib's (dlib's own are 1.0).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bench.context import Context, Row
from bench.scenes import FaceCut, compose, cut_faces, match_detections, source_photos
from bench.stats import fmt, ratio, summarise, unavailable

RESOLUTIONS = ((640, 360), (1280, 720), (1920, 1080))
FACE_COUNTS = (0, 1, 5, 20)
PIPELINE_SIZE = (1280, 720)
PIPELINE_FACES = 5
SEARCH_TEMPLATES = 1000


def load_engines() -> dict[str, Any]:
    """Engine name -> engine object, or -> reason string when it cannot be loaded."""
    from server.recognition.dlib_engine import DlibEngine
    from server.settings import load_settings

    settings = load_settings()
    engines: dict[str, Any] = {"dlib": DlibEngine(upsample=settings.upsample)}
    try:
        from server.recognition import engines as factory
    except ImportError as exc:
        engines["onnx"] = f"server.recognition.engines is not importable ({exc})"
        return engines
    try:
        engines["onnx"] = factory.create_engine(load_settings(engine="onnx"))
    except Exception as exc:  # a missing/partial pack is reported, not fatal
        engines["onnx"] = f"no usable ONNX model pack: {type(exc).__name__}: {exc}"
    return engines


def _time_ms(fn: Any, *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn(*args)
    return (time.perf_counter() - start) * 1000.0, out


def _detect_grid(ctx: Context, engine: Any, cuts: list[FaceCut]) -> dict[str, Any]:
    grid: dict[str, Any] = {}
    for width, height in RESOLUTIONS:
        rng = np.random.default_rng(width)  # same scenes for every engine
        true_total = found_total = false_total = frames = 0
        for faces in FACE_COUNTS:
            times: list[float] = []
            for _ in range(ctx.cfg.recognition_repeats):
                scene = compose(rng, cuts, width, height, faces)
                ms, detected = _time_ms(engine.detect, scene.image)
                times.append(ms)
                hits, false = match_detections(scene.boxes, [d.box for d in detected])
                true_total += len(scene.boxes)
                found_total += hits
                false_total += false
                frames += 1
            grid[f"{width}x{height}_{faces}_faces"] = summarise(times)
        grid[f"recall_{width}x{height}"] = {
            "faces": true_total, "found": found_total,
            "recall": round(found_total / true_total, 4) if true_total else None,
            "false_per_frame": round(false_total / frames, 3) if frames else None,
        }
    return grid


def _embed(ctx: Context, engine: Any, cuts: list[FaceCut]) -> dict[str, Any]:
    rng = np.random.default_rng(99)
    scene = compose(rng, cuts, 1280, 720, 5, face_px=(90, 110))
    faces = engine.detect(scene.image)
    out: dict[str, Any] = {"faces_available": len(faces)}
    for batch in (1, 4):
        if len(faces) < batch:
            out[f"batch{batch}"] = unavailable(f"only {len(faces)} faces detected")
            continue
        per_face = []
        engine.embed(scene.image, faces[:batch])  # warm-up (first call allocates)
        for _ in range(ctx.cfg.embed_repeats):
            ms, _ = _time_ms(engine.embed, scene.image, faces[:batch])
            per_face.append(ms / batch)
        out[f"batch{batch}"] = summarise(per_face)
    return out


def _pipeline(ctx: Context, engine: Any, cuts: list[FaceCut]) -> dict[str, Any]:
    """Single thread: frames/s and faces/s per core, and where the time goes."""
    import hnswlib

    from server.recognition.frame_faces import detect_faces
    from server.recognition.image_io import decode_image, encode_jpeg
    from server.recognition.quality import assess
    from server.recognition.timing import StageTimer
    from server.settings import load_settings

    settings = load_settings()
    rng = np.random.default_rng(2024)
    jpegs = [encode_jpeg(compose(rng, cuts, *PIPELINE_SIZE, PIPELINE_FACES).image, 85)
             for _ in range(ctx.cfg.pipeline_frames)]
    gallery = rng.standard_normal((SEARCH_TEMPLATES, engine.dim)).astype(np.float32)
    index = hnswlib.Index(space="cosine", dim=engine.dim)
    index.init_index(max_elements=SEARCH_TEMPLATES, ef_construction=200, M=16)
    index.add_items(gallery, np.arange(SEARCH_TEMPLATES))
    index.set_ef(64)
    index.set_num_threads(1)
    prob = bool(getattr(engine, "score_is_probability", False))
    stages: dict[str, list[float]] = {s: [] for s in
                                      ("decode", "detect", "quality", "embed", "search")}
    inner: dict[str, list[float]] = {}
    totals: list[float] = []
    faces_seen = embedded = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for data in jpegs:
        timer = StageTimer()
        ms = {}
        ms["decode"], image = _time_ms(
            lambda d: decode_image(d, max_bytes=settings.max_image_bytes,
                                   max_pixels=settings.max_image_pixels), data)
        ms["detect"], faces = _time_ms(detect_faces, engine, image, timer,
                                       settings.min_face_px)
        start = time.perf_counter()
        good = [f for f in faces
                if assess(image, f, settings.quality, score_is_probability=prob).ok]
        ms["quality"] = (time.perf_counter() - start) * 1000.0
        ms["embed"], vectors = _time_ms(engine.embed, image, good, timer)
        start = time.perf_counter()
        if len(vectors):
            index.knn_query(vectors, k=1)
        ms["search"] = (time.perf_counter() - start) * 1000.0
        for name, value in ms.items():
            stages[name].append(value)
        for name, value in timer.ms.items():
            inner.setdefault(name, []).append(value)
        totals.append(sum(ms.values()))
        faces_seen += len(faces)
        embedded += len(good)
    cpu_s = time.process_time() - cpu0
    wall_s = time.perf_counter() - wall0
    frames = len(jpegs)
    return {
        "frame": f"{PIPELINE_SIZE[0]}x{PIPELINE_SIZE[1]}, {PIPELINE_FACES} faces, JPEG q85",
        "min_face_px": settings.min_face_px if getattr(engine, "sized_detection", False)
        else None,
        "frames": frames, "faces_detected": faces_seen, "faces_embedded": embedded,
        "frame_ms": summarise(totals),
        "stages_ms": {name: summarise(v) for name, v in stages.items()},
        "engine_stages_ms": {name: summarise(v) for name, v in inner.items()},
        "cpu_s": round(cpu_s, 3), "wall_s": round(wall_s, 3),
        "frames_per_s_per_core": round(frames / cpu_s, 3) if cpu_s else None,
        "faces_per_s_per_core": round(faces_seen / cpu_s, 3) if cpu_s else None,
        "frames_per_s_wall": round(frames / wall_s, 3) if wall_s else None,
    }


def _measure_engine(ctx: Context, name: str, engine: Any, cuts: list[FaceCut]) -> dict[str, Any]:
    ctx.log(f"recognition: {name}: detection grid")
    grid = _detect_grid(ctx, engine, cuts)
    ctx.log(f"recognition: {name}: embedding")
    embed = _embed(ctx, engine, cuts)
    ctx.log(f"recognition: {name}: pipeline")
    pipe = _pipeline(ctx, engine, cuts)
    found = sum(v["found"] for k, v in grid.items() if k.startswith("recall_"))
    total = sum(v["faces"] for k, v in grid.items() if k.startswith("recall_"))
    return {
        "status": "ok",
        "model_id": engine.model_id,
        "dim": engine.dim,
        "detect_ms_1280x720": grid["1280x720_5_faces"],
        "embed_ms_per_face": {"batch1": embed["batch1"], "batch4": embed["batch4"]},
        "embedder_runtime": getattr(engine, "embedder_runtime", name),
        "frames_per_s_per_core": pipe["frames_per_s_per_core"],
        "faces_per_s_per_core": pipe["faces_per_s_per_core"],
        "recall": round(found / total, 4) if total else None,
        "detect_grid_ms": grid,
        "pipeline": pipe,
    }


def _ratios(engines: dict[str, Any]) -> None:
    base = engines.get("dlib", {})
    if base.get("status") != "ok":
        return
    for figure in engines.values():
        if figure.get("status") != "ok":
            continue
        b1 = figure["embed_ms_per_face"]["batch1"]
        figure["vs_dlib"] = {
            "detect_ms_1280x720_median": ratio(figure["detect_ms_1280x720"]["median"],
                                               base["detect_ms_1280x720"]["median"]),
            "embed_ms_batch1_median": ratio(b1.get("median"),
                                            base["embed_ms_per_face"]["batch1"].get("median")),
            "frames_per_s_per_core": ratio(figure["frames_per_s_per_core"],
                                           base["frames_per_s_per_core"]),
            "recall": ratio(figure["recall"], base["recall"]),
        }


def run(ctx: Context) -> dict[str, Any]:
    """Measure every available engine on the same scenes."""
    ctx.log("recognition: cutting faces from the source photos")
    photos = source_photos()
    cuts = cut_faces(photos)
    if not cuts:
        return unavailable("no source face photos found (insightface/skimage data missing)")
    loaded = load_engines()
    engines: dict[str, Any] = {}
    for name, engine in loaded.items():
        if isinstance(engine, str):
            engines[name] = unavailable(engine)
            continue
        engines[name] = _measure_engine(ctx, name, engine, cuts)
    _ratios(engines)
    ctx.remember("engines", {k: v for k, v in loaded.items() if not isinstance(v, str)})
    ctx.remember("face_cuts", cuts)
    ctx.remember("recognition", engines)
    return {
        "status": "ok",
        "scenes": f"{len(cuts)} faces from {len(photos)} photos, composed on face-free "
                  "backgrounds; faces of 56-110 px (capped by the grid in crowded frames)",
        "threads": "1 (frames/s and faces/s per core from process CPU time)",
        "engines": engines,
    }


def rows(result: dict[str, Any]) -> list[Row]:
    """Markdown rows: the headline figures per engine and the detection grid."""
    out: list[Row] = []
    for name, eng in result["engines"].items():
        if eng.get("status") != "ok":
            out.append(Row("recognition", name, eng.get("status", "?"),
                           note=eng.get("reason", "")))
            continue
        vs = eng.get("vs_dlib", {})
        d = eng["detect_ms_1280x720"]
        out.append(Row("recognition", name, "detect ms, 1280x720 x 5 faces", d["median"],
                       d["p99"], ratio=vs.get("detect_ms_1280x720_median"),
                       note=f"recall {eng['recall']} over the grid"))
        for batch in ("batch1", "batch4"):
            e = eng["embed_ms_per_face"][batch]
            out.append(Row("recognition", name, f"embed ms/face, {batch}", e.get("median"),
                           e.get("p99"),
                           ratio=vs.get("embed_ms_batch1_median") if batch == "batch1" else None,
                           note=f"embedder on {eng.get('embedder_runtime', name)}"))
        pipe = eng["pipeline"]
        out.append(Row("recognition", name, "pipeline frames/s per core (faces/s)",
                       eng["frames_per_s_per_core"], None,
                       ratio=vs.get("frames_per_s_per_core"),
                       note=f"{eng['faces_per_s_per_core']} faces/s per core; "
                            f"{pipe['frame']}"))
        st = pipe["stages_ms"]
        out.append(Row("recognition", name, "stage ms: decode/detect/quality/embed/search",
                       pipe["frame_ms"]["median"], pipe["frame_ms"]["p99"],
                       note=" / ".join(f"{s} {fmt(st[s]['median'])}" for s in st)))
        grid = eng["detect_grid_ms"]
        for width, height in RESOLUTIONS:
            cells = " / ".join(f"{n} faces {fmt(grid[f'{width}x{height}_{n}_faces']['median'])}"
                               for n in FACE_COUNTS)
            rec = grid[f"recall_{width}x{height}"]
            out.append(Row("recognition", name, f"detect ms {width}x{height} by faces",
                           note=f"{cells}; recall {rec['recall']}, "
                                f"{rec['false_per_frame']} false/frame"))
    return out
