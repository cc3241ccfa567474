"""With tracks, the ONNX engine measures landmarks only for faces that want a template, and
the outcome is that of measuring them first; dlib's predictor, where a pack uses it, reads only
the faces' surroundings."""

from __future__ import annotations

from typing import Any

import cv2
import dlib
import numpy as np
import pytest

from server.recognition.image_io import encode_jpeg
from server.recognition.onnx_engine import OnnxEngine, dlib_box
from tests.packs import scenes
from tests.packs.tracked import track_frames

FRAMES = 6
STEP_PX = 6
"""Faces (and the background) move this far right per frame: a slow walk, so tracked faces
overlap their last box strongly and mostly need no new template."""


def _walk(
    scene_sources: list[scenes.FaceSource], scene_backgrounds: list[scenes.Image]
) -> list[bytes]:
    frame, _ = scenes.compose(scene_sources, 72, 4, 41, scene_backgrounds[0])
    return [encode_jpeg(np.ascontiguousarray(np.roll(frame, k * STEP_PX, axis=1)), 90)
            for k in range(FRAMES)]


def test_landmarks_only_where_a_template_is_wanted(
    engine: OnnxEngine,
    scene_sources: list[scenes.FaceSource],
    scene_backgrounds: list[scenes.Image],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    jpegs = _walk(scene_sources, scene_backgrounds)
    located: list[int] = []
    real = engine._landmarks

    def counting(image: Any, boxes: Any, scores: Any) -> Any:
        located.append(len(boxes))
        return real(image, boxes, scores)

    monkeypatch.setattr(engine, "_landmarks", counting)
    assert engine.deferred_landmarks
    late = track_frames(engine, jpegs)
    late_located = sum(located)
    located.clear()
    with monkeypatch.context() as m:
        m.setattr(OnnxEngine, "deferred_landmarks", property(lambda self: False))
        first = track_frames(engine, jpegs)
    first_located = sum(located)

    faces = sum(len(f.faces) for f in first)
    assert faces >= 4 * FRAMES - 2
    assert first_located == faces  # landmarks first: every face, every frame
    # late: only the faces that wanted a template (new, or seen better than their template),
    # whether or not they then passed the quality gate; tracked faces mostly want none
    wanted = sum(sum(1 for f in a.faces if f.located) for a in late)
    assert late_located == wanted < faces * 0.6
    assert sum(len(f.good) for f in late) < faces / 2
    for a, b in zip(late, first, strict=True):
        assert [f.box for f in a.faces] == [f.box for f in b.faces]
        assert a.good == b.good
        assert a.track_ids == b.track_ids
        np.testing.assert_allclose(a.vectors, b.vectors, atol=1e-5)
        assert a.crops == b.crops
        for i in a.good:
            assert a.faces[i].located
            assert a.faces[i].landmarks == b.faces[i].landmarks
            assert a.quality[i] == b.quality[i]
        # a face not embedded either needed no template (placeholder points, not gated) or
        # was measured and failed the quality gate
        for i, face in enumerate(a.faces):
            if i not in a.good:
                assert (not face.located and a.quality[i] > 0.0) or a.quality[i] == 0.0


def test_embed_measures_landmarks_it_was_not_given(
    engine: OnnxEngine,
    scene_sources: list[scenes.FaceSource],
    scene_backgrounds: list[scenes.Image],
) -> None:
    frame, _ = scenes.compose(scene_sources, 80, 3, 43, scene_backgrounds[1])
    bare = engine.detect(frame, min_face_px=40.0, locate=False, camera=True)
    full = engine.detect(frame, min_face_px=40.0, camera=True)
    assert len(bare) == len(full) >= 2
    assert not any(f.located for f in bare)
    assert all(f.located for f in full)
    np.testing.assert_allclose(engine.embed(frame, bare), engine.embed(frame, full), atol=1e-5)


def test_landmarks_from_the_faces_surroundings_are_those_of_the_whole_frame(
    dlib68_engine: OnnxEngine, scene_sources: list[scenes.FaceSource],
    scene_backgrounds: list[scenes.Image],
) -> None:
    """The predictor reads only a grey crop around each face: the 68 points are exactly
    those it gives on the whole frame's grey, for faces inside the frame and at its edges."""
    frame, _ = scenes.compose(scene_sources, 80, 5, 77, scene_backgrounds[1])
    faces = dlib68_engine.detect(frame, min_face_px=40.0, camera=True)
    assert len(faces) >= 4
    # the same frame cut through the first face, so a face's box reaches the frame's edge
    x1, y1 = int(faces[0].box[0]), int(faces[0].box[1])
    cuts = [frame, np.ascontiguousarray(frame[:, x1 + 10 :]),
            np.ascontiguousarray(frame[y1 + 10 :, :])]
    predictor = dlib68_engine._predictor()
    edge_faces = 0
    for image in cuts:
        found = dlib68_engine.detect(image, min_face_px=40.0, camera=True)
        assert found
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        for face in found:
            box = np.array(face.box, dtype=np.float32)
            left, top, right, bottom = dlib_box(box)
            edge_faces += left < 0 or top < 0
            whole = predictor(grey, dlib.rectangle(left, top, right, bottom))
            assert face.points == tuple((float(p.x), float(p.y)) for p in whole.parts())
    assert edge_faces >= 1
