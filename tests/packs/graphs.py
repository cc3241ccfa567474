"""Small ONNX graphs with the signatures of InsightFace's SCRFD detector and ArcFace recogniser.

No real InsightFace pack exists on the development machine, so the tests build stand-ins with
``onnx.helper`` that compute something checkable:

- ``scrfd``: input ``[1, 3, S, S]``; per stride (8, 16, 32) a score map (sigmoid of the mean
  brightness of each cell: a white cell on black scores ~1), constant box distances and
  constant five-point offsets, laid out ``[1, cells * 2 anchors, C]`` like SCRFD's batched
  exports, each flattened with a ``Reshape(x, [1, -1, C])`` that the installer must make
  dynamic;
- ``arcface``: input ``[1, 3, 112, 112]`` -> 14x14 average pool -> ``Reshape(x, [1, -1])`` ->
  a fixed random projection -> ``[1, 512]``;
- ``genderage``: a 96x96 model of the kind buffalo packs also hold, which routing must ignore.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

STRIDES = (8, 16, 32)
ANCHORS = 2
DIST = (0.5, 0.5, 1.5, 1.5)
"""Box distances (left, top, right, bottom) in stride units from the anchor centre (the
cell's top-left corner): a stride-8 detection at cell corner (x, y) spans x-4..x+12."""
KPS = ((2.0, 3.0), (6.0, 3.0), (4.0, 5.0), (2.5, 7.0), (5.5, 7.0))
"""Five landmarks in pixels from the anchor centre, for stride 8 (divided by the stride)."""


def _const(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array), name)


def scrfd(path: Path, size: int = 64, opset: int = 13, batch_axis: bool = True) -> None:
    """Write the SCRFD stand-in (see module docstring).

    ``batch_axis=False`` writes outputs ``[cells, C]`` like the real ``det_10g.onnx`` (which
    cannot be rewritten to take batches) and an input with dynamic height and width.
    """
    lead = [1, -1] if batch_axis else [-1]
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    outputs: dict[str, list[str]] = {"score": [], "bbox": [], "kps": []}
    for stride in STRIDES:
        s = str(stride)
        inits += [
            _const(f"mean_w{s}", np.full((1, 3, stride, stride), 1 / (3 * stride * stride),
                                         np.float32)),
            _const(f"gain{s}", np.array(10.0, np.float32)),
            _const(f"half{s}", np.array(0.5, np.float32)),
            _const(f"zero_w{s}_4", np.zeros((ANCHORS * 4, 1, 1, 1), np.float32)),
            _const(f"dist_b{s}", np.tile(np.array(DIST, np.float32), ANCHORS)),
            _const(f"zero_w{s}_10", np.zeros((ANCHORS * 10, 1, 1, 1), np.float32)),
            _const(f"kps_b{s}", np.tile(np.array(KPS, np.float32).ravel() / stride, ANCHORS)),
            _const(f"shape1_{s}", np.array([*lead, 1], np.int64)),
            _const(f"shape4_{s}", np.array([*lead, 4], np.int64)),
            _const(f"shape10_{s}", np.array([*lead, 10], np.int64)),
        ]
        nodes += [
            helper.make_node("Conv", ["input.1", f"mean_w{s}"], [f"avg{s}"],
                             kernel_shape=[stride, stride], strides=[stride, stride]),
            helper.make_node("Sub", [f"avg{s}", f"half{s}"], [f"c{s}"]),
            helper.make_node("Mul", [f"c{s}", f"gain{s}"], [f"g{s}"]),
            helper.make_node("Sigmoid", [f"g{s}"], [f"p{s}"]),
            helper.make_node("Concat", [f"p{s}", f"p{s}"], [f"p2_{s}"], axis=1),
            helper.make_node("Transpose", [f"p2_{s}"], [f"pt{s}"], perm=[0, 2, 3, 1]),
            helper.make_node("Reshape", [f"pt{s}", f"shape1_{s}"], [f"score_{s}"]),
            helper.make_node("Conv", [f"avg{s}", f"zero_w{s}_4", f"dist_b{s}"], [f"d{s}"]),
            helper.make_node("Transpose", [f"d{s}"], [f"dt{s}"], perm=[0, 2, 3, 1]),
            helper.make_node("Reshape", [f"dt{s}", f"shape4_{s}"], [f"bbox_{s}"]),
            helper.make_node("Conv", [f"avg{s}", f"zero_w{s}_10", f"kps_b{s}"], [f"k{s}"]),
            helper.make_node("Transpose", [f"k{s}"], [f"kt{s}"], perm=[0, 2, 3, 1]),
            helper.make_node("Reshape", [f"kt{s}", f"shape10_{s}"], [f"kps_{s}"]),
        ]
        outputs["score"].append(f"score_{s}")
        outputs["bbox"].append(f"bbox_{s}")
        outputs["kps"].append(f"kps_{s}")
    outs = []
    for kind, width in (("score", 1), ("bbox", 4), ("kps", 10)):
        for stride, name in zip(STRIDES, outputs[kind], strict=True):
            cells = (size // stride) ** 2 * ANCHORS
            shape: list[int | str] = [1, cells, width] if batch_axis else [f"n{stride}", width]
            outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
    in_shape: list[int | str] = [1, 3, size, size] if batch_axis else [1, 3, "?", "?"]
    graph = helper.make_graph(
        nodes, "scrfd_standin",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, in_shape)],
        outs, initializer=inits,
    )
    _save(graph, path, opset)


def arcface(path: Path, dim: int = 512, seed: int = 0, opset: int = 13) -> None:
    """Write the ArcFace stand-in (see module docstring)."""
    rng = np.random.default_rng(seed)
    inits = [
        _const("flat_shape", np.array([1, -1], np.int64)),
        _const("proj", rng.standard_normal((3 * 8 * 8, dim)).astype(np.float32)),
    ]
    nodes = [
        helper.make_node("AveragePool", ["data"], ["pooled"], kernel_shape=[14, 14],
                         strides=[14, 14]),
        helper.make_node("Reshape", ["pooled", "flat_shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "proj"], ["fc1"]),
    ]
    graph = helper.make_graph(
        nodes, "arcface_standin",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, [1, dim])],
        initializer=inits,
    )
    _save(graph, path, opset)


def batch_mixing_embedder(path: Path, dim: int = 512, opset: int = 13) -> None:
    """An embedder whose output mixes the rows of a batch (mean over axis 0), so the installer's
    batch check must fail and keep it at batch size 1."""
    rng = np.random.default_rng(1)
    inits = [
        _const("flat_shape", np.array([1, -1], np.int64)),
        _const("proj", rng.standard_normal((3 * 8 * 8, dim)).astype(np.float32)),
    ]
    nodes = [
        helper.make_node("AveragePool", ["data"], ["pooled"], kernel_shape=[14, 14],
                         strides=[14, 14]),
        helper.make_node("ReduceMean", ["pooled"], ["mixed"], axes=[0], keepdims=1),
        helper.make_node("Add", ["pooled", "mixed"], ["both"]),
        helper.make_node("Reshape", ["both", "flat_shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "proj"], ["fc1"]),
    ]
    graph = helper.make_graph(
        nodes, "mixing_standin",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, [1, dim])],
        initializer=inits,
    )
    _save(graph, path, opset)


def genderage(path: Path, opset: int = 13) -> None:
    """A 96x96 attribute model (must be ignored by routing)."""
    nodes = [
        helper.make_node("GlobalAveragePool", ["data"], ["g"]),
        helper.make_node("Flatten", ["g"], ["fc1"]),
    ]
    graph = helper.make_graph(
        nodes, "genderage_standin",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 96, 96])],
        [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, [1, 3])],
    )
    _save(graph, path, opset)


def _save(graph: onnx.GraphProto, path: Path, opset: int) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def buffalo(folder: Path, size: int = 64) -> Path:
    """A buffalo-style folder: ``det_tiny.onnx``, ``w600k_tiny.onnx``, ``genderage.onnx``."""
    folder.mkdir(parents=True, exist_ok=True)
    scrfd(folder / "det_tiny.onnx", size)
    arcface(folder / "w600k_tiny.onnx")
    genderage(folder / "genderage.onnx")
    return folder
