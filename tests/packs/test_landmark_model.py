"""The FacePlugin pack's own 68-point landmark model, which aligns faces for its embedder."""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec
import numpy as np
import pytest

from server.errors import PackError
from server.recognition.landmark_model import cut
from server.recognition.onnx_engine import OnnxEngine
from server.recognition.packs.manifest import LandmarkSpec, read_manifest, write_manifest
from tests.packs import scenes


def test_the_pack_aligns_on_its_own_landmark_model(engine: OnnxEngine) -> None:
    assert engine.manifest.landmarks.kind == "onnx68"
    assert engine._landmark_model is not None
    assert engine.deferred_landmarks  # still a model run per face: only where wanted


def test_points_lie_where_a_face_has_them(
    engine: OnnxEngine, scene_sources: list[scenes.FaceSource],
    scene_backgrounds: list[scenes.Image],
) -> None:
    frame, _ = scenes.compose(scene_sources, 96, 4, 11, scene_backgrounds[0])
    faces = engine.detect(frame, min_face_px=40.0, camera=True)
    assert len(faces) >= 3
    for face in faces:
        assert len(face.points) == 68
        (lx, ly), (rx, ry), (nx, ny), (mlx, mly), (mrx, mry) = face.landmarks
        x1, y1, x2, y2 = face.box
        assert x1 < lx < nx < rx < x2  # eyes either side of the nose, inside the box
        assert y1 < max(ly, ry) < ny < min(mly, mry) < y2  # eyes, then nose, then mouth
        assert mlx < nx < mrx


def test_one_batched_call_gives_each_face_its_own_points(
    engine: OnnxEngine, scene_sources: list[scenes.FaceSource],
    scene_backgrounds: list[scenes.Image],
) -> None:
    frame, _ = scenes.compose(scene_sources, 80, 5, 23, scene_backgrounds[1])
    faces = engine.detect(frame, min_face_px=40.0, camera=True, locate=False)
    assert len(faces) >= 4
    model = engine._landmark_model
    assert model is not None
    boxes = np.array([f.box for f in faces], dtype=np.float32)
    together = model.points(frame, boxes)
    alone = np.concatenate([model.points(frame, boxes[i : i + 1]) for i in range(len(boxes))])
    np.testing.assert_allclose(together, alone, atol=1e-3)
    assert model.points(frame, boxes[:0]).shape == (0, 68, 2)


@pytest.mark.parametrize(("box", "expected"), [
    ((10.4, 20.6, 50.2, 70.5), (10, 21, 50, 70)),
    ((-15.0, -3.0, 30.0, 40.0), (0, 0, 30, 40)),  # reaching past the top-left corner
    ((90.0, 50.0, 130.0, 90.0), (90, 50, 100, 80)),  # past the bottom-right corner
    ((200.0, 200.0, 240.0, 240.0), (99, 79, 100, 80)),  # wholly outside: one pixel, no crash
    ((40.0, 40.0, 40.2, 40.1), (40, 40, 41, 41)),  # degenerate: still one pixel
])
def test_cut_keeps_inside_the_frame(box: tuple[float, ...],
                                    expected: tuple[int, int, int, int]) -> None:
    assert cut(np.array(box, dtype=np.float32), 100, 80) == expected


def test_a_manifest_without_the_landmark_file_is_refused(
    faceplugin_pack: Path, tmp_path: Path,
) -> None:
    pack = tmp_path / "faceplugin"
    shutil.copytree(faceplugin_pack, pack)
    manifest = read_manifest(pack)
    write_manifest(pack, msgspec.structs.replace(manifest,
                                                 landmarks=LandmarkSpec(kind="onnx68")))
    with pytest.raises(PackError) as exc:
        read_manifest(pack)
    assert exc.value.code == "pack_invalid"
    unlisted = LandmarkSpec(kind="onnx68", file="elsewhere.onnx")
    write_manifest(pack, msgspec.structs.replace(manifest, landmarks=unlisted))
    with pytest.raises(PackError) as exc:
        OnnxEngine(pack, threads=1)
    assert exc.value.code == "pack_invalid"
