"""The event loop stays responsive while frames are processed (inference runs in the pool)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from server.recognition.dlib_engine import DlibEngine
from server.recognition.image_io import decode_image, encode_jpeg
from tests.server.conftest import LiveServer, Photos, build_world, make_settings, open_ws


async def test_pings_answered_while_frames_are_processed(
    tmp_path: Path, engine: DlibEngine, photos: Photos
) -> None:
    # A generous message rate: this client pings as fast as the server answers.
    settings = make_settings(tmp_path, max_messages_per_second=10_000.0)
    async with LiveServer(settings, engine) as live:
        await _pings_during_frame(live, photos)


async def _pings_during_frame(live: LiveServer, photos: Photos) -> None:
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

    # Latest frame wins: frames arriving while one is analysed replace each other; each is
    # answered exactly once, the replaced ones as ``dropped``, and the drops are counted.
    strangers = photos.strangers
    for seq in range(10, 16):
        await camera.send({"type": "frame", "seq": seq, "captured_at": time.time(),
                           "jpeg": strangers[seq % len(strangers)]})
    results: dict[int, dict[str, Any]] = {}
    while 15 not in results or results[15]["status"] == "dropped":
        r = await camera.recv_type("frame_result")
        assert r["seq"] not in results
        results[r["seq"]] = r
    assert sorted(results) == list(range(10, 16))
    dropped = [s for s, r in results.items() if r["status"] == "dropped"]
    assert dropped  # six frames in a burst cannot all be analysed one by one in time
    assert results[15]["status"] == "processed"
    assert max(r["dropped_total"] for r in results.values()) == len(dropped)
    assert live.runtime.counters["frames_dropped"] == len(dropped)
    await officer.close()
    await camera.close()
    for api in world.api.values():
        await api.close()
