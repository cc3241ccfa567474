"""Detecting where needed (``server.recognition.motion``, ``ssd_levels.plan_regions``): what
changed between two frames, the crops of a level that cover it, and the camera's schedule of
full frames; the grid goes with the tracks (privacy invariant 1, docs/tracking.md)."""

from __future__ import annotations

import numpy as np

from server.recognition.camera_tracks import CameraTracks
from server.recognition.motion import (
    changed_boxes,
    explained_boxes,
    grid_of,
    track_boxes,
)
from server.recognition.ssd_levels import ALIGN, FULL_SHARE, plan_levels, plan_regions
from server.recognition.tracking import TrackHint

W, H = 1280, 720


def frame(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(110, 3, (H, W, 3)), 0, 255).astype(np.uint8)


def with_square(image: np.ndarray, x: int, y: int, side: int = 100) -> np.ndarray:
    out = image.copy()
    out[y:y + side, x:x + side] = 220
    return out


def inside(inner: tuple[float, ...], outer: tuple[float, ...]) -> bool:
    return (outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2]
            and inner[3] <= outer[3])


def test_the_grid_is_far_too_coarse_to_show_a_face() -> None:
    grid = grid_of(frame())
    assert grid.array().shape == (36, 64)  # a 100 px face is 5 x 5 cells


def test_a_new_face_is_a_change_and_noise_or_exposure_is_not() -> None:
    before = frame(1)
    # new sensor noise and the whole frame 30 levels brighter: nothing appeared
    brighter = np.clip(frame(2).astype(np.int16) + 30, 0, 255).astype(np.uint8)
    assert changed_boxes(grid_of(before), grid_of(brighter)) == []
    after = with_square(brighter, 600, 300)
    boxes = changed_boxes(grid_of(before), grid_of(after))
    assert len(boxes) == 1
    assert inside((600, 300, 700, 400), boxes[0])
    x1, y1, x2, y2 = boxes[0]
    assert (x2 - x1) * (y2 - y1) < 4 * 100 * 100  # the change, grown by a cell, no more


def test_the_tracked_peoples_own_movement_is_explained() -> None:
    before = with_square(frame(1), 300, 300)
    after = with_square(frame(2), 360, 300)  # the tracked face moved 60 px right
    hint = TrackHint(1, (300.0, 300.0, 400.0, 400.0), (360.0, 300.0, 460.0, 400.0), 10.0)
    assert changed_boxes(grid_of(before), grid_of(after)) != []
    assert changed_boxes(grid_of(before), grid_of(after),
                         covered=explained_boxes([hint])) == []
    # ... and the detector still looks where the track is going
    assert inside((360, 300, 460, 400), track_boxes([hint])[0])
    # someone appearing elsewhere is still a change
    third = with_square(after, 900, 100)
    boxes = changed_boxes(grid_of(before), grid_of(third),
                          covered=explained_boxes([hint]))
    assert len(boxes) == 1
    assert inside((900, 100, 1000, 200), boxes[0])


def test_a_frame_of_another_size_is_all_change() -> None:
    small = np.zeros((360, 640, 3), dtype=np.uint8)
    assert changed_boxes(grid_of(small), grid_of(frame())) == [(0.0, 0.0, W, H)]


def test_regions_become_aligned_crops_of_the_level_or_the_whole_level() -> None:
    levels = plan_levels(W, H, 320, 240, 0.6, 24)
    assert levels is not None
    fine = levels[0]
    crops = plan_regions([(600.0, 300.0, 700.0, 400.0), (640.0, 320.0, 720.0, 420.0)], fine)
    assert crops is not None
    assert len(crops) == 1
    crop = crops[0]
    assert crop.padded_w % ALIGN == 0
    assert crop.padded_h % ALIGN == 0
    assert crop.x >= 0
    assert crop.x + crop.width <= fine.width
    assert crop.y >= 0
    assert crop.y + crop.height <= fine.height
    # the region, in level pixels, lies inside the crop
    assert crop.x <= 600 * fine.scale
    assert 720 * fine.scale <= crop.x + crop.width
    # at the level's edge the crop stays inside, padded black beyond
    edge = plan_regions([(1200.0, 650.0, 1280.0, 720.0)], fine)
    assert edge is not None
    assert edge[0].x + edge[0].width == fine.width
    # regions over most of the level: the level runs whole
    many = [(x, y, x + 200.0, y + 200.0) for x in range(0, W, 260) for y in range(0, H, 260)]
    assert plan_regions(many, fine) is None
    assert FULL_SHARE < 1


def test_full_frames_come_first_every_nth_and_after_the_tracks_end() -> None:
    tracks = CameraTracks(max_age_s=1.0, max_life_s=30.0, max_tracks=8, full_every=3)
    grid = grid_of(frame())
    fulls = []
    for _ in range(7):
        hint = tracks.scene()
        assert hint is not None
        fulls.append(hint.full)
        tracks.remember(grid, hint.full)
    assert fulls == [True, False, False, True, False, False, True]
    hint = tracks.scene()
    assert hint is not None
    assert hint.previous == grid
    # the grid is the only thing kept of a frame, and it goes with the tracks
    tracks.clear()
    hint = tracks.scene()
    assert hint is not None
    assert hint.full
    assert hint.previous is None
    # every frame is full with full_every 1: no grid is even made
    every = CameraTracks(max_age_s=1.0, max_life_s=30.0, max_tracks=8, full_every=1)
    assert every.scene() is None
