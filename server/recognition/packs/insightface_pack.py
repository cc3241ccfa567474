"""InsightFace model packs (``buffalo_l``, ``buffalo_s``, ``buffalo_sc``, ...) as Vigil packs.

A buffalo pack is a folder (or zip) of ONNX files without a manifest. Each file is routed by
its graph signature, as insightface's model zoo does: a SCRFD detector has ``3 x strides``
outputs (scores, boxes[, five landmarks]); an ArcFace recogniser takes a square ``N x 3 x S x S``
input (``S`` = 112) and gives one ``N x D`` embedding. Other models of the pack (106/68-point
landmarks, gender/age) are not used and not installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnx

from server.errors import PackError
from server.recognition.align import ARCFACE_112
from server.recognition.packs.manifest import (
    DetectorSpec,
    EmbedderSpec,
    LandmarkSpec,
    Normalisation,
    PackFile,
    PackManifest,
    model_id,
)

LICENCE_NOTICE = (
    "InsightFace pretrained models are released for NON-COMMERCIAL RESEARCH PURPOSES ONLY "
    "(InsightFace model zoo licence). Using them in an operational deployment needs a licence "
    "from InsightFace."
)

LICENCE_TEXT = (
    LICENCE_NOTICE
    + "\n\nThe code of insightface is MIT-licensed; the pretrained model files are not: see "
    "https://github.com/deepinsight/insightface#license (read offline: the insightface "
    "package's README).\n"
)

DETECTOR_SIZE = (640, 640)
"""Input size used with SCRFD graphs whose height and width are dynamic (insightface's
default detection size)."""


class Routed:
    """What one ONNX file of a buffalo pack is."""

    def __init__(self, path: Path, model: Any) -> None:
        self.path = path
        graph = model.graph
        init = {i.name for i in graph.initializer}
        self.inputs = [i for i in graph.input if i.name not in init]
        self.outputs = list(graph.output)
        self.first_ops = [n.op_type for n in graph.node[:8]]

    def input_dims(self) -> list[int | str]:
        dims = self.inputs[0].type.tensor_type.shape.dim
        return [d.dim_value if d.dim_value > 0 else (d.dim_param or "?") for d in dims]

    @property
    def is_detector(self) -> bool:
        return len(self.inputs) == 1 and len(self.outputs) in (6, 9, 10, 15)

    @property
    def is_embedder(self) -> bool:
        dims = self.input_dims()
        return (
            len(self.inputs) == 1
            and len(self.outputs) == 1
            and len(dims) == 4
            and isinstance(dims[2], int)
            and dims[2] == dims[3]
            and dims[2] >= 112
            and dims[2] % 16 == 0
        )


def route(folder: Path) -> tuple[Routed, Routed] | None:
    """The (detector, embedder) of a buffalo-style folder, or ``None`` if it is not one."""
    detectors: list[Routed] = []
    embedders: list[Routed] = []
    for path in sorted(folder.glob("*.onnx")):
        try:
            model = onnx.load(str(path), load_external_data=False)
        except Exception as exc:  # protobuf raises DecodeError and friends
            raise PackError("pack_invalid", f"{path.name} is not a readable ONNX model") from exc
        routed = Routed(path, model)
        if routed.is_detector:
            detectors.append(routed)
        elif routed.is_embedder:
            embedders.append(routed)
    if not detectors or not embedders:
        return None
    # Several candidates (rare): the largest file is the strongest model of its role.
    best_det = max(detectors, key=lambda r: r.path.stat().st_size)
    best_emb = max(embedders, key=lambda r: r.path.stat().st_size)
    return best_det, best_emb


def _detector_size(det: Routed) -> tuple[int, int]:
    dims = det.input_dims()
    if len(dims) == 4 and isinstance(dims[2], int) and isinstance(dims[3], int):
        return dims[3], dims[2]
    return DETECTOR_SIZE


def _strides(det: Routed) -> tuple[list[int], int]:
    n = len(det.outputs)
    return ([8, 16, 32], 2) if n in (6, 9) else ([8, 16, 32, 64, 128], 1)


def _embedder_norm(emb: Routed) -> Normalisation:
    # insightface's rule: graphs that start by subtracting and scaling normalise themselves.
    if "Sub" in emb.first_ops and "Mul" in emb.first_ops:
        return Normalisation(colour="rgb", mean=0.0, std=1.0)
    return Normalisation(colour="rgb", mean=127.5, std=127.5)


def input_shape(routed: Routed, size: tuple[int, int]) -> tuple[int, ...]:
    """A concrete ``(1, 3, H, W)`` input shape for the batch check."""
    return (1, 3, size[1], size[0])


def manifest(
    name: str,
    det: Routed,
    emb: Routed,
    files: list[PackFile],
    batch: dict[str, bool],
    source_sha: dict[str, str],
    source: str,
) -> PackManifest:
    """The manifest the installer writes for an InsightFace pack."""
    strides, anchors = _strides(det)
    with_kps = len(det.outputs) in (9, 15)
    emb_dims = emb.outputs[0].type.tensor_type.shape.dim
    dim = emb_dims[-1].dim_value if emb_dims and emb_dims[-1].dim_value > 0 else 512
    size = int(emb.input_dims()[2])
    big = emb.path.stat().st_size > 100_000_000
    return PackManifest(
        name=name,
        version="unknown",
        description=f"InsightFace {name}: SCRFD {det.path.name} + ArcFace {emb.path.name}",
        # Not measured here (no pack on the development machine): ordered by InsightFace's
        # published accuracy, ResNet-50 recognisers above the MobileFaceNet ones, both above
        # FacePlugin (priority 10).
        priority=30 if big else 20,
        licence="InsightFace non-commercial research licence",
        licence_file="LICENSE",
        licence_notice=LICENCE_NOTICE,
        provenance=(
            f"InsightFace model zoo pack {name}, installed from {source}. InsightFace documents "
            "its w600k recognisers as trained on WebFace600K (a subset of the WebFace260M "
            "web-crawled celebrity photos); consent of the people pictured is not documented. "
            "Checksums were recorded at install from the files given: Vigil holds no upstream "
            "checksum list for them."
        ),
        source=source,
        files=files,
        detector=DetectorSpec(
            kind="scrfd",
            file=det.path.name,
            model_id=model_id(f"insightface-{det.path.stem}", source_sha[det.path.name]),
            input_size=_detector_size(det),
            input_name=det.inputs[0].name,
            norm=Normalisation(colour="rgb", mean=127.5, std=128.0),
            batch="dynamic" if batch[det.path.name] else "fixed",
            score_threshold=0.5,
            nms_iou=0.4,
            tiled=True,
            tile_overlap=min(_detector_size(det)) // 4,
            strides=strides,
            anchors_per_cell=anchors,
        ),
        landmarks=LandmarkSpec(kind="detector" if with_kps else "dlib68"),
        embedder=EmbedderSpec(
            file=emb.path.name,
            model_id=model_id(f"insightface-{emb.path.stem}-{dim}", source_sha[emb.path.name]),
            input_size=(size, size),
            input_name=emb.inputs[0].name,
            norm=_embedder_norm(emb),
            batch="dynamic" if batch[emb.path.name] else "fixed",
            template=[(x * size / 112, y * size / 112) for x, y in ARCFACE_112],
            embedding_size=dim,
        ),
    )
