"""Invariant 6 (basic form): every REST call and websocket needs a valid token of an allowed
role; refusals are typed and change nothing."""

from __future__ import annotations

import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.server.conftest import Api, LiveServer, WsClient, make_token, open_ws


async def test_rest_refusals(live: LiveServer) -> None:
    _, admin_token = await make_token(live.settings, "admin", "root")
    _, officer_token = await make_token(live.settings, "officer", "pc1")
    _, expired = await make_token(live.settings, "admin", "old", expires_at=time.time() - 1)
    cases = [
        (None, 401, "unauthorised"),
        ("vgl_not-a-real-token", 401, "unauthorised"),
        (expired, 401, "unauthorised"),
        (officer_token, 403, "forbidden"),
    ]
    for token, status, code in cases:
        api = Api(live.http, token)
        body = await api.call("POST", "/api/cameras", status, json={"name": "x"})
        assert body["code"] == code
        body = await api.call("GET", "/api/accounts", status)
        assert body["code"] == code
        await api.close()
    admin = Api(live.http, admin_token)
    assert await admin.call("GET", "/api/cameras") == []  # nothing was created
    created = await admin.call("POST", "/api/accounts", 201,
                               json={"role": "dispatcher", "name": "d"})
    disp = Api(live.http, created["token"])
    assert await disp.call("GET", "/api/alerts") == []
    await admin.call("POST", f"/api/accounts/{created['account_id']}/revoke")
    assert (await disp.call("GET", "/api/alerts", 401))["code"] == "unauthorised"
    accounts = await admin.call("GET", "/api/accounts")
    assert all("token" not in a and "token_hash" not in a for a in accounts)
    await admin.close()
    await disp.close()


async def ws_refused(live: LiveServer, path: str, hello: dict[str, object]) -> tuple[str, int]:
    ws = await connect(live.ws + path, open_timeout=30)
    client = WsClient(ws, path == "/ws/camera")
    await client.send(hello)
    error = await client.recv()
    assert error["type"] == "error"
    assert error["fatal"] is True
    with pytest.raises(ConnectionClosed):
        await client.recv()
    assert ws.close_code is not None
    return str(error["code"]), ws.close_code


async def test_websocket_refusals(live: LiveServer) -> None:
    _, disp_token = await make_token(live.settings, "dispatcher", "d")
    _, officer_token = await make_token(live.settings, "officer", "pc1")
    _, expired = await make_token(live.settings, "officer", "old", expires_at=time.time() - 1)
    cam_account, cam_token = await make_token(live.settings, "camera", "c1")
    _, other_cam_token = await make_token(live.settings, "camera", "c2")
    _, admin_token = await make_token(live.settings, "admin", "root")
    admin = Api(live.http, admin_token)
    await admin.call("POST", "/api/cameras", 201,
                     json={"id": "cam-1", "name": "c", "account_id": cam_account})
    await admin.close()
    # A healthy officer stays connected through all of it.
    bystander, _ = await open_ws(live, "/ws/officer", officer_token)

    assert await ws_refused(live, "/ws/officer", {"type": "hello", "token": "bogus"}) == (
        "unauthorised", 4001)
    assert await ws_refused(live, "/ws/officer", {"type": "hello", "token": expired}) == (
        "unauthorised", 4001)
    assert await ws_refused(live, "/ws/officer", {"type": "hello", "token": disp_token}) == (
        "forbidden", 4001)
    assert await ws_refused(live, "/ws/dispatch", {"type": "hello", "token": officer_token}) == (
        "forbidden", 4001)
    assert await ws_refused(live, "/ws/camera", {"type": "hello", "token": other_cam_token,
                                                 "camera_id": "cam-1"}) == ("forbidden", 4001)
    assert await ws_refused(live, "/ws/camera", {"type": "hello", "token": cam_token,
                                                 "camera_id": "cam-unknown"}) == (
        "forbidden", 4001)
    await bystander.send({"type": "ping", "ref": 5})
    assert (await bystander.recv_type("pong"))["ref"] == 5
    await bystander.close()
