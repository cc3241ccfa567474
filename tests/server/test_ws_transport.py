"""Websocket transport settings: permessage-deflate is negotiated only when ``ws_compression``
is on (off by default: alerts are small JSON, frames are JPEG, and deflate costs CPU per
message per socket and compressor state per connection)."""

from __future__ import annotations

from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from server.recognition.engine import FaceEngine
from tests.server.conftest import LiveServer, make_settings


@pytest.mark.parametrize("compression", [False, True])
async def test_deflate_is_negotiated_only_when_configured(
    tmp_path: Path, engine: FaceEngine, compression: bool
) -> None:
    settings = make_settings(tmp_path, ws_compression=compression)
    async with LiveServer(settings, engine) as live:
        for path in ("/ws/officer", "/ws/dispatch", "/ws/camera"):
            # The client offers permessage-deflate (websockets' default), as browsers do.
            async with connect(live.ws + path, compression="deflate") as ws:
                assert ws.response is not None
                offered = ws.response.headers.get("Sec-WebSocket-Extensions") or ""
                assert ("permessage-deflate" in offered) == compression, (path, offered)
