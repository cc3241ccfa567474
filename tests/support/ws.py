"""Websocket clients as the real ones connect: hello, welcome, then resume."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from shared.protocol.base import PROTOCOL_VERSION
from tests.support.live import ServerInfo

RECV_TIMEOUT = 60.0
"""Upper bound for any single receive (a frame costs about a second on a busy machine)."""


class WsClient:
    """A websocket client speaking JSON (officers, dispatchers) or msgpack (cameras)."""

    def __init__(self, ws: ClientConnection, binary: bool) -> None:
        self.ws = ws
        self.binary = binary

    async def send(self, message: Any) -> None:
        if self.binary:
            await self.ws.send(msgspec.msgpack.encode(message))
        else:
            await self.ws.send(msgspec.json.encode(message).decode())

    async def recv(self, wait_s: float = RECV_TIMEOUT) -> dict[str, Any]:
        async with asyncio.timeout(wait_s):
            raw = await self.ws.recv()
        if isinstance(raw, bytes) and self.binary:
            out: dict[str, Any] = msgspec.msgpack.decode(raw)
        else:
            out = msgspec.json.decode(raw)
        return out

    async def recv_type(self, *types: str, wait_s: float = RECV_TIMEOUT) -> dict[str, Any]:
        """Next message of one of ``types`` (others are skipped: pongs, officer updates)."""
        deadline = time.monotonic() + wait_s
        while True:
            msg = await self.recv(max(0.1, deadline - time.monotonic()))
            if msg["type"] in types:
                return msg

    async def close(self) -> None:
        await self.ws.close()

    async def until_closed(self, wait_s: float = RECV_TIMEOUT) -> list[dict[str, Any]]:
        """Every message until the server closes the connection (then ``ws.close_code``)."""
        messages: list[dict[str, Any]] = []
        try:
            while True:
                messages.append(await self.recv(wait_s))
        except ConnectionClosed:
            return messages


async def open_ws(server: ServerInfo, path: str, token: str, *, camera_id: str | None = None,
                  resume: int | None = 0) -> tuple[WsClient, dict[str, Any]]:
    """Connect, hello, and (officers/dispatchers) resume; returns the client and welcome."""
    binary = path == "/ws/camera"
    ws = await connect(server.ws + path, max_size=None, open_timeout=30)
    client = WsClient(ws, binary)
    hello: dict[str, Any] = {"type": "hello", "token": token, "protocol": PROTOCOL_VERSION}
    if camera_id:
        hello["camera_id"] = camera_id
    await client.send(hello)
    welcome = await client.recv()
    assert welcome["type"] == "welcome", welcome
    if not binary and resume is not None:
        await client.send({"type": "resume", "last_seq": resume})
    return client, welcome
