"""The FacePlugin pack: the ONNX models of the npm package ``faceplugin-face-recognition-js``.

The package ships no manifest, so the installer recognises it by content (its
``package.json`` name, or the ``fr_detect.onnx`` / ``fr_feature.onnx`` pair) and writes one.
The files are pinned by sha256 (the published 0.0.1 files): any other bytes are refused.
"""

from __future__ import annotations

import json
from pathlib import Path

from server.recognition.align import ARCFACE_112
from server.recognition.packs.manifest import (
    DetectorSpec,
    EmbedderSpec,
    LandmarkSpec,
    Normalisation,
    PackFile,
    PackManifest,
    PriorLayout,
    model_id,
)

NPM_PACKAGE = "faceplugin-face-recognition-js"
NPM_VERSION = "0.0.1"
NPM_INTEGRITY = (
    "sha512-shriXjd4zJHEwhK1jHK+bWo8Vv6Vu9B/w6RRsd4AFtNM/jaI2vhuOamOSMl9qQmLd8WlQ7dgqN+3C2iOi5pXWw=="
)
"""npm's integrity string of the 0.0.1 tarball, checked by the bootstrap after ``npm pack``."""

DETECTOR = "fr_detect.onnx"
EMBEDDER = "fr_feature.onnx"
LANDMARKS = "fr_landmark.onnx"
PINNED_SHA256 = {
    DETECTOR: "6c0256ccd3164f844736a401faf936ec2930764a87ae39442180887d0c5c8854",
    EMBEDDER: "87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581",
    LANDMARKS: "f10b0ba1d2a8a099adefede1ebf3733e44fe370715e7303dbeb7f59c02142258",
}
"""The published files (package version 0.0.1, folder ``model/``)."""

NORM = Normalisation(colour="rgb", mean=127.0, std=128.0)

LICENCE_NOTICE = (
    "MIT licence, as declared by the npm package (LICENSE in the pack). The publisher does not "
    "document the embedder's architecture, training data, or whether the people in that data "
    "consented: its provenance is unknown. Its accuracy is what `vigil eval` measures here."
)

PROVENANCE = (
    f"Files model/{DETECTOR}, model/{LANDMARKS} and model/{EMBEDDER} of the npm package "
    f"{NPM_PACKAGE} {NPM_VERSION} (publisher: Faceplugin-ltd; repository "
    "github.com/Faceplugin-ltd/FaceRecognition-LivenessDetection-Javascript), pinned by sha256. "
    "Known: the detector is an SSD-style network with the RFB-320 prior layout (320x240 "
    "input) whose graph decodes its own priors; the landmark model gives 68 points from a 64x64 "
    "grey cut of a detected box; the embedder takes 112x112 faces aligned to "
    "the standard five-point ArcFace template and gives 512-d vectors. Not documented: the "
    "training data of any of the models, its licence terms and consent, and any published accuracy."
)


def find_root(folder: Path) -> Path | None:
    """The folder holding the FacePlugin models inside ``folder``, or ``None``.

    Recognises the npm tarball layout (``package/package.json`` naming the package, models in
    ``package/model/``), the package folder itself, and a plain folder of the models.
    """
    for candidate in (folder / "package", folder):
        pkg = candidate / "package.json"
        if pkg.is_file():
            try:
                name = json.loads(pkg.read_text(encoding="utf-8")).get("name")
            except (ValueError, OSError, AttributeError):
                continue
            if name == NPM_PACKAGE and (candidate / "model" / DETECTOR).is_file():
                return candidate / "model"
    if (folder / DETECTOR).is_file() and (folder / EMBEDDER).is_file():
        return folder
    return None


def licence_file(models: Path) -> Path | None:
    """The package's LICENSE next to (npm layout: one level above) the models."""
    for candidate in (models / "LICENSE", models.parent / "LICENSE"):
        if candidate.is_file():
            return candidate
    return None


def manifest(files: list[PackFile], batch: dict[str, bool], source: str) -> PackManifest:
    """The manifest the installer writes for the FacePlugin pack."""
    return PackManifest(
        name="faceplugin",
        version=NPM_VERSION,
        description="FacePlugin SSD detector (tiled) + FacePlugin 68-point landmarks + 512-d "
        "ArcFace-template embedder",
        priority=10,
        licence="MIT",
        licence_file="LICENSE",
        licence_notice=LICENCE_NOTICE,
        provenance=PROVENANCE,
        source=source,
        files=files,
        detector=DetectorSpec(
            kind="ssd",
            file=DETECTOR,
            model_id=model_id("faceplugin-fr-detect", PINNED_SHA256[DETECTOR]),
            input_size=(320, 240),
            input_name="input",
            norm=NORM,
            batch="dynamic" if batch[DETECTOR] else "fixed",
            # The package's own settings are score 0.65 and IoU 0.4 for one pass; with tiles
            # and levels the same face is also found shifted (IoU 0.35-0.39 on composed
            # scenes), so overlaps above 0.3 are merged.
            score_threshold=0.65,
            nms_iou=0.3,
            tiled=True,
            tile_overlap=64,
            # On 40 composed frames (324 faces of 24-96 px): context 2 alone left 5 false
            # detections; adding 1.5 left 1, losing no face (context 4 lost one).
            verify_contexts=[2.0, 1.5],
            # The looks were ~30% of a frame's CPU, mostly confirming clear faces. On the
            # calibration half of lfw_dev (scenes harness, 60 frames x 4 faces at 64 and 40 px)
            # no false candidate scored 0.95 or more and 98.7-100% of true faces did; measured
            # on the evaluation half (100 frames per size): recall 400/400 -> 400/400 at 64 px
            # and 388/400 -> 397/400 at 40 px, false detections 0.06 -> 0.07 per frame,
            # detection CPU -30% (docs/operations.md, "Performance").
            verify_below=0.95,
            box_encoding="corners",
            priors=PriorLayout(
                min_sizes=[[10, 16, 24], [32, 48], [64, 96], [128, 192, 256]],
                steps=[8, 16, 32, 64],
            ),
        ),
        # The package's own landmark model, not dlib's predictor: aligned on its points the
        # embedder verifies better on lfw_dev (TAR at FMR 1e-4, 64 px live probes against
        # clean enrolment photos: 0.866 -> 0.906; clean pairs 0.926 -> 0.954) at the same
        # impostor thresholds, for ~1 ms a face against dlib's ~2 (docs/operations.md,
        # "Landmarks").
        landmarks=LandmarkSpec(kind="onnx68", file=LANDMARKS,
                               batch="dynamic" if batch[LANDMARKS] else "fixed"),
        embedder=EmbedderSpec(
            file=EMBEDDER,
            model_id=model_id("faceplugin-fr-feature-512", PINNED_SHA256[EMBEDDER]),
            input_size=(112, 112),
            input_name="input",
            norm=NORM,
            batch="dynamic" if batch[EMBEDDER] else "fixed",
            template=list(ARCFACE_112),
            embedding_size=512,
        ),
    )
