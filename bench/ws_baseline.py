"""The fan-out baseline: a bare ``websockets`` broadcast server (``python -m bench.ws_baseline``).

It speaks just enough of the protocol for the project's own client (``hello`` -> ``welcome``,
``resume``; acks and positions are read and ignored), so the same client swarm measures it and
the real server. On ``{"cmd": "broadcast"}`` it stamps an alert of realistic size with the
current time as its creation time, encodes it once and hands it to ``websockets.broadcast`` for
every connection: no store, no outbox, no routing. That is the floor our server is compared to.

Commands (JSON lines on stdin): ``count``, ``broadcast``, ``quit``. First line printed:
``{"port": N, "transport": "..."}``.

``--compression deflate`` negotiates permessage-deflate with the parameters uvicorn uses for
our server when ``ws_compression`` is on (12-bit windows, memLevel 5: also websockets' own
default); ``none`` (the default, as our server's) does not. The fan-out figure starts this
server with our server's setting, so both sides do the same transport work.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import msgspec
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.version import version as websockets_version

from bench.proc import emit, serve_commands_until_quit
from shared.protocol.alerts import AlertView, StageTimes
from shared.protocol.base import PROTOCOL_VERSION, Role
from shared.protocol.common import Hello, Limits, Welcome
from shared.protocol.officer import AlertRaised

_encoder = msgspec.json.Encoder()
_hello = msgspec.json.Decoder(Hello)


def sample_alert(alert_id: str, created: float) -> AlertView:
    """An alert card with every field filled as the server fills it (same size on the wire)."""
    return AlertView(
        id=alert_id, version=1, deployment_id="dep-0123456789abcdef",
        camera_id="cam-bench-1", camera_name="Bench camera 1", place="Market Street / 5th",
        lat=51.5074, lon=-0.1278, entry_id="ent-0123456789abcdef", subject_ref="REF-2026-000123",
        display_name="Bench Subject", category="wanted_serious_crime",
        reason="Wanted on warrant for a serious offence; approach with care.",
        legal_basis="Warrant 2026/123 issued by the magistrates' court",
        reference_image_date="2026-01-15", similarity=0.71, threshold=0.55,
        first_seen=created, last_seen=created, sightings=1, state="new",
        probe_url=f"/api/alerts/{alert_id}/probe",
        reference_url="/api/watchlists/wl-0123/entries/ent-0123456789abcdef/photo",
        times=StageTimes(captured=created, ingested=created, matched=created, pushed=created),
    )


class BroadcastServer:
    """The bare server's state: connected sockets and a sequence counter."""

    def __init__(self) -> None:
        self.clients: set[ServerConnection] = set()
        self.seq = 0

    async def handler(self, ws: ServerConnection) -> None:
        try:
            async with asyncio.timeout(10):
                hello = _hello.decode(await ws.recv())
                role: Role = ("dispatcher" if hello.token.startswith("dispatcher")
                              else "officer")
                welcome = Welcome(
                    protocol=PROTOCOL_VERSION, role=role, account_id=hello.token,
                    name=hello.token, server_time=time.time(), last_seq=self.seq, acked_seq=0,
                    limits=Limits(max_message_bytes=64_000, max_frame_bytes=8_000_000,
                                  max_messages_per_second=50.0))
                await ws.send(_encoder.encode(welcome).decode())
                await ws.recv()  # resume
        except (TimeoutError, msgspec.DecodeError):
            return
        self.clients.add(ws)
        try:
            async for _ in ws:  # acks and positions: read, ignored
                pass
        finally:
            self.clients.discard(ws)

    def broadcast(self) -> dict[str, Any]:
        self.seq += 1
        created = time.time()
        alert_id = f"alr-bench-{self.seq:06d}"
        message = AlertRaised(seq=self.seq, alert=sample_alert(alert_id, created))
        payload = _encoder.encode(message).decode()
        broadcast(self.clients, payload)
        return {"alert_id": alert_id, "sent": len(self.clients), "bytes": len(payload)}


def transport(compression: str) -> str:
    """What this server negotiates, in words (the figure prints it beside our server's)."""
    return (f"websockets {websockets_version}, " + (
        "permessage-deflate (12-bit windows, memLevel 5)" if compression == "deflate"
        else "no compression"))


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ws_baseline")
    parser.add_argument("--compression", choices=("none", "deflate"), default="none")
    compression = parser.parse_args().compression
    state = BroadcastServer()
    loop = asyncio.get_running_loop()

    def handle(command: dict[str, Any]) -> dict[str, Any] | None:
        cmd = command.get("cmd")
        if cmd == "quit":
            return None
        if cmd == "count":
            return {"connected": len(state.clients)}
        if cmd == "broadcast":
            future = asyncio.run_coroutine_threadsafe(_call(state.broadcast), loop)
            answer: dict[str, Any] = future.result(timeout=30)
            return answer
        return {"error": f"unknown command {cmd!r}"}

    # websockets' "deflate" is the same factory uvicorn builds (12-bit windows, memLevel 5).
    async with serve(state.handler, "127.0.0.1", 0, max_size=1 << 20, ping_interval=None,
                     compression="deflate" if compression == "deflate" else None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        emit({"port": port, "transport": transport(compression)})
        await serve_commands_until_quit(handle)


async def _call(fn: Any) -> Any:
    return fn()


if __name__ == "__main__":
    asyncio.run(main())
