"""The model pack manifest: what a pack holds, how each model is fed, and under which licence.

A pack is a folder with ``manifest.json`` (this Struct, as JSON), the ONNX files it lists and
its licence text. Every file carries the sha256 of its installed bytes, checked whenever the
pack is loaded, so a tampered or partial pack is refused before any model runs. The model id
of each role comes from the sha256 of the file as published (before any install-time rewrite),
so it names the weights, not the machine they were installed on.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Literal

import msgspec

from server.errors import PackError

MANIFEST_NAME = "manifest.json"
PACK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""A pack name is a plain folder name under the model root."""
FORMAT_VERSION = 1

Point = tuple[float, float]


class PackFile(msgspec.Struct, frozen=True, kw_only=True):
    """One file of the pack."""

    path: str
    """Relative path inside the pack folder (no ``..``, no absolute path)."""
    sha256: str
    """sha256 of the installed bytes."""
    source_sha256: str = ""
    """sha256 of the file as published, when the installer rewrote it (dynamic batch)."""


class Normalisation(msgspec.Struct, frozen=True, kw_only=True):
    """How pixels become network input: ``(pixel - mean) / std``, per channel in ``colour``
    order, laid out ``N x 3 x H x W``."""

    colour: Literal["rgb", "bgr"] = "rgb"
    mean: float = 127.5
    std: float = 128.0


class PriorLayout(msgspec.Struct, frozen=True, kw_only=True):
    """SSD prior boxes (see :mod:`server.recognition.ssd`)."""

    min_sizes: list[list[float]]
    steps: list[int]
    centre_variance: float = 0.1
    size_variance: float = 0.2


class DetectorSpec(msgspec.Struct, frozen=True, kw_only=True):
    """The face detector role."""

    kind: Literal["ssd", "scrfd"]
    file: str
    model_id: str
    input_size: tuple[int, int]
    """``(width, height)`` of the network input."""
    input_name: str = "input"
    norm: Normalisation = msgspec.field(default_factory=Normalisation)
    batch: Literal["dynamic", "fixed"] = "dynamic"
    """``dynamic``: all tiles of a frame go in one call; ``fixed``: one call per tile."""
    score_threshold: float = 0.5
    nms_iou: float = 0.4
    tiled: bool = True
    """Run overlapping full-resolution tiles besides the whole-frame pass."""
    tile_overlap: int = 64
    """Overlap of neighbouring tiles, in level pixels (the largest face a level must see whole)."""
    min_face_px: float = 24.0
    """Smallest face side, in detector input pixels, that the detector finds reliably. A
    camera that only needs faces of ``F`` frame pixels and up is tiled from the scale
    ``min_face_px / F`` (fewer tiles, see ``tiling.finest_scale``). 24 is measured for the
    FacePlugin SSD on composed 1280x720 scenes (``make bench``'s faces): recall 1.0 at 21-24
    input pixels, 0.87 at 14-20, 0.07 at 6."""
    verify_contexts: list[float] = msgspec.field(default_factory=list)
    """Second looks: each candidate is cut out again, centred, with this many face sizes of
    context, scaled to fill the input, and kept only if the detector finds it there too, at
    every listed context (empty disables). Removes most false detections that tiles of
    cluttered scenes produce, since texture rarely looks like a face at two framings."""
    verify_below: float | None = None
    """Only candidates scoring below this get the second looks; better ones are kept as
    found (``None``: every candidate). The looks cost one detector input per candidate and
    context, most of them spent confirming clear faces."""
    box_encoding: Literal["corners", "offsets"] = "corners"
    """SSD only: ``corners`` when the graph decodes its priors itself (relative x1, y1, x2,
    y2), ``offsets`` when the raw SSD offsets need ``priors``."""
    score_output: str = "scores"
    box_output: str = "boxes"
    priors: PriorLayout | None = None
    strides: list[int] = msgspec.field(default_factory=lambda: [8, 16, 32])
    """SCRFD only: feature strides, in output order."""
    anchors_per_cell: int = 2
    """SCRFD only."""


class LandmarkSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Where the five alignment points come from."""

    kind: Literal["dlib68", "detector", "onnx68"]
    """``dlib68``: dlib's 68-point predictor (face-recognition-models on PyPI) on the detected
    box; ``detector``: the detector's own five points (SCRFD); ``onnx68``: the pack's own
    68-point model (``file``) on the detected box, cut out and shrunk to ``input_size`` grey
    (pixel / 256), giving each point as a fraction of the box's width and height."""
    file: str | None = None
    """``onnx68`` only: the landmark model's file."""
    input_size: tuple[int, int] = (64, 64)
    """``onnx68`` only: the model's input, width x height."""
    batch: Literal["dynamic", "fixed"] = "fixed"
    """``onnx68`` only."""


class EmbedderSpec(msgspec.Struct, frozen=True, kw_only=True):
    """The face embedder role."""

    file: str
    model_id: str
    input_size: tuple[int, int] = (112, 112)
    input_name: str = "input"
    norm: Normalisation = msgspec.field(default_factory=Normalisation)
    batch: Literal["dynamic", "fixed"] = "dynamic"
    template: list[Point]
    """Five destination points of the alignment, in chip pixels (ArcFace order)."""
    embedding_size: int = 512


class PackManifest(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the engine and the operator need to know about a pack."""

    format: int = FORMAT_VERSION
    name: str
    """Folder name under the model root, e.g. ``faceplugin``."""
    version: str
    description: str = ""
    priority: int = 0
    """Higher is preferred by ``engine=auto`` (measured accuracy decides the order)."""
    licence: str
    """Short licence name, e.g. ``MIT``."""
    licence_file: str = ""
    """Licence text inside the pack, shown by ``vigil models list --licence``."""
    licence_notice: str = ""
    """What an operator must know before use (e.g. non-commercial research only)."""
    provenance: str
    """What is and is not known of where the weights and their training data come from."""
    source: str = ""
    """Where the pack was installed from (package name and version, file name)."""
    files: list[PackFile]
    detector: DetectorSpec
    landmarks: LandmarkSpec
    embedder: EmbedderSpec


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_id(prefix: str, sha256: str) -> str:
    """Stable model id: ``<prefix>@<first 12 hex digits of the published file's sha256>``."""
    return f"{prefix}@{sha256[:12]}"


def safe_relative(path: str) -> str:
    """Refuse absolute paths and ``..`` in a pack's file list (a manifest is untrusted)."""
    p = Path(path)
    if not path or p.is_absolute() or ".." in p.parts or "\\" in path:
        raise PackError("pack_invalid", f"unsafe file path in manifest: {path!r}")
    return p.as_posix()


def read_manifest(folder: Path) -> PackManifest:
    """Parse ``manifest.json`` of a pack folder.

    Raises:
        PackError: ``pack_not_found`` (no manifest) or ``pack_invalid`` (bad JSON or fields).
    """
    path = folder / MANIFEST_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise PackError("pack_not_found", f"no {MANIFEST_NAME} in {folder}") from exc
    except OSError as exc:
        raise PackError("pack_invalid", f"cannot read {path}: {exc}") from exc
    try:
        manifest = msgspec.json.decode(raw, type=PackManifest)
    except msgspec.DecodeError as exc:
        raise PackError("pack_invalid", f"{path}: {exc}") from exc
    if manifest.format != FORMAT_VERSION:
        raise PackError("pack_invalid", f"{path}: manifest format {manifest.format} is not "
                        f"{FORMAT_VERSION}")
    if not PACK_NAME.fullmatch(manifest.name):
        raise PackError("pack_invalid", f"{path}: pack name {manifest.name!r} is not a plain "
                        "folder name (letters, digits, '.', '_', '-')")
    if manifest.licence_file:
        safe_relative(manifest.licence_file)
    listed = {safe_relative(f.path) for f in manifest.files}
    roles = [("detector", manifest.detector.file), ("embedder", manifest.embedder.file)]
    if manifest.landmarks.kind == "onnx68":
        if manifest.landmarks.file is None:
            raise PackError("pack_invalid", f"{path}: onnx68 landmarks need their model file")
        roles.append(("landmark", manifest.landmarks.file))
    for role, file in roles:
        if safe_relative(file) not in listed:
            raise PackError("pack_invalid", f"{path}: the {role} file {file} is not listed")
    if len(manifest.embedder.template) != 5:
        raise PackError("pack_invalid", f"{path}: the alignment template needs five points")
    return manifest


def verify_files(folder: Path, manifest: PackManifest) -> None:
    """Check every listed file against its sha256.

    Raises:
        PackError: ``pack_incomplete`` (a file is missing) or ``pack_tampered`` (a checksum
            differs).
    """
    for entry in manifest.files:
        path = folder / safe_relative(entry.path)
        if not path.is_file():
            raise PackError("pack_incomplete", f"pack {manifest.name}: {entry.path} is missing")
        actual = sha256_file(path)
        if actual != entry.sha256:
            raise PackError(
                "pack_tampered",
                f"pack {manifest.name}: {entry.path} has sha256 {actual[:16]}..., the manifest "
                f"says {entry.sha256[:16]}...; reinstall the pack from a trusted source",
            )


def write_manifest(folder: Path, manifest: PackManifest) -> None:
    """Write ``manifest.json`` (indented, for people reading it)."""
    data = msgspec.json.format(msgspec.json.encode(manifest), indent=2)
    (folder / MANIFEST_NAME).write_bytes(data + b"\n")
