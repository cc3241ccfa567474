"""The event loop stays responsive while frames are processed (inference runs in the pool)."""

from __future__ import annotations

import asyncio
import time

import cv2
import numpy as np

from server.recognition.image_io import decode_image, encode_jpeg
from tests.server.conftest import LiveServer, Photos, build_world, open_ws


async def test_pings_answered_while_frames_are_processed(
    live: LiveServer, photos: Photos
) -> None:
    world = await build_world(live, photos)
    officer, _ = await open_ws(live, "/ws/officer", world.tokens["pc2"], resume=None)
    camera, _ = await open_ws(live, "/ws/camera", world.tokens["camera"],
                              camera_id=world.camera_id)
    # A 1280x720 frame: a second or so of detection and embedding in the worker pool.
    small = decode_image(photos.frame_subject, max_bytes=10**7, max_pixels=10**8)
    big = encode_jpeg(np.ascontiguousarray(cv2.resize(small, (1280, 720))))

    sent_at = time.time()
    await camera.send({"type": "frame", "seq": 1, "captured_at": sent_at, "jpeg": big})
    result_task = asyncio.ensure_future(camera.recv_type("frame_result"))
    pong_times: list[float] = []
    ref = 0
    while not result_task.done():
        ref += 1
        await officer.send({"type": "ping", "ref": ref})
        pong = await officer.recv_type("pong")
        assert pong["ref"] == ref
        pong_times.append(pong["server_time"])
    result = await result_task
    assert result["status"] == "processed"
    assert result["faces"] == 3
    # Processing began after sent_at and lasted latency_ms: pongs inside that window were
    # answered by the event loop while the frame was being analysed.
    done_at = sent_at + result["latency_ms"] / 1000.0
    during = [t for t in pong_times if sent_at < t < done_at]
    assert len(during) >= 3, (len(pong_times), result["latency_ms"])
    await officer.close()
    await camera.close()
    for api in world.api.values():
        await api.close()
