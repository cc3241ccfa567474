"""The scenes harness (``vigil eval --scenes``): ground truth, counting, and a small end-to-end
run through the real server. The figures of the issue come from the full run; the small run
here checks only loose sanity (no bound is tuned on these photos)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from server.evaluation.live import count, run_scenes
from server.evaluation.scenes import (
    Scene,
    SceneFace,
    SceneOptions,
    cast_for,
    compose_scenes,
    compose_walks,
    identity_part,
    plan_walks,
)
from tests.recognition.conftest import dataset


def _alert(entry: str, captured: float, similarity: float = 0.6) -> dict[str, Any]:
    return {"entry_id": entry, "times": {"captured": captured}, "similarity": similarity}


def test_alerts_count_true_only_in_the_frame_of_the_person() -> None:
    box = (0.0, 0.0, 64.0, 64.0)
    scenes = [
        Scene(b"", (SceneFace("ann", "ann/2.jpg", box, True), SceneFace("bob", "bob/1.jpg", box,
                                                                          False))),
        Scene(b"", (SceneFace("cat", "cat/1.jpg", box, False),)),
    ]
    entries = {"e-ann": "ann", "e-dan": "dan"}
    alerts = [_alert("e-ann", 10.0),   # right person, right frame: true
              _alert("e-ann", 11.0, 0.52),   # ann is not in frame 2: false
              _alert("e-dan", 10.0)]   # dan is nowhere: false
    report = count(scenes, [10.0, 11.0], alerts, entries, health={"engine": "x"},
                   options=SceneOptions(frames=2), threshold=0.5, refused={},
                   faces_processed=3, seconds=1.0, dataset="d")
    assert (report.true_alerts, report.false_alerts) == (1, 2)
    assert report.precision == pytest.approx(1 / 3)
    assert report.recall == 1.0
    assert report.faces == 3
    assert report.false_alerts_per_1000_faces == pytest.approx(2000 / 3)
    # recounted at a higher threshold, the weak false alert goes
    higher = next(p for p in report.sweep if p.threshold == pytest.approx(0.55))
    assert (higher.alerts, higher.false_alerts, higher.recall) == (2, 1, 1.0)
    assert higher.precision == pytest.approx(0.5)


def test_scenes_keep_enrolment_photos_out_and_halves_apart() -> None:
    lfw = dataset("lfw_dev")
    options = SceneOptions(frames=10, watchlist_size=30, watchlisted_share=0.2)
    cast = cast_for(lfw, options)
    assert all(identity_part(name) == "evaluation" for name in cast.watchlist)
    assert all(identity_part(name) == "evaluation" for name, _ in cast.passers_by)
    scenes = compose_scenes(cast, options)
    assert len(scenes) == 10
    faces = [f for s in scenes for f in s.faces]
    assert len(faces) == 40
    listed = [f for f in faces if f.watchlisted]
    assert len(listed) == 8
    enrol_photos = {f"{name}/{p.name}" for name, p in cast.watchlist.items()}
    assert not enrol_photos & {f.photo for f in faces}, "a scene reused an enrolment photo"
    assert all(f.identity in cast.watchlist for f in listed)
    assert not {f.identity for f in faces if not f.watchlisted} & set(cast.watchlist)
    for f in faces:
        x1, y1, x2, y2 = f.box
        assert x2 - x1 == pytest.approx(64)
        assert min(x1, y1) >= 0
        assert x2 <= 1280
        assert y2 <= 720
    again = compose_scenes(cast_for(lfw, options), options)
    assert [s.jpeg for s in again] == [s.jpeg for s in scenes]  # seeded


@pytest.mark.slow
def test_a_small_scene_run_through_the_real_server(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    lfw = dataset("lfw_dev")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))  # no shared pack: dlib
    options = SceneOptions(frames=6, watchlist_size=20, watchlisted_share=0.25)
    [report] = run_scenes(lfw, options, engine="dlib")
    assert report.engine == "dlib"
    assert report.frames == 6
    assert report.faces == 24
    assert report.watchlisted_faces == 6
    assert report.watchlist_size + sum(report.enrol_refused.values()) == 20
    # loose sanity: the server saw faces and the alerts it raised were counted
    assert report.faces_processed >= 12
    assert report.true_alerts + report.false_alerts == report.alerts
    assert report.true_alerts >= 1


def test_walkers_cross_the_frame_for_several_frames_and_are_counted_per_person() -> None:
    lfw = dataset("lfw_dev")
    options = SceneOptions(frames=24, watchlist_size=30, watchlisted_share=0.3)
    cast = cast_for(lfw, options)
    walks = plan_walks(cast, options)
    assert all(5 <= w.frames <= 15 for w in walks)
    assert any(w.watchlisted for w in walks)
    scenes = compose_walks(cast, options)
    assert len(scenes) == 24
    by_person: dict[int, list[tuple[int, SceneFace]]] = {}
    for i, scene in enumerate(scenes):
        assert len(scene.faces) <= options.faces_per_frame
        for f in scene.faces:
            by_person.setdefault(f.person, []).append((i, f))
    enrol_photos = {f"{name}/{p.name}" for name, p in cast.watchlist.items()}
    for seen in by_person.values():
        frames = [i for i, _ in seen]
        assert frames == list(range(frames[0], frames[0] + len(frames)))  # consecutive
        assert len({f.identity for _, f in seen}) == 1
        assert not {f.photo for _, f in seen} & enrol_photos
        xs = [f.box[0] for _, f in seen]
        if len(xs) > 2:  # walking one way, and the face size varies a little
            assert xs == sorted(xs) or xs == sorted(xs, reverse=True)
            widths = [f.box[2] - f.box[0] for _, f in seen]
            assert max(widths) / min(widths) < 1.3
            assert max(widths) > min(widths)
    # per person: a walker found in one frame is found; false alerts of one entry in
    # neighbouring frames are one episode
    listed = next(p for p, seen in by_person.items() if seen[0][1].watchlisted)
    first, face = by_person[listed][0]
    captured = [float(i) for i in range(len(scenes))]
    entries = {"e-1": face.identity, "e-2": "nobody"}
    alerts = [_alert("e-1", float(first)), _alert("e-2", 3.0), _alert("e-2", 4.0),
              _alert("e-2", 12.0)]
    report = count(scenes, captured, alerts, entries, health={"engine": "x"},
                   options=options, threshold=0.5, refused={}, faces_processed=0,
                   seconds=1.0, dataset="d")
    assert report.persons == len(by_person)
    assert report.found_persons == 1
    assert report.false_episodes == 2
    assert report.recall_persons == pytest.approx(1 / report.watchlisted_persons)


def test_the_evaluated_server_takes_recognition_settings_but_never_where_data_lives() -> None:
    from server.evaluation.live import PASSED_SETTINGS, evaluated_env
    from server.settings import QualitySettings, Settings, load_settings

    fields = {f.name for f in msgspec.structs.fields(Settings)}
    assert set(PASSED_SETTINGS) <= fields  # a renamed setting would silently stop passing
    env = evaluated_env({"PATH": "/bin", "VIGIL_DETECT_FULL_EVERY": "1",
                         "VIGIL_EMBEDDER_RUNTIME": "onnxruntime",
                         "VIGIL_QUALITY_MIN_SHARPNESS": "20",
                         "VIGIL_DATA_DIR": "/srv/vigil", "VIGIL_DB_URL": "postgresql://prod",
                         "VIGIL_PORT": "8000", "VIGIL_COOLDOWN_S": "60"})
    assert env == {"PATH": "/bin", "VIGIL_DETECT_FULL_EVERY": "1",
                   "VIGIL_EMBEDDER_RUNTIME": "onnxruntime", "VIGIL_QUALITY_MIN_SHARPNESS": "20"}
    settings = load_settings(env=env)
    assert settings.detect_full_every == 1
    assert settings.quality == QualitySettings(min_sharpness=20.0)
