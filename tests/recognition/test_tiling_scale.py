"""A camera's smallest face size decides how finely a frame is tiled."""

from __future__ import annotations

import pytest

from server.recognition.tiling import finest_scale, plan_tiles


@pytest.mark.parametrize(("min_face", "detector_min", "scale"), [
    (0.0, 24.0, 1.0),     # every face: full resolution
    (16.0, 24.0, 1.0),    # smaller than the detector can see at full size: never enlarged
    (40.0, 24.0, 0.6),
    (96.0, 24.0, 0.25),
])
def test_finest_scale(min_face: float, detector_min: float, scale: float) -> None:
    assert finest_scale(min_face, detector_min) == pytest.approx(scale)


def test_coarser_finest_level_means_fewer_tiles_and_the_same_last_pass() -> None:
    full = plan_tiles(1280, 720, 320, 240, 64)
    at_40 = plan_tiles(1280, 720, 320, 240, 64, finest=finest_scale(40, 24))
    at_96 = plan_tiles(1280, 720, 320, 240, 64, finest=finest_scale(96, 24))
    assert len(full) == 27
    assert len(at_96) < len(at_40) < len(full)
    assert at_40[0].scale == pytest.approx(0.6)
    # The whole-frame pass always ends the plan, whatever the finest level.
    assert full[-1] == at_40[-1] == at_96[-1]
    # Each level halves the previous one, starting from the finest.
    scales = sorted({t.scale for t in at_40[:-1]}, reverse=True)
    assert scales == pytest.approx([0.6, 0.3])
