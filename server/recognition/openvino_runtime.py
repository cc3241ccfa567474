"""The face embedder on OpenVINO's CPU plugin, where it is installed and agrees with ONNX Runtime.

Why: the FacePlugin embedder (MobileFaceNet-like, 112x112 -> 512) costs about 14 ms of CPU
per face in ONNX Runtime on one thread on the 2-core development machine and about 8 ms in
OpenVINO with the same settings (``python -m bench --only onnx_sessions``, the
``embed_runtimes`` comparison), with the same templates (max abs difference ~7e-7). The
detector stays on ONNX Runtime: OpenVINO was not faster there (320x240: 3.6 vs 4.3 ms).

Which runtime embeds is the ``embedder_runtime`` setting (:data:`RUNTIMES`):

- ``auto`` (default): OpenVINO when it is importable, ONNX Runtime runs the embedder on the
  CPU (a CUDA session stays on CUDA) and the OpenVINO graph gives ONNX Runtime's templates
  on fixed inputs (:func:`agreement`); otherwise ONNX Runtime, with one log line saying why;
- ``openvino``: OpenVINO or an error (``PackError``), never a silent fallback;
- ``onnxruntime``: ONNX Runtime.

The calibrated thresholds rest on the templates, so a runtime that does not give ONNX
Runtime's templates is never used: agreement is checked at every engine load (each worker
process checks its own), cosine >= :data:`AGREEMENT` on every fixed input.

Telemetry: the ``openvino`` wheel depends on ``openvino-telemetry``, and ``import openvino``
imports its model converter (``openvino.tools.ovc``), whose ``__init__`` sends an "import"
event to Google Analytics in a background thread and writes a client id under
``~/intel/`` unless a consent file says no (it counts a missing file as consent). Vigil
must send nothing anywhere, so :func:`import_openvino` makes ``openvino_telemetry``
unimportable before OpenVINO loads; the converter then uses its own no-op stub
(``openvino/tools/ovc/telemetry_stub.py``). The runtime libraries themselves
(``libopenvino``, the CPU plugin) open no sockets. Nothing is downloaded and no model cache
is written (``CACHE_DIR`` stays unset). ``tests/packs/test_openvino_sends_nothing.py``
checks this.

Threads: ``INFERENCE_NUM_THREADS`` is the engine's intra-op thread count (the same
``default_threads`` the ONNX Runtime sessions get), one stream, no CPU pinning (the workers
share the cores with each other and the event loop), f32 precision (no bf16/f16 shortcut:
the templates must not move).
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, cast, get_args

import numpy as np
import numpy.typing as npt

from server.errors import PackError

log = logging.getLogger(__name__)

Floats = npt.NDArray[np.float32]

Runtime = Literal["auto", "onnxruntime", "openvino"]
RUNTIMES: tuple[str, ...] = get_args(Runtime)

AGREEMENT = 0.9999
"""Smallest cosine between an OpenVINO template and ONNX Runtime's for the same input."""

AGREEMENT_INPUTS = 3
"""Fixed inputs checked at load: noise, a smooth gradient and their mix (a face chip has
both)."""


def parse_runtime(value: str) -> Runtime:
    """The ``embedder_runtime`` setting, checked.

    Raises:
        PackError: ``unknown_runtime`` for a name not in :data:`RUNTIMES`.
    """
    name = value.strip().lower()
    if name not in RUNTIMES:
        raise PackError("unknown_runtime", f"unknown embedder runtime {value!r}; use one of "
                        f"{', '.join(RUNTIMES)}")
    return cast(Runtime, name)


def import_openvino() -> ModuleType | None:
    """OpenVINO with its telemetry made unimportable (see module docstring), or None when it
    is not installed."""
    if "openvino" not in sys.modules:
        # None in sys.modules makes ``import openvino_telemetry`` raise ImportError, which
        # OpenVINO's converter answers with its no-op stub.
        sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
    try:
        return importlib.import_module("openvino")
    except ImportError:
        return None


def compile_config(threads: int) -> dict[str, Any]:
    """CPU plugin properties equivalent to the ONNX Runtime sessions' (module docstring)."""
    return {
        "INFERENCE_NUM_THREADS": max(1, threads),
        "NUM_STREAMS": 1,
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "f32",
        "ENABLE_CPU_PINNING": False,
    }


class OpenVinoEmbedder:
    """An embedder graph compiled for OpenVINO's CPU plugin.

    One compiled model per engine and one infer request per calling thread (a request is not
    safe to share between threads; ONNX Runtime's ``run`` is, and the engine promises the
    same).
    """

    def __init__(self, path: Path, threads: int) -> None:
        """Compile ``path`` (an ONNX file) for the CPU.

        Raises:
            PackError: ``runtime_unavailable`` when OpenVINO is not installed,
                ``runtime_unloadable`` when it cannot read or compile the graph.
        """
        ov = import_openvino()
        if ov is None:
            raise PackError("runtime_unavailable", "OpenVINO is not installed")
        try:
            core = ov.Core()
            model = core.read_model(str(path))
            self._compiled = core.compile_model(model, "CPU", compile_config(threads))
            shape = self._compiled.input(0).get_partial_shape()
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses of its own
            raise PackError("runtime_unloadable",
                            f"{path.name}: OpenVINO cannot compile it: {exc}") from exc
        self.threads = max(1, threads)
        self.dynamic_batch = bool(shape.rank.is_static and shape[0].is_dynamic)
        self._local = threading.local()

    def _request(self) -> Any:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._compiled.create_infer_request()
            self._local.request = request
        return request

    def run(self, blob: Floats) -> Floats:
        """Templates (not normalised) of ``N x 3 x H x W`` network input, one row each.

        A graph with a dynamic batch (the installed FacePlugin embedder: the pack installer
        makes it so) runs once per call, like ONNX Runtime's; one with a fixed batch once per
        input. A copy compiled with a static batch of 1 was ~6 % cheaper per face one at a
        time and no cheaper than the dynamic graph's batches of 4 (``embed_runtimes``), not
        worth a second compiled graph per worker.
        """
        request = self._request()
        if self.dynamic_batch or len(blob) == 1:
            out = np.array(_infer(request, blob), dtype=np.float32)
            return out.reshape(len(blob), -1)
        rows = [np.array(_infer(request, blob[i : i + 1]), dtype=np.float32)
                for i in range(len(blob))]
        return np.concatenate(rows).reshape(len(blob), -1)


def _infer(request: Any, blob: Floats) -> Any:
    """The request's first output for ``blob``, run on the caller's memory: OpenVINO reads a
    C-contiguous float32 input in place instead of copying it into its own tensor first, and
    hands back its output tensor's memory (valid until the request runs again: the caller
    copies it with ``np.array``)."""
    return request.infer({0: blob}, share_inputs=True, share_outputs=True)[0]


def agreement_inputs(width: int, height: int) -> Floats:
    """The fixed network inputs the runtimes are compared on (values in -1..1)."""
    rng = np.random.default_rng(0)
    noise = rng.uniform(-1, 1, (3, height, width)).astype(np.float32)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    smooth = np.stack([np.sin(xs / width * np.pi * (c + 1)) * np.cos(ys / height * np.pi)
                       for c in range(3)]).astype(np.float32)
    return np.stack([noise, smooth, 0.7 * smooth + 0.3 * noise]).astype(np.float32)


def agreement(reference: Callable[[Floats], Floats], candidate: Callable[[Floats], Floats],
              width: int, height: int) -> float:
    """The smallest cosine between the two runtimes' templates on the fixed inputs."""
    x = agreement_inputs(width, height)
    a = reference(x).astype(np.float64)
    b = candidate(x).astype(np.float64)
    if a.shape != b.shape or not np.isfinite(b).all():
        return -1.0
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    if not (norms > 0).all():
        return -1.0
    return float(np.min(np.sum(a * b, axis=1) / norms))


def choose_embedder(
    runtime: Runtime, path: Path, threads: int, reference: Callable[[Floats], Floats],
    input_size: tuple[int, int], *, on_cpu: bool,
) -> tuple[OpenVinoEmbedder | None, str]:
    """The OpenVINO embedder to use, or None for ONNX Runtime's, and why (module docstring).

    Args:
        runtime: the ``embedder_runtime`` setting.
        path: the embedder graph (ONNX).
        threads: the engine's intra-op threads.
        reference: ONNX Runtime's embedder (network input -> templates).
        input_size: the embedder's input width and height.
        on_cpu: ONNX Runtime runs the embedder on the CPU (not CUDA).

    Raises:
        PackError: ``runtime="openvino"`` and OpenVINO is absent (``runtime_unavailable``),
            cannot compile or run the graph (``runtime_unloadable``) or gives other templates
            (``runtime_disagrees``).
    """
    if runtime == "onnxruntime":
        return None, "embedder_runtime=onnxruntime"
    if runtime == "auto" and not on_cpu:
        return None, "ONNX Runtime runs the embedder on CUDA"
    try:
        embedder = OpenVinoEmbedder(path, threads)
        try:
            cosine = agreement(reference, embedder.run, *input_size)
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses of its own
            raise PackError("runtime_unloadable",
                            f"{path.name}: OpenVINO cannot run it: {exc}") from exc
        if cosine < AGREEMENT:
            raise PackError("runtime_disagrees",
                            f"{path.name}: OpenVINO's templates differ from ONNX Runtime's "
                            f"(cosine {cosine:.6f} < {AGREEMENT})")
    except PackError as exc:
        if runtime == "openvino":
            raise
        log.warning("embedder runtime auto: ONNX Runtime, not OpenVINO (%s: %s)", exc.code,
                    exc.message)
        return None, f"OpenVINO not used: {exc.message}"
    return embedder, f"OpenVINO, cosine {cosine:.7f} to ONNX Runtime on fixed inputs"
