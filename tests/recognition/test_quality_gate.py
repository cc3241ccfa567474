"""The quality gate on synthetic faces with hand-placed landmarks."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from server.recognition.engine import Face, Image
from server.recognition.quality import FRONTAL_NOSE_DROP, assess, pose, sharpness
from server.settings import QualitySettings

DEFAULTS = QualitySettings()


def _face(
    size: float = 100.0, eye: float = 40.0, yaw: float = 0.0, drop: float = FRONTAL_NOSE_DROP,
    score: float = 1.0,
) -> Face:
    """A face box at (50, 50) with eyes ``eye`` px apart and the nose placed by ``yaw``
    (sideways, in eye distances) and ``drop`` (below the eye line, in eye distances)."""
    cx, ey = 50 + size / 2, 50 + size * 0.4
    left, right = (cx - eye / 2, ey), (cx + eye / 2, ey)
    nose = (cx + yaw * eye, ey + drop * eye)
    mouth_y = ey + 1.2 * eye
    return Face(
        box=(50.0, 50.0, 50.0 + size, 50.0 + size),
        landmarks=(left, right, nose, (cx - 0.4 * eye, mouth_y), (cx + 0.4 * eye, mouth_y)),
        score=score,
    )


def _texture(shape: tuple[int, int] = (240, 240)) -> Image:
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, shape, dtype=np.uint8)
    return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))


def _flat(shape: tuple[int, int] = (240, 240)) -> Image:
    return np.full((*shape, 3), 128, dtype=np.uint8)


def test_frontal_sharp_face_passes() -> None:
    report = assess(_texture(), _face(), DEFAULTS, score_is_probability=False)
    assert report.ok
    assert report.reason is None
    assert report.face_px == 100.0
    assert report.inter_eye_px == pytest.approx(40.0)
    assert report.yaw == pytest.approx(0.0)
    assert report.pitch == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("face", "reason"),
    [
        (_face(size=DEFAULTS.min_face_px - 1, eye=20.0), "face_too_small"),
        (_face(eye=DEFAULTS.min_inter_eye_px - 1), "face_too_small"),
        (_face(score=DEFAULTS.min_score - 0.1), "low_score"),
        (_face(yaw=DEFAULTS.max_yaw + 0.05), "pose"),
        (_face(yaw=-(DEFAULTS.max_yaw + 0.05)), "pose"),
        (_face(drop=FRONTAL_NOSE_DROP + DEFAULTS.max_pitch + 0.05), "pose"),
    ],
    ids=["small_box", "small_eyes", "score", "yaw_right", "yaw_left", "pitch"],
)
def test_each_check_rejects_with_its_reason(face: Face, reason: str) -> None:
    assert assess(_texture(), face, DEFAULTS, score_is_probability=False).reason == reason


def test_blur_check_uses_variance_of_laplacian() -> None:
    assert sharpness(_flat(), _face()) == 0.0
    assert sharpness(_texture(), _face()) > 1000.0
    assert assess(_flat(), _face(), DEFAULTS, score_is_probability=False).reason == "blur"


def test_probability_scores_use_their_own_minimum() -> None:
    face = _face(score=0.5)  # passes dlib's scale (>= -0.5), fails a probability minimum
    assert assess(_texture(), face, DEFAULTS, score_is_probability=False).ok
    assert assess(_texture(), face, DEFAULTS, score_is_probability=True).reason == "low_score"


def test_checks_run_in_order_size_score_blur_pose() -> None:
    worst = _face(size=10.0, eye=5.0, yaw=2.0, score=-5.0)
    assert assess(_flat(), worst, DEFAULTS, score_is_probability=False).reason == "face_too_small"
    no_size = _face(yaw=2.0, score=-5.0)
    assert assess(_flat(), no_size, DEFAULTS, score_is_probability=False).reason == "low_score"
    assert assess(_flat(), _face(yaw=2.0), DEFAULTS, score_is_probability=False).reason == "blur"


def test_thresholds_come_from_settings() -> None:
    lenient = msgspec.structs.replace(DEFAULTS, max_yaw=1.0, min_sharpness=0.0)
    assert assess(_flat(), _face(yaw=0.8), lenient, score_is_probability=False).ok


def test_degenerate_landmarks_never_pass_the_pose_check() -> None:
    face = _face(eye=0.0)
    assert pose(face)[0] > 1e6
    assert sharpness(_texture(), Face((0, 0, 2, 2), face.landmarks, 1.0)) == 0.0
