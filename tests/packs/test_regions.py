"""Camera frames between full ones are detected only where they changed and around the live
tracks (``server.recognition.motion``): the same faces as a full detection of every frame,
including a face that appears between two full frames, for fewer detector pixels."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from server.recognition.image_io import encode_jpeg
from server.recognition.onnx_engine import OnnxEngine
from tests.packs import scenes
from tests.packs.tracked import track_frames

FRAMES = 8
STEP_PX = 40
"""The faces walk this far right per frame over a still background."""
NEWCOMER_AT = 4
"""From this frame on, a face that was not there stands still at the top right."""
NEWCOMER_AT_PX = (1150, 30)


def _walk(sources: list[scenes.FaceSource], backgrounds: list[scenes.Image],
          ) -> list[bytes]:
    background = backgrounds[0]
    faces, _ = scenes.compose(sources, 80, 3, 23, background)
    newcomer, (box,) = scenes.compose(sources, 56, 1, 5, background)  # the finest level's size
    shift = (NEWCOMER_AT_PX[1] - round(box[1]), NEWCOMER_AT_PX[0] - round(box[0]))
    new_px = np.roll(np.any(newcomer != background, axis=2), shift, axis=(0, 1))
    newcomer = np.roll(newcomer, shift, axis=(0, 1))
    face_px = np.any(faces != background, axis=2)
    out = []
    for k in range(FRAMES):
        frame = background.copy()
        moved = np.roll(face_px, k * STEP_PX, axis=1)
        frame[moved] = np.roll(faces, k * STEP_PX, axis=1)[moved]
        if k >= NEWCOMER_AT:
            frame[new_px] = newcomer[new_px]
        out.append(encode_jpeg(np.ascontiguousarray(frame), 90))
    return out


def test_regions_find_the_faces_a_full_frame_finds(
    engine: OnnxEngine,
    scene_sources: list[scenes.FaceSource],
    scene_backgrounds: list[scenes.Image],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    jpegs = _walk(scene_sources, scene_backgrounds)
    pixels: list[int] = []
    real = engine._levels

    class Counting:
        def run(self, names: Any, feed: dict[str, Any]) -> Any:
            shape = next(iter(feed.values())).shape
            pixels.append(shape[2] * shape[3])
            return real.run(names, feed)  # type: ignore[union-attr]

    monkeypatch.setattr(engine, "_levels", Counting())
    full = track_frames(engine, jpegs, full_every=1)
    full_pixels = sum(pixels)
    pixels.clear()
    regional = track_frames(engine, jpegs, full_every=FRAMES + 1)
    assert [f.full for f in full] == [True] * FRAMES
    assert [f.full for f in regional] == [True] + [False] * (FRAMES - 1)
    for k, (a, b) in enumerate(zip(full, regional, strict=True)):
        assert len(a.faces) == len(b.faces) == 3 + (k >= NEWCOMER_AT), k
        for face in b.faces:  # each box is one of the full frame's, within a few pixels
            err = np.abs(np.array([f.box for f in a.faces]) - face.box).max(axis=1).min()
            assert err <= 0.06 * (face.box[2] - face.box[0]), (k, face.box, err)
    # so the face that appeared between two full frames was found in the frame it came in
    assert sum(pixels) < 0.75 * full_pixels, (sum(pixels), full_pixels)
