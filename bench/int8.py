"""Figure ``int8``: the FacePlugin embedder quantised to int8 against fp32, speed and accuracy.

On demand and local: the installed pack's embedder is converted to opset 13 and quantised
with ``onnxruntime.quantization`` (static, QDQ, per-channel int8 weights, uint8 activations)
into a temporary folder, calibrated on aligned chips of the lfw_dev *calibration* half
(``server.evaluation.scenes.identity_part``). Nothing is downloaded and nothing is written
into the model root. (Dynamic quantisation was tried first: its ConvInteger kernels ran ~4x
slower than fp32 here.)

- speed: CPU ms for one batch of 5 chips, 1 intra-op thread, both graphs interleaved;
- accuracy: the lfw_dev *evaluation* half through ``server.evaluation`` (acquisition, all
  pairs, verification points): every face is detected and aligned once, and the same chip
  is embedded by both graphs, so the only difference is the embedder. TAR (1 - FNMR) at FMR
  1e-2/1e-3/1e-4 per graph, and the cosine between a chip's fp32 and int8 templates.
  The same chips also go through the fp32 graph on OpenVINO (the runtime ``embedder_runtime``
  ``auto`` picks where it is installed; ``server.recognition.openvino_runtime``): its cosine
  to ONNX Runtime's templates and its TAR, which must be fp32's (key ``openvino``).

The bar for enabling int8 (not done by this figure; it reports): TAR at every FMR within 0.5
points of fp32 and the median fp32/int8 cosine >= 0.99 (thresholds are calibrated on fp32
scores per model id, so int8 templates must score like fp32 ones to reuse them).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.context import Context, Row
from bench.scenes import datasets_root
from bench.stats import check, skipped, summarise, targeted, unavailable

Floats = npt.NDArray[np.float32]

CALIBRATION_CHIPS = 200
SPEED_REPEATS = 20
TAR_POINTS_BAR = 0.005
COSINE_BAR = 0.99


def quantise(src: Path, dest: Path, chips: npt.NDArray[np.float32]) -> Path:
    """Static QDQ int8 copy of the embedder graph ``src``, calibrated on network inputs
    ``chips`` (``N x 3 x 112 x 112``). Returns the quantised file."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    # per-channel DequantizeLinear needs opset 13; the published graph is opset 9
    opset13 = dest / "opset13.onnx"
    onnx.save(version_converter.convert_version(onnx.load(str(src)), 13), str(opset13))
    pre = dest / "pre.onnx"
    quant_pre_process(str(opset13), str(pre), skip_symbolic_shape=True)
    name = onnx.load(str(pre)).graph.input[0].name

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._it = iter([{name: chips[i : i + 1]} for i in range(len(chips))])

        def get_next(self) -> dict[str, Any] | None:
            return next(self._it, None)

    out = dest / "fr_feature_int8.onnx"
    quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True, weight_type=QuantType.QInt8,
                    activation_type=QuantType.QUInt8)
    return out


def _session(path: Path) -> Any:
    import onnxruntime as ort

    from server.recognition.onnx_engine import session_options

    return ort.InferenceSession(str(path), session_options(1), providers=["CPUExecutionProvider"])


class _SideEmbedders:
    """The fp32 engine (ONNX Runtime), which also embeds every chip it embeds with each of
    ``others`` (network input -> templates): the same aligned chip for every graph."""

    def __init__(self, engine: Any, others: dict[str, Callable[[Floats], Floats]]) -> None:
        self._engine = engine
        self._others = others
        self.vectors: dict[str, list[Floats]] = {name: [] for name in others}
        self.name, self.model_id, self.dim = engine.name, engine.model_id, engine.dim
        self.score_is_probability = engine.score_is_probability

    def detect(self, image: Any, timer: Any = None) -> Any:
        return self._engine.detect(image, timer)

    def embed(self, image: Any, faces: Sequence[Any], timer: Any = None) -> Any:
        from server.recognition.engine import normalise_rows
        from server.recognition.onnx_engine import to_blob

        blob = to_blob(self._engine.chips(image, faces), self._engine.manifest.embedder.norm)
        for name, run in self._others.items():
            out = np.asarray(run(blob), dtype=np.float32)
            self.vectors[name].extend(normalise_rows(out.reshape(len(blob), -1)))
        return self._engine.embed(image, faces, timer)


def _session_runner(session: Any) -> Callable[[Floats], Floats]:
    name = session.get_inputs()[0].name

    def run(blob: Floats) -> Floats:
        return np.asarray(session.run(None, {name: blob})[0], dtype=np.float32)

    return run


def _speed(fp32: Any, int8: Any, blob: npt.NDArray[np.float32]) -> dict[str, Any]:
    times: dict[str, list[float]] = {"fp32": [], "int8": []}
    for sess in (fp32, int8):
        sess.run(None, {sess.get_inputs()[0].name: blob})  # warm-up
    for _ in range(SPEED_REPEATS):
        for key, sess in (("fp32", fp32), ("int8", int8)):
            c0 = time.process_time()
            sess.run(None, {sess.get_inputs()[0].name: blob})
            times[key].append((time.process_time() - c0) * 1000.0)
    return {k: summarise(v) for k, v in times.items()}


def run(ctx: Context) -> dict[str, Any]:
    if ctx.cfg.mode == "quick":
        return skipped("not in --quick (embeds the lfw_dev evaluation half three times: "
                       "minutes)")
    dataset = datasets_root() / "lfw_dev"
    if not dataset.is_dir():
        return unavailable(f"{dataset} not found (the development dataset)")
    from server.evaluation.acquire import acquire, file_loaders, find_face, prepare
    from server.evaluation.dataset import list_samples
    from server.evaluation.runner import score
    from server.evaluation.scenes import identity_part
    from server.recognition.engines import choose_engine
    from server.recognition.image_io import read_image_file
    from server.recognition.onnx_engine import OnnxEngine, to_blob
    from server.settings import load_settings

    try:
        choice = choose_engine(load_settings(engine="onnx"))
    except Exception as exc:  # no pack: reported, not fatal
        return unavailable(f"no usable ONNX model pack: {type(exc).__name__}: {exc}")
    if choice.pack is None:
        return unavailable("the ONNX engine did not come from a pack")
    # the reference is ONNX Runtime's fp32 graph, whatever runtime the engine would pick
    engine = OnnxEngine(choice.pack, threads=1, verify=False, runtime="onnxruntime")
    samples = list_samples([str(dataset)])
    part = {s.path: identity_part(Path(s.identity).name) for s in samples}
    calib = [s for s in samples if part[s.path] == "calibration"][:CALIBRATION_CHIPS * 2]
    evaluation = [s for s in samples if part[s.path] == "evaluation"]
    ctx.log(f"int8: aligned chips of {len(calib)} calibration-half photos")
    chips = []
    for s in calib:
        found = find_face(engine, prepare(read_image_file(s.path)))
        if found is not None:
            chips.append(engine.chips(found[0], [found[1]])[0])
        if len(chips) >= CALIBRATION_CHIPS:
            break
    blobs = to_blob(np.stack(chips), engine.manifest.embedder.norm)
    with tempfile.TemporaryDirectory(prefix="vigil-int8-") as tmp:
        ctx.log("int8: quantising the embedder (static QDQ, per-channel)")
        q_path = quantise(choice.pack / engine.manifest.embedder.file, Path(tmp), blobs)
        int8 = _session(q_path)
        fp32 = _session(choice.pack / engine.manifest.embedder.file)
        speed = _speed(fp32, int8, blobs[:5])
        sizes = {"fp32_kb": (choice.pack / engine.manifest.embedder.file).stat().st_size // 1024,
                 "int8_kb": q_path.stat().st_size // 1024}
        others = {"int8": _session_runner(int8)}
        openvino = _openvino(choice.pack)
        if not isinstance(openvino, str):
            others["openvino"] = openvino.embed_blob
        ctx.log(f"int8: lfw_dev evaluation half, {len(evaluation)} photos, embedders "
                f"fp32, {', '.join(others)}")
        sides = _SideEmbedders(engine, others)
        acquired = acquire(sides, file_loaders(evaluation))  # type: ignore[arg-type]
    rows = [i for i, ok in enumerate(acquired.ok) if ok]
    vectors = {"fp32": acquired.vectors}
    for name in others:
        vectors[name] = np.zeros_like(acquired.vectors)
        vectors[name][rows] = np.stack(sides.vectors[name])
    cosines = {name: np.sum(acquired.vectors[rows] * vectors[name][rows], axis=1)
               for name in others}
    cosine = cosines["int8"]
    evs = {name: score(engine, [str(dataset)], evaluation, _replace_vectors(acquired, v))
           for name, v in vectors.items()}
    ev_fp32 = evs["fp32"]
    tar = {name: {f"{p.fmr:g}": round(1.0 - p.fnmr, 4) for p in ev.report.verification}
           for name, ev in evs.items()}
    drops = [tar["fp32"][k] - tar["int8"].get(k, 0.0) for k in tar["fp32"]]
    med_cos = float(np.median(cosine)) if cosine.size else None
    out: dict[str, Any] = {
        "status": "ok", "photos": len(evaluation), "acquired": len(rows),
        "genuine_pairs": ev_fp32.report.genuine_pairs,
        "impostor_pairs": ev_fp32.report.impostor_pairs,
        "tar_at_fmr": tar, "largest_tar_drop": round(max(drops), 4) if drops else None,
        "cosine_fp32_int8": {"median": round(med_cos, 4) if med_cos is not None else None,
                             "p1": round(float(np.percentile(cosine, 1)), 4)
                             if cosine.size else None},
        "cpu_ms_batch5": speed,
        "speedup": round(speed["fp32"]["median"] / speed["int8"]["median"], 2)
        if speed["int8"]["median"] else None,
        "sizes": sizes,
        "quantisation": "static QDQ, per-channel int8 weights, uint8 activations, opset 13, "
                        f"{len(blobs)} calibration-half chips",
        "openvino": unavailable(openvino) if isinstance(openvino, str) else {
            "status": "ok",
            "cosine_to_onnxruntime": _cosine_summary(cosines["openvino"]),
            "largest_tar_change": round(max(abs(tar["fp32"][k] - tar["openvino"].get(k, 0.0))
                                            for k in tar["fp32"]), 4),
        },
    }
    out.update(targeted(
        f"enable int8 only if TAR drops <= {TAR_POINTS_BAR} at every FMR and the median "
        f"fp32/int8 cosine >= {COSINE_BAR}",
        [check("largest_tar_drop", out["largest_tar_drop"], "<=", TAR_POINTS_BAR),
         check("cosine_fp32_int8.median", med_cos, ">=", COSINE_BAR)],
    ))
    return out


def _openvino(pack: Path) -> Any:
    """The engine with its embedder on OpenVINO, or why there is none."""
    from server.errors import PackError
    from server.recognition.onnx_engine import OnnxEngine
    from server.recognition.openvino_runtime import import_openvino

    if import_openvino() is None:
        return "OpenVINO is not installed"
    try:
        return OnnxEngine(pack, threads=1, verify=False, runtime="openvino")
    except PackError as exc:
        return f"OpenVINO not usable: {exc.code}: {exc.message}"


def _cosine_summary(cosine: Floats) -> dict[str, float | None]:
    if not cosine.size:
        return {"min": None, "p1": None, "median": None}
    return {"min": round(float(cosine.min()), 7),
            "p1": round(float(np.percentile(cosine, 1)), 7),
            "median": round(float(np.median(cosine)), 7)}


def _replace_vectors(acquired: Any, vectors: npt.NDArray[np.float32]) -> Any:
    import dataclasses

    import msgspec

    if dataclasses.is_dataclass(acquired):
        return dataclasses.replace(acquired, vectors=vectors)
    return msgspec.structs.replace(acquired, vectors=vectors)


def rows(result: dict[str, Any]) -> list[Row]:
    s = result["cpu_ms_batch5"]
    t = result["tar_at_fmr"]
    tars = "; ".join(f"FMR {k}: {t['fp32'][k]} -> {t['int8'].get(k)}" for k in t["fp32"])
    return [
        Row("int8", "embedder int8 vs fp32", "CPU ms, batch of 5 chips, 1 thread",
            s["int8"]["median"], s["int8"]["p99"],
            baseline=f"{s['fp32']['median']} ms fp32", ratio=result["speedup"],
            note=f"speed-up {result['speedup']}x; {result['sizes']['fp32_kb']} -> "
                 f"{result['sizes']['int8_kb']} KB"),
        Row("int8", "lfw_dev evaluation half", "TAR fp32 -> int8", target=result["target"],
            met=result["met"],
            note=f"{tars}; cosine fp32/int8 median {result['cosine_fp32_int8']['median']}, "
                 f"p1 {result['cosine_fp32_int8']['p1']}; {result['acquired']} faces"),
        _openvino_row(result),
    ]


def _openvino_row(result: dict[str, Any]) -> Row:
    ov = result.get("openvino", {})
    if ov.get("status") != "ok":
        return Row("int8", "lfw_dev evaluation half, fp32 on OpenVINO", ov.get("status", "?"),
                   note=ov.get("reason", ""))
    t = result["tar_at_fmr"]
    tars = "; ".join(f"FMR {k}: {t['fp32'][k]} -> {t['openvino'].get(k)}" for k in t["fp32"])
    c = ov["cosine_to_onnxruntime"]
    return Row("int8", "lfw_dev evaluation half, fp32 on OpenVINO",
               "TAR ONNX Runtime -> OpenVINO",
               note=f"{tars}; cosine to ONNX Runtime min {c['min']}, p1 {c['p1']}, median "
                    f"{c['median']}; {result['acquired']} faces")
