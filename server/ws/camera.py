"""``/ws/camera``: msgpack frames in, ``frame_result`` out (see docs/protocol.md)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from litestar import WebSocket, websocket

from server.pipeline.ingest import FrameSlot, Pending, run_camera
from server.runtime import Runtime
from server.store.models import Camera
from server.ws.connection import Closed, Connection
from server.ws.hub import Hub
from shared.protocol.base import CloseCode, ErrorCode
from shared.protocol.camera import CameraIn, Frame, FrameResult
from shared.protocol.codec import ProtocolError, camera_in
from shared.protocol.common import Ping, Pong

log = logging.getLogger("vigil.ws")

FRAME_OVERHEAD = 4096
"""Bytes a frame message may carry besides its JPEG (sequence, times, position)."""


def decode(raw: bytes | str) -> CameraIn:
    if isinstance(raw, str):
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "cameras send msgpack binary frames")
    return camera_in.decode(raw)


@websocket("/ws/camera")
async def camera_socket(socket: WebSocket[Any, Any, Any]) -> None:
    """A camera unit streaming frames for its registered camera id."""
    runtime: Runtime = socket.app.state.runtime
    hub: Hub = socket.app.state.hub
    await socket.accept()
    conn = Connection(socket, runtime, role="camera", mode="binary",
                      max_bytes=runtime.settings.max_image_bytes + FRAME_OVERHEAD)
    conn.session.start()
    camera_id: str | None = None
    worker = None
    try:
        accepted = await conn.handshake(decode)
        if accepted is None:
            return
        hello, principal = accepted
        if not runtime.accepting:
            conn.error("shutting_down", "server is shutting down", close=CloseCode.GOING_AWAY)
            return
        async with runtime.db.sessions() as session:
            camera = await session.get(Camera, hello.camera_id or "")
        if not conn.camera_bound(camera, principal) or camera is None:  # None: for the types
            return
        camera_id = camera.id
        hub.register(conn.session, camera_id=camera_id)
        if not await conn.still_valid(hello, camera_id=camera_id):
            return
        await conn.welcome(principal)
        slot = FrameSlot()

        def reply(result: FrameResult) -> None:
            conn.send(result)

        worker = runtime.spawn(run_camera(runtime, camera_id, slot, reply),
                               name=f"camera-{camera_id}")
        while True:
            message = await conn.next_message(decode)
            match message:
                case Frame():
                    if len(message.jpeg) > runtime.settings.max_image_bytes:
                        runtime.count("frames_too_large")
                        conn.send(FrameResult(seq=message.seq, status="refused",
                                              code=ErrorCode.FRAME_TOO_LARGE))
                        continue
                    old = slot.put(Pending(message, runtime.clock(), time.perf_counter()))
                    if old is not None:
                        runtime.count("frames_dropped")
                        conn.send(FrameResult(seq=old.frame.seq, status="dropped",
                                              dropped_total=slot.dropped))
                case Ping():
                    conn.send(Pong(ref=message.ref, server_time=runtime.clock()))
                case None:
                    continue
                case _:
                    conn.error(ErrorCode.BAD_MESSAGE, "not a camera message")
    except Closed:
        pass
    finally:
        if worker is not None:
            worker.cancel()
            await asyncio.wait([worker])  # waits without raising, nor swallowing our cancel
        if camera_id is not None:
            hub.unregister(conn.session, camera_id=camera_id)
        await conn.finish()
