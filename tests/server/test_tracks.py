"""Face tracking through the real server (fake engine, marker faces): a walking face is one
track, embedded once and decided on its aggregate; a different person in a tracked box is
caught; a stranger's track (template and crop) is gone once the track ends or the camera
leaves (privacy invariant 1, docs/privacy.md)."""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from server.pipeline.alerting import raise_or_update
from server.pipeline.analysis import Match
from server.recognition.camera_tracks import Track
from server.recognition.engine import Face, FaceEngine, Image, Vectors
from server.recognition.image_io import encode_jpeg
from server.recognition.timing import StageTimer
from tests.fakes.engine import draw_face
from tests.server.conftest import LiveServer, Photos, World, build_world, make_settings, open_ws
from tests.server.conftest import poll as wait_until
from tests.support.photos import STRANGERS, SUBJECT

FRAMES = 8


class CountingEngine:
    """The fake engine, counting the faces it is asked to embed."""

    def __init__(self, inner: FaceEngine) -> None:
        self.inner = inner
        self.name, self.model_id, self.dim = inner.name, inner.model_id, inner.dim
        self.score_is_probability = bool(getattr(inner, "score_is_probability", False))
        self.releases_gil = True
        self.embedded = 0

    def detect(self, image: Image, timer: StageTimer | None = None) -> list[Face]:
        return self.inner.detect(image, timer)

    def embed(self, image: Image, faces: Sequence[Face],
              timer: StageTimer | None = None) -> Vectors:
        self.embedded += len(faces)
        return self.inner.embed(image, faces, timer)


def walking(step: int) -> bytes:
    """Frame ``step`` of the subject walking right and a stranger walking left."""
    canvas = np.full((360, 640, 3), 90, dtype=np.uint8)
    draw_face(canvas, SUBJECT, 40 + 24 * step, 120, 96)
    draw_face(canvas, STRANGERS[3], 500 - 20 * step, 100, 96)
    return encode_jpeg(canvas, quality=90)


def frame(seq: int, data: bytes) -> dict[str, Any]:
    return {"type": "frame", "seq": seq, "captured_at": time.time(), "jpeg": data}


async def stream(live: LiveServer, world: World, frames: Sequence[bytes]) -> None:
    camera, _ = await open_ws(live, "/ws/camera", world.tokens["camera"],
                              camera_id=world.camera_id)
    for seq, data in enumerate(frames, 1):
        await camera.send(frame(seq, data))
        result = await camera.recv_type("frame_result")
        assert (result["seq"], result["status"]) == (seq, "processed"), result
    await camera.close()


def live_tracks() -> list[Track]:
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, Track)]


async def close(world: World) -> None:
    for api in world.api.values():
        await api.close()


async def test_a_walking_face_is_embedded_once_and_alerts_once(
    tmp_path: Path, engine: FaceEngine, photos: Photos,
) -> None:
    counting = CountingEngine(engine)
    # (no periodic refresh of a track's template: how many frames fit in track_refresh_s
    # would depend on the machine's speed)
    settings = make_settings(tmp_path, track_refresh_s=0.0)
    async with LiveServer(settings, counting) as live:
        world = await build_world(live, photos)
        counting.embedded = 0  # (enrolment embedded the subject's photo)
        await stream(live, world, [walking(k) for k in range(FRAMES)])
        alerts = await world.api["dispatcher"].call("GET", "/api/alerts")
        assert [a["entry_id"] for a in alerts] == [world.entry_id]
        alert = await world.api["dispatcher"].call("GET", f"/api/alerts/{alerts[0]['id']}")
        # One alert for the walk, with every frame the subject was seen in.
        assert alert["sightings"] == FRAMES
        assert any("basis=track" in e["detail"] for e in alert["events"]), alert["events"]
        # Two faces a frame for eight frames: each embedded once, when its track started.
        assert counting.embedded == 2
        await close(world)


async def test_per_frame_decisions_when_tracking_is_off(
    tmp_path: Path, engine: FaceEngine, photos: Photos,
) -> None:
    counting = CountingEngine(engine)
    async with LiveServer(make_settings(tmp_path, track_faces=False), counting) as live:
        world = await build_world(live, photos)
        counting.embedded = 0
        await stream(live, world, [walking(k) for k in range(FRAMES)])
        alerts = await world.api["dispatcher"].call("GET", "/api/alerts")
        assert len(alerts) == 1
        assert alerts[0]["sightings"] == FRAMES
        assert counting.embedded == 2 * FRAMES
        await close(world)


async def test_a_different_person_in_a_tracked_place_is_recognised(
    live: LiveServer, photos: Photos,
) -> None:
    # Frame 2 puts subject B where a stranger of frame 1 stood (a cut, or a crossing):
    # the association is uncertain, so B is embedded, found to be someone else and alerted.
    world = await build_world(live, photos, second=True)
    await stream(live, world, [photos.frame_subject, photos.frame_second])
    alerts = await world.api["dispatcher"].call("GET", "/api/alerts")
    assert sorted(a["display_name"] for a in alerts) == ["Subject A", "Subject B"]
    await close(world)


async def test_a_strangers_track_ends_with_the_track_and_with_the_camera(
    tmp_path: Path, engine: FaceEngine, photos: Photos,
) -> None:
    settings = make_settings(tmp_path, track_max_age_s=0.5)
    async with LiveServer(settings, engine) as live:
        world = await build_world(live, photos)
        camera, _ = await open_ws(live, "/ws/camera", world.tokens["camera"],
                                  camera_id=world.camera_id)
        for seq, data in enumerate(photos.strangers[:3], 1):
            await camera.send(frame(seq, data))
            assert (await camera.recv_type("frame_result"))["status"] == "processed"
        held = live_tracks()
        assert held, "the strangers' tracks should be alive while they are in view"
        buffers = [t.weighted for t in held if t.weighted is not None]
        assert buffers
        del held
        # Nobody in view for longer than track_max_age_s: every track ends, its template
        # zeroed, and nothing refers to the tracks any more.
        await wait_until(lambda: not live_tracks(), 30, "tracks to end after max age")
        assert all(not np.any(b) for b in buffers)
        # Tracks again, then the camera leaves: they go with it.
        await camera.send(frame(10, photos.strangers[4]))
        assert (await camera.recv_type("frame_result"))["status"] == "processed"
        assert live_tracks()
        await camera.close()
        await wait_until(lambda: not live_tracks(), 30, "tracks to end with the camera")
        stats = await world.api["dispatcher"].call(
            "GET", f"/api/deployments/{world.deployment_id}/stats")
        assert stats["alerts"] == 0
        await close(world)


async def test_an_open_alert_takes_a_better_view_only(
    tmp_path: Path, engine: FaceEngine, photos: Photos,
) -> None:
    async with LiveServer(make_settings(tmp_path), engine) as live:
        rt = live.runtime
        world = await build_world(live, photos)

        async def sighting(crop: bytes, quality: float, sightings: int) -> str:
            match = Match(entry_id=world.entry_id, similarity=0.9, probe_jpeg=crop,
                          matched_at=time.time(), sightings=sightings, basis="track",
                          templates=2, crop_quality=quality)
            return await raise_or_update(
                rt, deployment_id=world.deployment_id, camera_id=world.camera_id, match=match,
                captured_at=time.time(), ingested_at=time.time(), lat=None, lon=None)

        alert_id = await sighting(b"first view", 20.0, 3)
        probes = list((rt.settings.data_path / "probes").rglob("*.jpg"))
        assert [p.read_bytes() for p in probes] == [b"first view"]
        assert await sighting(b"worse view", 10.0, 1) == alert_id
        assert probes[0].read_bytes() == b"first view"
        assert await sighting(b"better view", 30.0, 2) == alert_id
        assert probes[0].read_bytes() == b"better view"
        # replaced in place: one file, no temporary left behind
        assert [p.name for p in (rt.settings.data_path / "probes").rglob("*.*")] == [
            probes[0].name]
        alert = await world.api["dispatcher"].call("GET", f"/api/alerts/{alert_id}")
        assert alert["sightings"] == 6
        await close(world)
