"""InsightFace packs: routing, SCRFD decoding, alignment and batching on stand-in graphs, and a
real buffalo pack when one is installed."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from server.recognition.align import ARCFACE_112
from server.recognition.onnx_engine import OnnxEngine
from server.recognition.packs import install, read_manifest
from server.recognition.scrfd import anchor_centres, decode_scrfd
from server.settings import load_settings
from tests.packs import graphs


def _patch_image(w: int, h: int, x: int, y: int) -> np.ndarray:
    """Black image with one white 8x8 cell at (x, y): the stand-in detector's 'face'."""
    image = np.zeros((h, w, 3), dtype=np.uint8)
    image[y : y + 8, x : x + 8] = 255
    return image


def test_buffalo_routing_and_manifest(buffalo_pack: Path) -> None:
    m = read_manifest(buffalo_pack)
    assert m.detector.kind == "scrfd"
    assert m.detector.file == "det_tiny.onnx"
    assert m.detector.input_name == "input.1"
    assert m.detector.input_size == (64, 64)
    assert m.detector.strides == [8, 16, 32]
    assert m.detector.anchors_per_cell == 2
    assert m.landmarks.kind == "detector"  # SCRFD with five-point outputs
    assert m.embedder.file == "w600k_tiny.onnx"
    assert m.embedder.embedding_size == 512
    assert m.embedder.norm.mean == 127.5
    assert m.embedder.norm.std == 127.5
    assert m.embedder.model_id.startswith("insightface-w600k_tiny-512@")
    # the fixed [1, -1] reshapes were rewritten and checked
    assert m.detector.batch == "dynamic"
    assert m.embedder.batch == "dynamic"
    assert "NON-COMMERCIAL" in m.licence_notice
    assert "NON-COMMERCIAL" in (buffalo_pack / "LICENSE").read_text()
    assert not (buffalo_pack / "genderage.onnx").exists()  # not used, not installed


def test_buffalo_zip_installs_the_same(buffalo_dir: Path, buffalo_pack: Path,
                                       tmp_path: Path) -> None:
    archive = tmp_path / "buffalo_tiny.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(buffalo_dir.iterdir()):
            zf.write(p, arcname=p.name)  # buffalo zips hold the files at the top level
    m = install(archive, tmp_path / "models")
    assert m.name == "buffalo_tiny"
    assert m.embedder.model_id == read_manifest(buffalo_pack).embedder.model_id


def test_scrfd_decoding_by_hand() -> None:
    centres = anchor_centres(64, 64, 8, 2)
    assert centres.shape == (128, 2)
    assert centres[:4].tolist() == [[0, 0], [0, 0], [8, 0], [8, 0]]
    n = 2 * 64
    scores = np.zeros((n, 1), np.float32)
    scores[2 * (3 * 8 + 5)] = 0.9  # first anchor of cell x=5, y=3
    boxes = np.ones((n, 4), np.float32)
    kps = np.zeros((n, 10), np.float32)
    kps[:, 0] = 0.5
    outputs = [scores, np.zeros((32, 1), np.float32), np.zeros((8, 1), np.float32),
               boxes, np.ones((32, 4), np.float32), np.ones((8, 4), np.float32),
               kps, np.zeros((32, 10), np.float32), np.zeros((8, 10), np.float32)]
    b, s, k = decode_scrfd(outputs, 64, 64, [8, 16, 32], 2, 0, 0.5)
    assert s.tolist() == pytest.approx([0.9])
    assert b.tolist() == [[32.0, 16.0, 48.0, 32.0]]
    assert k is not None
    assert k[0, :2].tolist() == [44.0, 24.0]
    with pytest.raises(ValueError, match="outputs"):
        decode_scrfd(outputs[:5], 64, 64, [8, 16, 32], 2, 0, 0.5)


def test_engine_on_stand_in_pack_finds_and_aligns(buffalo_pack: Path) -> None:
    engine = OnnxEngine(buffalo_pack, threads=1)
    image = _patch_image(160, 120, 40, 40)
    faces = engine.detect(image)
    assert len(faces) == 1
    face = faces[0]
    assert face.box == pytest.approx((36.0, 36.0, 52.0, 52.0))
    assert face.score > 0.99
    want = [(40 + x, 40 + y) for x, y in graphs.KPS]
    assert [tuple(p) for p in face.landmarks] == pytest.approx(want)
    chip = engine.chips(image, faces)[0]
    # the similarity maps the five points onto the ArcFace template (least squares)
    from server.recognition.align import similarity_transform

    m = similarity_transform(face.landmarks, ARCFACE_112)
    mapped = np.hstack([np.array(want), np.ones((5, 1))]) @ m.T
    assert np.abs(mapped - np.array(ARCFACE_112)).max() < 25
    assert chip.shape == (112, 112, 3)
    assert chip.max() == 255


def test_stand_in_batched_equals_single(buffalo_pack: Path) -> None:
    engine = OnnxEngine(buffalo_pack, threads=1)
    image = _patch_image(160, 120, 40, 40)
    image[16:24, 96:104] = 255  # a second 'face' in another tile
    faces = engine.detect(image)
    assert len(faces) == 2
    together = engine.embed(image, faces)
    for i, f in enumerate(faces):
        np.testing.assert_allclose(together[i], engine.embed(image, [f])[0], atol=1e-5)
    # the detector batch: every tile's outputs equal the tile run alone
    from server.recognition.onnx_engine import to_blob
    from server.recognition.tiling import cut_tiles, plan_tiles

    d = engine.manifest.detector
    tiles = plan_tiles(160, 120, 64, 64, d.tile_overlap)
    blob = to_blob(cut_tiles(image, tiles, 64, 64), d.norm)
    whole = engine._run_detector(blob)
    for i in range(len(tiles)):
        for a, b in zip(whole, engine._run_detector(blob[i : i + 1]), strict=True):
            np.testing.assert_allclose(a[i : i + 1], b, atol=1e-5)


def _real_pack() -> Path | None:
    """A real InsightFace pack: ``VIGIL_TEST_INSIGHTFACE_PACK`` (a buffalo folder or zip) or
    one installed in the default model root."""
    env = os.environ.get("VIGIL_TEST_INSIGHTFACE_PACK")
    if env:
        return Path(env)
    root = load_settings().model_path
    for name in ("buffalo_l", "buffalo_s", "buffalo_sc", "buffalo_m"):
        if (root / name / "manifest.json").is_file():
            return root / name
    return None


def test_real_insightface_pack(tmp_path: Path) -> None:
    source = _real_pack()
    if source is None:
        pytest.skip("no real InsightFace pack on this machine (set VIGIL_TEST_INSIGHTFACE_PACK "
                    "to a buffalo_* folder or zip, or install one with `vigil models install`)")
    if (source / "manifest.json").is_file():
        pack = source
    else:
        m = install(source, tmp_path / "models")
        pack = tmp_path / "models" / m.name
    import insightface

    t1 = Path(os.path.dirname(insightface.__file__)) / "data" / "images" / "t1.jpg"
    image = np.asarray(cv2.imread(str(t1)), dtype=np.uint8)
    engine = OnnxEngine(pack)
    faces = engine.detect(image)
    assert len([f for f in faces if f.score > 0.6]) == 6  # six people in t1.jpg
    vectors = engine.embed(image, faces)
    sims = vectors @ vectors.T
    assert (sims[~np.eye(len(faces), dtype=bool)] < 0.5).all()  # six different people


def test_unbatchable_models_run_one_item_per_call(tmp_path: Path) -> None:
    """A detector without a batch axis (like the real det_10g) and an embedder that fails the
    batch check are installed unchanged, marked ``fixed``, and still work."""
    src = tmp_path / "buffalo_fixed"
    src.mkdir()
    graphs.scrfd(src / "det_fixed.onnx", batch_axis=False)
    graphs.batch_mixing_embedder(src / "w600k_mixing.onnx")
    m = install(src, tmp_path / "models")
    assert m.detector.batch == "fixed"
    assert m.embedder.batch == "fixed"
    assert m.detector.input_size == (640, 640)  # dynamic height/width: insightface's default
    by_path = {f.path: f for f in m.files}
    assert by_path["det_fixed.onnx"].source_sha256 == ""  # installed byte for byte
    engine = OnnxEngine(tmp_path / "models" / "buffalo_fixed", threads=1)
    image = _patch_image(640, 480, 320, 200)
    image[40:48, 80:88] = 255
    faces = engine.detect(image)
    assert sorted(round(f.box[0]) for f in faces) == [76, 316]
    together = engine.embed(image, faces)
    for i, f in enumerate(faces):
        np.testing.assert_allclose(together[i], engine.embed(image, [f])[0], atol=1e-5)
