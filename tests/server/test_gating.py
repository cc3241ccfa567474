"""Invariant 4: matching only for a listed camera inside an active deployment's window."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from tests.server.conftest import (
    LiveServer,
    Photos,
    authorise_and_start,
    build_world,
    open_ws,
)


async def test_no_matching_outside_an_active_deployment(live: LiveServer, photos: Photos) -> None:
    world = await build_world(live, photos, start=False)
    admin, authoriser = world.api["admin"], world.api["authoriser"]
    await admin.call("POST", "/api/cameras", 201, json={"id": "cam-unlisted", "name": "x",
                                                     "account_id": world.ids["camera"]})
    officer, _ = await open_ws(live, "/ws/officer", world.tokens["pc1"])
    await officer.send({"type": "position", "lat": 51.5074, "lon": -0.1278})

    async def send_subject(camera_id: str, seq: int) -> dict[str, object]:
        camera, _ = await open_ws(live, "/ws/camera", world.tokens["camera"],
                                  camera_id=camera_id)
        await camera.send({"type": "frame", "seq": seq, "captured_at": time.time(),
                           "jpeg": photos.frame_subject})
        result = await camera.recv_type("frame_result")
        await camera.close()
        return result

    # 1. Deployment created but never started.
    r = await send_subject(world.camera_id, 1)
    assert (r["status"], r["code"]) == ("no_active_deployment", "no_active_deployment")
    # 2. Started, but the camera is not listed.
    await authorise_and_start(authoriser, world.deployment_id, "locate_serious_crime_suspect")
    r = await send_subject("cam-unlisted", 2)
    assert r["status"] == "no_active_deployment"
    # 3. Stopped (kill switch), while another deployment listing the camera is active but
    #    its window has not begun.
    now = time.time()
    later = await authoriser.call("POST", "/api/deployments", 201, json={
        "name": "later", "purpose": "locate_missing_or_victim", "place": "x", "lat": 51.5,
        "lon": -0.12, "camera_ids": [world.camera_id], "watchlist_id": world.watchlist_id,
        "starts_at": now + 3600, "ends_at": now + 7200})
    await authorise_and_start(authoriser, later["id"], "locate_missing_or_victim")
    await authoriser.call("POST", f"/api/deployments/{world.deployment_id}/stop")
    r = await send_subject(world.camera_id, 3)
    assert r["status"] == "no_active_deployment"

    # Counted, and nothing was matched or stored.
    assert live.runtime.counters["frames_no_active_deployment"] == 3
    stats = await world.api["dispatcher"].call(
        "GET", f"/api/deployments/{world.deployment_id}/stats")
    assert (stats["faces_processed"], stats["alerts"]) == (0, 0)
    await officer.send({"type": "ping", "ref": 1})
    assert (await officer.recv_type("pong", "alert_raised"))["type"] == "pong"
    await officer.close()
    # The per-camera counts are written once a second (frame_counts); write them now.
    await live.runtime.frame_counts.flush()
    db = sqlite3.connect(Path(live.settings.data_dir) / "vigil.db")
    try:
        counts = dict(db.execute("select id, frames_no_deployment from cameras").fetchall())
        assert counts == {world.camera_id: 2, "cam-unlisted": 1}
        assert db.execute("select count(*) from alerts").fetchone() == (0,)
    finally:
        db.close()
    for api in world.api.values():
        await api.close()
