"""The embedder on ONNX Runtime against OpenVINO, same run (part of figure ``onnx_sessions``).

Both runtimes embed the same aligned chips of real faces (composed 1280x720 frames, the
pipeline's scenes) through the installed graph (a dynamic batch: the pack installer makes it
so) on one intra-op thread, one face per call and four per call, interleaved round by round
so that load from elsewhere hits all alike: CPU ms per face from the process CPU time, and
the cosine between the two runtimes' templates of each chip. Also OpenVINO on a copy of the
graph reshaped to a static batch of 1 (``openvino_static_batch1``), to show whether a second,
static graph for single faces would pay.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.stats import ratio, summarise, unavailable

Floats = npt.NDArray[np.float32]

CHIPS = 20
ROUNDS = 5
BATCH = 4


def _chips(engine: Any) -> Floats:
    from bench.scenes import compose, cut_faces, source_photos
    from server.recognition.onnx_engine import to_blob

    cuts = cut_faces(source_photos())
    rng = np.random.default_rng(2024)
    chips = []
    while len(chips) < CHIPS:
        scene = compose(rng, cuts, 1280, 720, 5)
        faces = engine.detect(scene.image)
        if faces:
            chips.extend(engine.chips(scene.image, faces))
    return to_blob(np.stack(chips[:CHIPS]), engine.manifest.embedder.norm)


def _static_batch1(path: Path, width: int, height: int) -> Callable[[Floats], Floats]:
    """OpenVINO on the graph reshaped to a static batch of 1, the engine's properties."""
    from server.recognition.openvino_runtime import compile_config, import_openvino

    ov = import_openvino()
    assert ov is not None
    core = ov.Core()
    model = core.read_model(str(path))
    model.reshape([1, 3, height, width])
    request = core.compile_model(model, "CPU", compile_config(1)).create_infer_request()

    def run(blob: Floats) -> Floats:
        return np.asarray(request.infer({0: blob})[0], dtype=np.float32).reshape(len(blob), -1)

    return run


def _cpu_ms_per_face(run: Callable[[Floats], Floats], blob: Floats, batch: int) -> float:
    start = time.process_time()
    for i in range(0, len(blob), batch):
        run(blob[i : i + batch])
    return (time.process_time() - start) * 1000.0 / len(blob)


def measure(pack: Path) -> dict[str, Any]:
    """The comparison (see module docstring), or ``unavailable`` without OpenVINO."""
    from server.errors import PackError
    from server.recognition.onnx_engine import OnnxEngine
    from server.recognition.openvino_runtime import import_openvino

    if import_openvino() is None:
        return unavailable("OpenVINO is not installed")
    ort = OnnxEngine(pack, threads=1, verify=False, runtime="onnxruntime")
    try:
        ov = OnnxEngine(pack, threads=1, verify=False, runtime="openvino")
    except PackError as exc:
        return unavailable(f"OpenVINO not usable: {exc.code}: {exc.message}")
    blob = _chips(ort)
    dynamic = ort.manifest.embedder.batch == "dynamic"
    batch = BATCH if dynamic else 1
    # name -> (network input -> templates, faces per call, the ONNX Runtime run it is
    # compared with)
    runs: dict[str, tuple[Callable[[Floats], Floats], int, str]] = {
        "onnxruntime": (ort.embed_blob, 1, "onnxruntime"),
        "openvino": (ov.embed_blob, 1, "onnxruntime"),
        "openvino_static_batch1": (
            _static_batch1(pack / ort.manifest.embedder.file,
                           *ort.manifest.embedder.input_size), 1, "onnxruntime"),
    }
    if dynamic:
        runs[f"onnxruntime_batch{batch}"] = (ort.embed_blob, batch, f"onnxruntime_batch{batch}")
        runs[f"openvino_batch{batch}"] = (ov.embed_blob, batch, f"onnxruntime_batch{batch}")
    times: dict[str, list[float]] = {name: [] for name in runs}
    for run, size, _ in runs.values():
        run(blob[:size])  # warm-up (first call allocates)
    for r in range(ROUNDS):
        for name in list(runs) if r % 2 == 0 else list(runs)[::-1]:
            run, size, _ = runs[name]
            times[name].append(_cpu_ms_per_face(run, blob, size))
    a, b = ort.embed_blob(blob).astype(np.float64), ov.embed_blob(blob).astype(np.float64)
    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    summary = {name: summarise(t) for name, t in times.items()}
    return {
        "status": "ok", "chips": len(blob), "rounds": ROUNDS, "threads": 1,
        "graph_batch": ort.manifest.embedder.batch,
        "cpu_ms_per_face": summary,
        "baselines": {name: base for name, (_, _, base) in runs.items()},
        "vs_onnxruntime": {name: ratio(summary[name]["median"], summary[base]["median"])
                           for name, (_, _, base) in runs.items()},
        "cosine": {"min": round(float(cos.min()), 7), "median": round(float(np.median(cos)), 7)},
        "max_abs_diff": float(np.abs(a - b).max()),
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }
