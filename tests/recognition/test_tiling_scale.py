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


def test_whole_levels_for_a_camera_frame() -> None:
    """Whole levels 4x apart from the finest, the fitted frame last, each padded to whole
    feature-map cells; every level but the last keeps only its band of face sizes."""
    from server.recognition.ssd_levels import ALIGN, plan_levels

    at_40 = plan_levels(1280, 720, 320, 240, finest_scale(40, 24), 24.0)
    assert at_40 is not None
    assert [lv.scale for lv in at_40] == pytest.approx([0.6, 0.25])
    assert [(lv.width, lv.height) for lv in at_40] == [(768, 432), (320, 180)]
    assert [(lv.padded_w, lv.padded_h) for lv in at_40] == [(768, 448), (320, 192)]
    assert all(lv.padded_w % ALIGN == 0 and lv.padded_h % ALIGN == 0 for lv in at_40)
    assert at_40[0].max_side == pytest.approx(24 * 4 * 1.25)
    assert at_40[-1].max_side == float("inf")
    every = plan_levels(1280, 720, 320, 240, 1.0, 24.0)
    assert every is not None
    assert [lv.scale for lv in every] == pytest.approx([1.0, 0.25])
    # 24 px faces at 1/16: three levels
    hd = plan_levels(3840, 2160, 320, 240, 0.5, 24.0)
    assert hd is not None
    assert [lv.scale for lv in hd] == pytest.approx([0.5, 0.125, 1 / 12])


def test_whole_levels_small_and_huge_frames() -> None:
    from server.recognition.ssd_levels import plan_levels

    small = plan_levels(200, 100, 320, 240, 1.0, 24.0)
    assert small is not None
    assert [(lv.scale, lv.width, lv.height, lv.padded_w, lv.padded_h) for lv in small] == [
        (1.0, 200, 100, 256, 128)]
    # a 12-megapixel photo at full resolution is over the bound: tiles instead
    assert plan_levels(4000, 3000, 320, 240, 1.0, 24.0) is None
