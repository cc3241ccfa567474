"""Dispatchers see the deployment's figures move while frames are processed."""

from __future__ import annotations

import asyncio
import time

from tests.server.conftest import LiveServer, Photos, World, build_world, open_ws


async def test_dispatcher_receives_stats_as_faces_are_processed(
    live: LiveServer, photos: Photos
) -> None:
    world: World = await build_world(live, photos)
    dispatcher, _ = await open_ws(live, "/ws/dispatch", world.tokens["dispatcher"])
    snap = await dispatcher.recv_type("snapshot")
    assert snap["stats"][0]["faces_processed"] == 0
    camera, _ = await open_ws(live, "/ws/camera", world.tokens["camera"],
                              camera_id=world.camera_id)
    await camera.send({"type": "frame", "seq": 1, "captured_at": time.time(),
                       "jpeg": photos.frame_second})
    result = await camera.recv_type("frame_result")
    assert result["status"] == "processed"
    assert result["faces"] > 0
    # A push sent before the frame was counted may come first (the stats loop runs on its own
    # period): wait for the one that shows the frame, which must come.
    async with asyncio.timeout(30):
        while True:
            update = await dispatcher.recv_type("stats_updated")
            assert update["stats"]["deployment_id"] == world.deployment_id
            if update["stats"]["faces_processed"] > 0:
                break
    assert update["stats"]["faces_processed"] == result["faces"]
