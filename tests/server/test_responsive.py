"""The event loop stays responsive while a frame is analysed (inference runs in the pool), and a
camera sending faster than the pipeline loses its older frames (latest frame wins).

The engine is held inside ``detect`` by a gate the test opens (``GatedEngine``), so "while a
frame is analysed" is a fact the test controls, not a timing guess: if analysis ran on the
event loop, no pong could arrive while the gate is shut and the test would fail. How long the
loop stalls with a real engine is measured by ``tests/server/test_loop_lag.py`` and by
``make bench``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.fakes.engine import FakeEngine, GatedEngine
from tests.server.conftest import LiveServer, Photos, build_world, make_settings, open_ws
from tests.support.poll import poll


async def test_pings_answered_while_frames_are_analysed(
    tmp_path: Path, fake_engine: FakeEngine, photos: Photos
) -> None:
    gated = GatedEngine(fake_engine)
    gated.release()  # enrolment runs through the engine too: open until the frames
    # A generous message rate: this client pings as fast as the server answers.
    settings = make_settings(tmp_path, max_messages_per_second=10_000.0)
    async with LiveServer(settings, gated) as live:
        world = await build_world(live, photos)
        officer, _ = await open_ws(live, "/ws/officer", world.tokens["pc2"], resume=None)
        camera, _ = await open_ws(live, "/ws/camera", world.tokens["camera"],
                                  camera_id=world.camera_id)
        gated.hold()
        calls = gated.calls
        await camera.send(frame(1, photos.frame_subject))
        await poll(gated.entered.is_set, 60, "the frame to reach the engine")

        # The frame is inside the engine: the loop still answers every ping.
        for ref in range(1, 6):
            await officer.send({"type": "ping", "ref": ref})
            assert (await officer.recv_type("pong"))["ref"] == ref

        # Latest frame wins: six frames arrive while one is analysed; they replace each other
        # in the camera's slot, each is answered exactly once, and only the newest is analysed.
        strangers = photos.strangers
        for seq in range(10, 16):
            await camera.send(frame(seq, strangers[seq % len(strangers)]))
        results: dict[int, dict[str, Any]] = {}
        while len(results) < 5:  # the five replaced frames are answered at once
            r = await camera.recv_type("frame_result")
            assert r["seq"] not in results
            results[r["seq"]] = r
        assert sorted(results) == list(range(10, 15))
        assert {r["status"] for r in results.values()} == {"dropped"}
        assert gated.calls == calls + 1  # frame 1 only: nothing else reached the engine

        gated.release()
        for _ in range(2):
            r = await camera.recv_type("frame_result")
            assert r["seq"] not in results
            results[r["seq"]] = r
        assert (results[1]["status"], results[1]["faces"]) == ("processed", 3)
        assert (results[15]["status"], results[15]["faces"]) == ("processed", 1)
        assert max(r["dropped_total"] for r in results.values()) == 5
        assert live.runtime.counters["frames_dropped"] == 5
        await officer.close()
        await camera.close()
        for api in world.api.values():
            await api.close()


def frame(seq: int, jpeg: bytes) -> dict[str, Any]:
    return {"type": "frame", "seq": seq, "captured_at": time.time(), "jpeg": jpeg}
