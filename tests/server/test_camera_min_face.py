"""A camera's smallest face size reaches detection: its own, else the server setting."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import update

from server.recognition.dlib_engine import DlibEngine
from server.recognition.engine import Face, Image, Vectors
from server.recognition.timing import StageTimer
from server.store.models import Camera
from tests.server.conftest import LiveServer, Photos, build_world, make_settings, open_ws


class SizedDlib:
    """The dlib engine, declaring sized detection and recording the size each frame asks."""

    sized_detection = True

    def __init__(self, inner: DlibEngine) -> None:
        self.inner = inner
        self.name, self.model_id, self.dim = inner.name, inner.model_id, inner.dim
        self.asked: list[float] = []
        self.cameras: list[bool] = []

    def detect(self, image: Image, timer: StageTimer | None = None, *,
               min_face_px: float = 0.0, camera: bool = False) -> list[Face]:
        self.asked.append(min_face_px)
        self.cameras.append(camera)
        return self.inner.detect(image, timer)

    def embed(self, image: Image, faces: Sequence[Face],
              timer: StageTimer | None = None) -> Vectors:
        return self.inner.embed(image, faces, timer)


async def test_camera_min_face_px_reaches_the_engine(
    tmp_path: Path, engine: DlibEngine, photos: Photos,
) -> None:
    sized = SizedDlib(engine)
    settings = make_settings(tmp_path, min_face_px=50.0)
    async with LiveServer(settings, sized) as live:  # type: ignore[arg-type]
        world = await build_world(live, photos, extra_cameras=1)
        assert set(sized.asked) == {0.0}  # enrolment photos: every face the engine can see
        assert set(sized.cameras) == {False}  # ... and photos, not camera frames
        sized.asked.clear()
        sized.cameras.clear()
        admin = world.api["admin"]
        cams = {c["id"]: c for c in await admin.call("GET", "/api/cameras")}
        assert cams["cam-1"]["min_face_px"] is None
        far = await admin.call("POST", "/api/cameras", 201, json={
            "id": "cam-far", "name": "far", "lat": 51.5, "lon": -0.12, "min_face_px": 24})
        assert far["min_face_px"] == 24
        await admin.call("POST", "/api/cameras", 400, json={
            "id": "cam-bad", "name": "bad", "min_face_px": 2})

        camera, _ = await open_ws(live, "/ws/camera", world.tokens["camera"],
                                  camera_id=world.camera_id)
        await camera.send({"type": "frame", "seq": 1, "captured_at": time.time(),
                           "jpeg": photos.frame_second})
        result = await camera.recv_type("frame_result")
        assert result["status"] == "processed"
        assert sized.asked == [50.0]

        # A camera of the deployment with its own size (set in the store, as a migration of
        # an existing camera would leave it) uses that one.
        async with live.runtime.db.sessions() as session, session.begin():
            await session.execute(update(Camera).where(Camera.id == "cam-2")
                                  .values(min_face_px=24.0))
        second, _ = await open_ws(live, "/ws/camera", world.tokens["camera"], camera_id="cam-2")
        await second.send({"type": "frame", "seq": 1, "captured_at": time.time(),
                           "jpeg": photos.frame_second})
        assert (await second.recv_type("frame_result"))["status"] == "processed"
        assert sized.asked == [50.0, 24.0]
        assert sized.cameras == [True, True]
