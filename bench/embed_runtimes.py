"""The embedder on ONNX Runtime against OpenVINO, same run (part of figure ``onnx_sessions``).

Both runtimes embed the same aligned chips of real faces (composed 1280x720 frames, the
pipeline's scenes) on one intra-op thread, one face at a time as the engine runs the
FacePlugin graph (fixed batch 1), interleaved round by round so that load from elsewhere
hits both alike: CPU ms per face from the process CPU time, and the cosine between the two
runtimes' templates of each chip. Also OpenVINO with the graph reshaped to a dynamic batch
(the same chips in batches of 4, and one at a time), to show whether batching would pay.
"""

from __future__ import annotations

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


def _dynamic(path: Path, width: int, height: int) -> Callable[[Floats], Floats]:
    """OpenVINO on the graph reshaped to a dynamic batch, same properties as the engine's."""
    from server.recognition.openvino_runtime import compile_config, import_openvino

    ov = import_openvino()
    assert ov is not None
    core = ov.Core()
    model = core.read_model(str(path))
    model.reshape([-1, 3, height, width])
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
    import os

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
    dynamic = _dynamic(pack / ort.manifest.embedder.file, *ort.manifest.embedder.input_size)
    runs: dict[str, tuple[Callable[[Floats], Floats], int]] = {
        "onnxruntime": (ort.embed_blob, 1),
        "openvino": (ov.embed_blob, 1),
        f"openvino_dynamic_batch{BATCH}": (dynamic, BATCH),
        "openvino_dynamic_batch1": (dynamic, 1),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for run, batch in runs.values():
        run(blob[:batch])  # warm-up (first call allocates)
    for r in range(ROUNDS):
        order = list(runs) if r % 2 == 0 else list(runs)[::-1]
        for name in order:
            run, batch = runs[name]
            times[name].append(_cpu_ms_per_face(run, blob, batch))
    a, b = ort.embed_blob(blob).astype(np.float64), ov.embed_blob(blob).astype(np.float64)
    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    summary = {name: summarise(t) for name, t in times.items()}
    base = summary["onnxruntime"]["median"]
    return {
        "status": "ok", "chips": len(blob), "rounds": ROUNDS, "threads": 1,
        "cpu_ms_per_face": summary,
        "vs_onnxruntime": {name: ratio(s["median"], base) for name, s in summary.items()},
        "speedup_openvino": ratio(base, summary["openvino"]["median"]),
        "cosine": {"min": round(float(cos.min()), 7), "median": round(float(np.median(cos)), 7)},
        "max_abs_diff": float(np.abs(a - b).max()),
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }
