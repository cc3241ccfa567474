"""Bad input gets its documented error; the connection or request fails alone."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from server.recognition.dlib_engine import DlibEngine
from tests.recognition.test_image_io import big_png
from tests.server.conftest import (
    LiveServer,
    Photos,
    WsClient,
    build_world,
    make_settings,
    open_ws,
)


async def closed_with(client: WsClient) -> int:
    await client.until_closed(30)
    code = client.ws.close_code
    assert code is not None
    return code


async def test_bad_input(tmp_path: Path, engine: DlibEngine, photos: Photos) -> None:
    settings = make_settings(tmp_path, max_image_bytes=300_000, max_messages_per_second=20.0)
    async with LiveServer(settings, engine) as live:
        world = await build_world(live, photos)
        bystander, _ = await open_ws(live, "/ws/officer", world.tokens["pc2"])
        disp, _ = await open_ws(live, "/ws/dispatch", world.tokens["dispatcher"])
        await disp.recv_type("snapshot")

        # Malformed JSON, unknown tag, a second hello, oversize message: error, not fatal.
        await disp.ws.send("{not json")
        assert (await disp.recv_type("error"))["code"] == "bad_message"
        await disp.send({"type": "launch_missiles"})
        assert (await disp.recv_type("error"))["code"] == "bad_message"
        await disp.send({"type": "assign", "ref": 1})  # missing fields
        assert (await disp.recv_type("error"))["code"] == "bad_message"
        await disp.ws.send("x" * (settings.max_message_bytes + 1))
        assert (await disp.recv_type("error"))["code"] == "message_too_large"
        await disp.send({"type": "assign", "ref": 2, "alert_id": "alr-nope",
                         "officer_id": world.ids["pc1"]})
        result = await disp.recv_type("result")
        assert (result["ok"], result["code"]) == (False, "not_found")
        await disp.send({"type": "ping", "ref": 3})
        assert (await disp.recv_type("pong"))["ref"] == 3

        # Missing hello and wrong protocol version: error, then the documented close code.
        raw = WsClient(await connect(live.ws + "/ws/officer"), False)
        await raw.send({"type": "ping", "ref": 1})
        assert (await raw.recv())["code"] == "hello_required"
        assert await closed_with(raw) == 4000
        raw = WsClient(await connect(live.ws + "/ws/officer"), False)
        await raw.send({"type": "hello", "token": world.tokens["pc1"], "protocol": 99})
        assert (await raw.recv())["code"] == "protocol_version"
        assert await closed_with(raw) == 4002

        # Camera: malformed msgpack, text frame, non-JPEG, truncated JPEG, oversize frame.
        camera, _ = await open_ws(live, "/ws/camera", world.tokens["camera"],
                                  camera_id=world.camera_id)
        await camera.ws.send(b"\xc1\xff\x00garbage")
        assert (await camera.recv_type("error"))["code"] == "bad_message"
        await camera.ws.send('{"type": "frame"}')
        assert (await camera.recv_type("error"))["code"] == "bad_message"

        async def frame_result(seq: int, data: bytes) -> dict[str, object]:
            await camera.send({"type": "frame", "seq": seq, "captured_at": time.time(),
                               "jpeg": data})
            return await camera.recv_type("frame_result")

        r = await frame_result(1, b"GIF89a definitely not a jpeg")
        assert (r["status"], r["code"]) == ("refused", "undecodable_image")
        good = photos.frame_subject
        r = await frame_result(2, good[: len(good) // 2])
        assert (r["status"], r["code"]) == ("refused", "undecodable_image")
        r = await frame_result(3, b"\xff\xd8" + b"\x00" * (settings.max_image_bytes + 10))
        assert (r["status"], r["code"]) == ("refused", "frame_too_large")
        # A few KB of PNG claiming 4096x4096 (over the frame limit): refused from its header.
        r = await frame_result(4, big_png())
        assert (r["status"], r["code"]) == ("refused", "image_too_large")
        stats = await world.api["dispatcher"].call(
            "GET", f"/api/deployments/{world.deployment_id}/stats")
        assert stats["frames_refused"] == 3
        # Beyond the transport limit the socket is closed with 1009 (message too big).
        big, _ = await open_ws(live, "/ws/camera", world.tokens["camera"],
                               camera_id=world.camera_id)
        await big.ws.send(msgspec.msgpack.encode({"type": "frame", "seq": 1, "captured_at": 0,
                                                  "jpeg": b"\x00" * (400_000 + 70_000)}))
        assert await closed_with(big) == 1009

        # Flood: rate limited and closed with 4008; nobody else notices.
        flooder, _ = await open_ws(live, "/ws/officer", world.tokens["pc1"])
        for i in range(200):
            try:
                await flooder.send({"type": "ping", "ref": i})
            except ConnectionClosed:
                break
        codes = [m["code"] for m in await flooder.until_closed(30) if m["type"] == "error"]
        assert codes == ["rate_limited"]
        assert flooder.ws.close_code == 4008

        # Everyone else kept working, including the camera that sent garbage.
        await bystander.send({"type": "ping", "ref": 42})
        assert (await bystander.recv_type("pong"))["ref"] == 42
        await disp.send({"type": "ping", "ref": 43})
        assert (await disp.recv_type("pong"))["ref"] == 43
        # (the camera reconnects: the oversize message above replaced its session)
        camera, _ = await open_ws(live, "/ws/camera", world.tokens["camera"],
                                  camera_id=world.camera_id)
        r = await frame_result(4, good)
        assert r["status"] == "processed"
        for c in (bystander, disp, camera):
            await c.close()
        for api in world.api.values():
            await api.close()
