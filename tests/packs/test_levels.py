"""Whole pyramid levels through the cut FacePlugin detector graph (``ssd_levels``)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from server.recognition.onnx_engine import OnnxEngine, _whole_level
from server.recognition.ssd_levels import Level, free_size_graph, plan_levels
from tests.packs import scenes


def test_the_faceplugin_detector_runs_whole_levels(engine: OnnxEngine,
                                                    tiled_engine: OnnxEngine) -> None:
    assert engine.whole_levels
    assert not tiled_engine.whole_levels
    # the workers' engines are built the same way
    assert engine.factory(2).keywords["whole_levels"] is True
    assert tiled_engine.factory(2).keywords["whole_levels"] is False


def test_a_graph_that_is_no_ssd_gives_no_level_graph(faceplugin_pack: Path,
                                                      engine: OnnxEngine) -> None:
    # the embedder has no prior decoding to cut off: the engine would keep its tiles
    embedder = faceplugin_pack / engine.manifest.embedder.file
    assert free_size_graph(embedder, engine.manifest.detector) is None


@pytest.mark.parametrize(("size", "min_face"), [(24, 0.0), (40, 40.0), (96, 40.0), (200, 40.0)])
def test_whole_levels_find_the_faces_tiles_find(
    engine: OnnxEngine,
    tiled_engine: OnnxEngine,
    scene_sources: list[scenes.FaceSource],
    scene_backgrounds: list[scenes.Image],
    size: int,
    min_face: float,
) -> None:
    """Same frames, both plans: as many true faces found, no more false detections than a
    frame's worth, and the same faces' boxes within a few pixels."""
    found = {"levels": 0, "tiles": 0}
    false = {"levels": 0, "tiles": 0}
    total = 0
    count = 8 if size < 100 else 2
    for i in range(2):
        frame, truth = scenes.compose(scene_sources, size, count, 500 + 10 * size + i,
                                      scene_backgrounds[(i + 2) % len(scene_backgrounds)])
        total += len(truth)
        for name, eng in (("levels", engine), ("tiles", tiled_engine)):
            faces = eng.detect(frame, min_face_px=min_face, camera=True)
            hits, extra = scenes.match(truth, [f.box for f in faces])
            found[name] += hits
            false[name] += extra
    assert total >= 2 * count - 1
    assert found["levels"] >= found["tiles"] - 1, (found, total)
    assert found["levels"] >= 0.9 * total, (found, total)
    assert false["levels"] <= false["tiles"] + 1, false


def test_boxes_agree_with_the_tiles(
    engine: OnnxEngine,
    tiled_engine: OnnxEngine,
    scene_sources: list[scenes.FaceSource],
    scene_backgrounds: list[scenes.Image],
) -> None:
    frame, _ = scenes.compose(scene_sources, 64, 6, 77, scene_backgrounds[0])
    mine = np.array([f.box for f in engine.detect(frame, min_face_px=40.0, camera=True)])
    theirs = np.array([f.box for f in tiled_engine.detect(frame, min_face_px=40.0,
                                                          camera=True)])
    assert len(mine) == len(theirs) >= 5
    for box in mine:
        # each box is one of the tiles' boxes, within a tenth of the face size
        err = np.abs(theirs - box).max(axis=1).min()
        assert err <= 0.1 * (box[2] - box[0]), (box, err)


def test_photos_keep_the_tiles(
    engine: OnnxEngine,
    tiled_engine: OnnxEngine,
    scene_sources: list[scenes.FaceSource],
    scene_backgrounds: list[scenes.Image],
) -> None:
    """Enrolment and evaluation photos (no ``camera``) are detected exactly as before: the
    calibrated thresholds were measured on their templates."""
    frame, _ = scenes.compose(scene_sources, 64, 4, 91, scene_backgrounds[2])
    photo = engine.detect(frame)
    assert photo == tiled_engine.detect(frame)
    assert photo == tiled_engine.detect(frame, camera=True)


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (1000, 700), (333, 251)])
def test_a_whole_level_input_is_the_shrunk_frame_on_black(width: int, height: int) -> None:
    """The level is shrunk straight into the detector's padded input: the frame resized to
    the level, black padding right and below, as resizing and then padding gives."""
    frame = np.random.default_rng(width).integers(0, 256, (height, width, 3), dtype=np.uint8)
    levels = plan_levels(width, height, 320, 240, 1.0)
    assert levels is not None
    levels.append(Level(1.0, width, height, -(-width // 64) * 64, -(-height // 64) * 64))
    for level in levels:
        interpolation = cv2.INTER_LINEAR if level.scale >= 0.5 else cv2.INTER_AREA
        expected = np.zeros((1, level.padded_h, level.padded_w, 3), dtype=np.uint8)
        expected[0, : level.height, : level.width] = cv2.resize(
            frame, (level.width, level.height), interpolation=interpolation)
        got = _whole_level(frame, level, interpolation)
        assert got.shape == expected.shape, level
        assert np.array_equal(got, expected), level
