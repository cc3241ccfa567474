"""Install-time rewrite of an ONNX model's fixed batch dimension into a dynamic one.

Exported face models often declare ``[1, 3, H, W]`` inputs and flatten with a constant
``Reshape(x, [1, -1])``, so ONNX Runtime refuses a batch of tiles or faces. The rewrite names
the first dimension of the input and outputs ``batch`` and turns constant reshape targets
``[1, ...]`` into ``[0, ...]`` (0 copies the input's batch size). It is then checked: batch-1
outputs must equal the original model's, and every row of a batch of three must equal the
same input run alone. A model that fails the check is installed unchanged and run one item at
a time (``batch: fixed`` in the manifest).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

log = logging.getLogger(__name__)

BATCH = "batch"
_ATOL = 1e-4


def _first_dim_is_one(value: Any) -> bool:
    dims = value.type.tensor_type.shape.dim
    return len(dims) >= 2 and dims[0].dim_value == 1


def rewrite(model: Any) -> bool:
    """Make the batch dimension of ``model`` (an ``onnx.ModelProto``) dynamic in place.

    Returns:
        ``False`` when the graph has no fixed batch dimension to rewrite (e.g. outputs
        without a batch axis), ``True`` when it was rewritten.
    """
    graph = model.graph
    init_names = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in init_names]
    if not inputs or not all(_first_dim_is_one(i) for i in inputs):
        return False
    if not all(_first_dim_is_one(o) for o in graph.output):
        return False
    for value in [*inputs, *graph.output]:
        dim = value.type.tensor_type.shape.dim[0]
        dim.Clear()
        dim.dim_param = BATCH
    del graph.value_info[:]  # inferred shapes carry the old batch size; ORT re-infers them
    constants = {i.name: i for i in graph.initializer}
    const_nodes = {n.output[0]: n for n in graph.node if n.op_type == "Constant"}
    for node in graph.node:
        if node.op_type != "Reshape" or len(node.input) < 2:
            continue
        name = node.input[1]
        if name in constants:
            shape = numpy_helper.to_array(constants[name])
            if shape.ndim == 1 and len(shape) >= 2 and shape[0] == 1:
                shape = shape.copy()
                shape[0] = 0
                constants[name].CopyFrom(numpy_helper.from_array(shape, name))
        elif name in const_nodes:
            attr = const_nodes[name].attribute[0]
            shape = numpy_helper.to_array(attr.t)
            if shape.ndim == 1 and len(shape) >= 2 and shape[0] == 1:
                shape = shape.copy()
                shape[0] = 0
                attr.t.CopyFrom(numpy_helper.from_array(shape))
    return True


def _session(data: bytes) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


def _run(sess: ort.InferenceSession, x: np.ndarray[Any, Any]) -> list[np.ndarray[Any, Any]]:
    return [np.asarray(o) for o in sess.run(None, {sess.get_inputs()[0].name: x})]


def verify_batching(original: bytes, rewritten: bytes, input_shape: tuple[int, ...]) -> bool:
    """True when the rewritten model agrees with the original at batch 1 and with itself
    between a batch of three and three single runs (random inputs, tolerance 1e-4)."""
    try:
        before, after = _session(original), _session(rewritten)
        rng = np.random.default_rng(0)
        batch = rng.uniform(-1, 1, size=(3, *input_shape[1:])).astype(np.float32)
        singles = [_run(after, batch[i : i + 1]) for i in range(3)]
        reference = _run(before, batch[:1])
        together = _run(after, batch)
    except Exception as exc:  # ORT raises its own untyped errors on a broken graph
        log.info("batch rewrite not usable: %s", exc)
        return False
    for ref, one in zip(reference, singles[0], strict=True):
        if ref.shape != one.shape or not np.allclose(ref, one, atol=_ATOL, rtol=1e-3):
            return False
    for i in range(3):
        for whole, one in zip(together, singles[i], strict=True):
            if whole.shape[0] != 3 or not np.allclose(whole[i : i + 1], one, atol=_ATOL,
                                                      rtol=1e-3):
                return False
    return True


def install_model(src: Path, dst: Path, input_shape: tuple[int, ...]) -> bool:
    """Copy an ONNX model into a pack, with a dynamic batch dimension where that checks out.

    Args:
        src: the published model file.
        dst: where the installed file goes.
        input_shape: a concrete input shape ``(1, C, H, W)`` for the check.

    Returns:
        ``True`` when the installed model takes any batch size, ``False`` when it was
        copied unchanged (one item per call).

    Raises:
        onnx.onnx_cpp2py_export.checker.ValidationError, google.protobuf.message.DecodeError:
            the file is not a valid ONNX model (the installer turns these into PackError).
    """
    original = src.read_bytes()
    model = onnx.load_from_string(original)
    if rewrite(model):
        rewritten = model.SerializeToString()
        if verify_batching(original, rewritten, input_shape):
            dst.write_bytes(rewritten)
            return True
        log.warning("%s: dynamic batch rewrite failed its check; kept batch size 1", src.name)
    dst.write_bytes(original)
    return _already_dynamic(model) and verify_batching(original, original, input_shape)


def _already_dynamic(model: Any) -> bool:
    graph = model.graph
    init_names = {i.name for i in graph.initializer}
    for value in [*[i for i in graph.input if i.name not in init_names], *graph.output]:
        dims = value.type.tensor_type.shape.dim
        if len(dims) < 2 or dims[0].dim_value > 0:
            return False
    return True
