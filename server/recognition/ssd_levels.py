"""Whole pyramid levels through an SSD detector instead of overlapping tiles (camera frames).

The FacePlugin detector's graph takes a fixed 320x240 input because its last nodes decode the
box offsets against prior boxes baked in as constants for that size; everything before them
is convolutional. Cut at the raw outputs (face scores and SSD offsets), the same weights take
an input of any size, and the priors for that size come from :func:`~server.recognition.ssd.
make_priors`. A frame level then goes through the detector in one piece:

- no overlap is computed twice: the 12 tiles of a 1280x720 frame at ``min_face_px`` 40
  (9 of them at scale 0.6) cover 2.1x the pixels of the two whole levels that replace them;
- no face is cut by a tile edge, so a level sees faces from the detector's smallest
  (``min_face_px`` of the pack) to its largest priors, not only up to the tile overlap, and
  levels can be :data:`LEVEL_STEP` apart instead of 2x.

The cut graph is checked against the original when it is built (same scores and, decoded
here, the same boxes on a native-size input; one prior per output row at another size); a
graph that is not of this shape gives ``None`` and the engine keeps its tiles.
"""

from __future__ import annotations

import functools
import logging
from collections import deque
from pathlib import Path

import msgspec
import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
from onnx import helper

from server.recognition.packs.manifest import DetectorSpec
from server.recognition.ssd import decode_offsets, make_priors

log = logging.getLogger(__name__)

Floats = npt.NDArray[np.float32]

LEVEL_STEP = 4.0
"""Scale ratio between two whole levels: a level finds faces from the detector's smallest
(24 input pixels for FacePlugin) to at least 4x that, well inside its largest priors (256);
faces larger than that are found by the next level. Measured on composed scenes
(docs/operations.md, "Performance")."""
LEVEL_MAX_PIXELS = 2_100_000
"""Largest level (input pixels) run whole: a 1920x1080 frame at full resolution. Larger
images (enrolment photos) use tiles, whose input size is bounded per call."""
BAND_MARGIN = 1.25
"""A level other than the last keeps faces up to ``LEVEL_STEP x BAND_MARGIN`` times the
detector's smallest (the next level sees them at ``BAND_MARGIN`` x its smallest or more):
large boxes found at a fine level are mostly texture (on composed scenes at ``min_face_px``
24, 3 false detections of 126-228 px in 16 frames, none once banded)."""
ALIGN = 64
"""Levels are padded (black) to a multiple of the largest prior step, so that every feature
map has a whole number of cells and the prior centres are where the graph's cells are."""


def _ancestors(graph: onnx.GraphProto, outputs: list[str]) -> list[onnx.NodeProto]:
    """The nodes computing ``outputs``, in the graph's (topological) order."""
    producer = {o: n for n in graph.node for o in n.output}
    needed: set[int] = set()
    todo = deque(outputs)
    while todo:
        node = producer.get(todo.popleft())
        if node is None or id(node) in needed:
            continue
        needed.add(id(node))
        todo.extend(node.input)
    return [n for n in graph.node if id(n) in needed]


def _raw_offsets(graph: onnx.GraphProto, box_output: str) -> str | None:
    """The tensor of raw SSD offsets the box decoding starts from: the ``Concat`` of the
    per-stride ``Reshape``d regression heads nearest to the box output."""
    producer = {o: n for n in graph.node for o in n.output}
    seen: set[str] = set()
    todo = deque([box_output])
    while todo:
        name = todo.popleft()
        node = producer.get(name)
        if node is None or name in seen:
            continue
        seen.add(name)
        if node.op_type == "Concat" and len(node.input) > 1 and all(
            (p := producer.get(i)) is not None and p.op_type == "Reshape" for i in node.input
        ):
            return name
        todo.extend(node.input)
    return None


def free_size_graph(path: Path, spec: DetectorSpec) -> bytes | None:
    """The detector graph cut before its prior decoding, taking inputs of any size.

    Returns:
        The serialised graph with outputs ``[scores, offsets]`` (``1 x P x 2`` and
        ``1 x P x 4``, P priors for the input's size), or None when the graph is not an SSD
        whose decoding can be cut off this way.
    """
    if spec.kind != "ssd" or spec.priors is None or spec.box_encoding != "corners":
        return None
    model = onnx.load(str(path))
    graph = model.graph
    offsets = _raw_offsets(graph, spec.box_output)
    if offsets is None or len(graph.input) != 1:
        return None
    wanted = [spec.score_output, offsets]
    nodes = _ancestors(graph, wanted)
    used = {i for n in nodes for i in n.input}
    source = graph.input[0]
    dims = source.type.tensor_type.shape.dim
    if len(dims) != 4:
        return None
    feed = helper.make_tensor_value_info(
        source.name, source.type.tensor_type.elem_type,
        [dims[0].dim_param or dims[0].dim_value, dims[1].dim_value, "height", "width"])
    outs = [helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, ["batch", "priors", k])
            for name, k in zip(wanted, (2, 4), strict=True)]
    cut = helper.make_graph(nodes, f"{graph.name}-levels", [feed], outs,
                            [t for t in graph.initializer if t.name in used])
    free = helper.make_model(cut, opset_imports=model.opset_import, ir_version=model.ir_version)
    data: bytes = free.SerializeToString()
    return data if _agrees(path, data, spec) else None


def _agrees(path: Path, free: bytes, spec: DetectorSpec) -> bool:
    """The cut graph gives the original's scores and boxes at the native size, and one row
    per prior at another size."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        whole = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        cut = ort.InferenceSession(free, opts, providers=["CPUExecutionProvider"])
        tw, th = spec.input_size
        x = np.random.default_rng(0).uniform(-1, 1, (1, 3, th, tw)).astype(np.float32)
        names = [o.name for o in whole.get_outputs()]
        ref = dict(zip(names, whole.run(None, {whole.get_inputs()[0].name: x}), strict=True))
        scores, raw = cut.run(None, {cut.get_inputs()[0].name: x})
        boxes = decode_offsets(np.asarray(raw)[0], priors_for(tw, th, spec),
                               *_variances(spec))
        if not (np.allclose(np.asarray(ref[spec.score_output]), scores, atol=1e-4)
                and np.allclose(np.asarray(ref[spec.box_output])[0], boxes, atol=1e-4)):
            return False
        other = np.zeros((1, 3, 2 * ALIGN, 3 * ALIGN), dtype=np.float32)
        scores, raw = cut.run(None, {cut.get_inputs()[0].name: other})
        rows = len(priors_for(3 * ALIGN, 2 * ALIGN, spec))
        return bool(np.asarray(scores).shape[1] == rows == np.asarray(raw).shape[1])
    except Exception as exc:  # ORT raises untyped errors for graphs it cannot run
        log.info("detector graph cannot take whole levels: %s", exc)
        return False


def _variances(spec: DetectorSpec) -> tuple[float, float]:
    p = spec.priors
    assert p is not None
    return p.centre_variance, p.size_variance


def priors_for(width: int, height: int, spec: DetectorSpec) -> Floats:
    """The detector's prior boxes for a ``width x height`` input (cached per size)."""
    p = spec.priors
    assert p is not None
    return _priors(width, height, tuple(tuple(s) for s in p.min_sizes), tuple(p.steps))


@functools.lru_cache(maxsize=32)
def _priors(width: int, height: int, min_sizes: tuple[tuple[float, ...], ...],
            steps: tuple[int, ...]) -> Floats:
    priors = make_priors(width, height, [list(s) for s in min_sizes], list(steps))
    priors.setflags(write=False)
    return priors


class Level(msgspec.Struct, frozen=True):
    """One whole level: the frame scaled by ``scale`` to ``width x height``, padded to
    ``padded_w x padded_h``."""

    scale: float
    width: int
    height: int
    padded_w: int
    padded_h: int
    max_side: float = float("inf")
    """Largest box side kept from this level, in level pixels (see :data:`BAND_MARGIN`)."""


def plan_levels(width: int, height: int, input_w: int, input_h: int,
                finest: float = 1.0, detector_min_px: float = 24.0) -> list[Level] | None:
    """The whole levels for a ``width x height`` frame, finest first, or None when the
    finest is over :data:`LEVEL_MAX_PIXELS` (tiles then).

    Levels start at ``finest`` (see ``tiling.finest_scale``) and shrink by
    :data:`LEVEL_STEP` while they stay larger than the frame fitted into the detector's
    native input; that fitted frame (never enlarged) is always the last level, as in the
    tile plan. Every level but the last keeps faces up to ``detector_min_px`` x
    :data:`LEVEL_STEP` x :data:`BAND_MARGIN` of its pixels.
    """
    fit = min(input_w / width, input_h / height, 1.0)
    scales = []
    scale = min(1.0, max(finest, 1e-6))
    while scale > fit * 1.001:
        scales.append(scale)
        scale /= LEVEL_STEP
    scales.append(fit)
    levels = []
    band = detector_min_px * LEVEL_STEP * BAND_MARGIN
    for i, s in enumerate(scales):
        w, h = max(1, round(width * s)), max(1, round(height * s))
        levels.append(Level(s, w, h, -(-w // ALIGN) * ALIGN, -(-h // ALIGN) * ALIGN,
                            band if i < len(scales) - 1 else float("inf")))
    if levels[0].padded_w * levels[0].padded_h > LEVEL_MAX_PIXELS:
        return None
    return levels


def decode_level(scores: Floats, offsets: Floats, level: Level, spec: DetectorSpec,
                 ) -> tuple[Floats, Floats]:
    """Boxes (frame pixels) and face scores above the pack's threshold of one level's
    outputs (``P x 2`` scores, ``P x 4`` offsets)."""
    face = scores[:, 1] if scores.ndim == 2 and scores.shape[1] == 2 else scores.reshape(-1)
    keep = np.flatnonzero(face >= spec.score_threshold)
    priors = priors_for(level.padded_w, level.padded_h, spec)
    boxes = decode_offsets(offsets[keep], priors[keep], *_variances(spec))
    boxes *= np.array([level.padded_w, level.padded_h] * 2, dtype=np.float32)
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    banded = side <= level.max_side
    return (boxes[banded] / np.float32(level.scale)).astype(np.float32), \
        face[keep][banded].astype(np.float32)


FULL_SHARE = 0.5
"""Regions covering more than this share of a level's pixels: the level runs whole (fewer,
larger calls cost less than many overlapping crops)."""
REGION_MARGIN = 16
"""Level pixels added around every region: context for the detector at the region's edge."""
REGION_GRID = 32
"""Crops start on this grid of the level: the detector's feature cells (strides 8 to 32, the
priors of faces up to 96 px) then fall where the whole level's fall, so a face gets the box
it would get from the whole level (at an arbitrary offset boxes moved by up to ~8 %)."""


class Crop(msgspec.Struct, frozen=True):
    """One region of a level run through the detector alone: level pixels ``x .. x + width``,
    ``y .. y + height``, padded (black) to ``padded_w x padded_h``."""

    x: int
    y: int
    width: int
    height: int
    padded_w: int
    padded_h: int

    def inner_edges(self, level: Level) -> tuple[float, float, float, float]:
        """The crop's edges that lie inside the level (level pixels; +-inf for an edge on
        the level's border, where nothing is cut)."""
        inf = float("inf")
        return (self.x if self.x > 0 else -inf, self.y if self.y > 0 else -inf,
                self.x + self.width if self.x + self.width < level.width else inf,
                self.y + self.height if self.y + self.height < level.height else inf)


def _padded(length: int) -> int:
    return -(-length // ALIGN) * ALIGN


def _crop(rect: tuple[int, int, int, int], level: Level) -> Crop:
    """The crop for a level rectangle: widened to a multiple of :data:`ALIGN` inside the level
    where it fits (more context for free), black padding only at the level's far edges."""
    x1, y1, x2, y2 = rect
    pw, ph = _padded(x2 - x1), _padded(y2 - y1)
    x = max(0, min(x1, (level.width - pw) // REGION_GRID * REGION_GRID))
    y = max(0, min(y1, (level.height - ph) // REGION_GRID * REGION_GRID))
    return Crop(x, y, min(pw, level.width - x), min(ph, level.height - y), pw, ph)


def _area(rect: tuple[int, int, int, int]) -> int:
    return _padded(rect[2] - rect[0]) * _padded(rect[3] - rect[1])


def plan_regions(boxes: list[tuple[float, float, float, float]], level: Level,
                 ) -> list[Crop] | None:
    """The crops of ``level`` covering ``boxes`` (frame pixels), or None when they would cover
    more than :data:`FULL_SHARE` of it (run it whole).

    Overlapping regions are merged, and so are two regions whose union costs no more padded
    pixels than the two apart.
    """
    rects: list[tuple[int, int, int, int]] = []
    for x1, y1, x2, y2 in boxes:
        r = (max(0, int(x1 * level.scale) - REGION_MARGIN) // REGION_GRID * REGION_GRID,
             max(0, int(y1 * level.scale) - REGION_MARGIN) // REGION_GRID * REGION_GRID,
             min(level.width, int(np.ceil(x2 * level.scale)) + REGION_MARGIN),
             min(level.height, int(np.ceil(y2 * level.scale)) + REGION_MARGIN))
        if r[2] > r[0] and r[3] > r[1]:
            rects.append(r)
    # The crops cover at least the regions' union. When the grid cells wholly inside some
    # region (less than the union) are already over the share, the level runs whole, without
    # merging dozens of regions pair by pair first (a crowded or changing scene).
    g = REGION_GRID
    cells = np.zeros((level.height // g + 1, level.width // g + 1), dtype=bool)
    for x1, y1, x2, y2 in rects:
        cells[-(-y1 // g): y2 // g, -(-x1 // g): x2 // g] = True
    if int(cells.sum()) * g * g > FULL_SHARE * level.padded_w * level.padded_h:
        return None
    merged = True
    while merged and len(rects) > 1:
        merged = False
        for i in range(len(rects)):
            for j in range(i + 1, len(rects)):
                a, b = rects[i], rects[j]
                union = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                overlap = a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
                if overlap or _area(union) <= _area(a) + _area(b):
                    rects[i] = union
                    del rects[j]
                    merged = True
                    break
            if merged:
                break
    crops = [_crop(r, level) for r in rects]
    if sum(c.padded_w * c.padded_h for c in crops) > FULL_SHARE * level.padded_w * level.padded_h:
        return None
    return crops
