"""A revoked account loses its sockets and its place in routing at once; a handler that fails
on one message costs that message only (typed ``internal_error``), never the connection."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import func, select, update
from websockets.asyncio.client import connect

import server.ws.connection as connection_ws
import server.ws.dispatch as dispatch_ws
import server.ws.officer as officer_ws
from server.runtime import Runtime
from server.store.models import Account, AlertRecipient, Officer
from tests.server.conftest import (
    Api,
    LiveServer,
    Photos,
    WsClient,
    build_world,
    make_token,
    open_ws,
)


async def test_revoked_officer_is_disconnected_unrouted_and_unassignable(
    live: LiveServer, photos: Photos
) -> None:
    world = await build_world(live, photos)
    rt: Runtime = live.runtime
    pc1 = world.ids["pc1"]
    async with rt.db.sessions() as session, session.begin():  # pc1 right by the camera
        await session.execute(update(Officer).where(Officer.id == pc1)
                              .values(lat=world.lat + 0.001, lon=world.lon))
    officer, _ = await open_ws(live, "/ws/officer", world.tokens["pc1"])
    dispatcher, _ = await open_ws(live, "/ws/dispatch", world.tokens["dispatcher"])
    await dispatcher.recv_type("snapshot")

    await world.api["admin"].call("POST", f"/api/accounts/{pc1}/revoke")
    messages = await officer.until_closed()
    assert officer.ws.close_code == 4001
    errors = [m for m in messages if m["type"] == "error"]
    assert [e["code"] for e in errors] == ["unauthorised"]
    assert errors[-1]["fatal"] is True

    camera, _ = await open_ws(live, "/ws/camera", world.tokens["camera"],
                              camera_id=world.camera_id)
    await camera.send({"type": "frame", "seq": 1, "captured_at": time.time(),
                       "jpeg": photos.frame_subject})
    assert (await camera.recv_type("frame_result"))["status"] == "processed"
    await camera.close()
    alert = (await dispatcher.recv_type("alert_raised"))["alert"]
    async with rt.db.sessions() as session:
        routed = (await session.execute(select(func.count()).select_from(AlertRecipient).where(
            AlertRecipient.account_id == pc1))).scalar_one()
    assert routed == 0
    suggestion = await world.api["dispatcher"].call(
        "GET", f"/api/alerts/{alert['id']}/suggestion")
    assert suggestion["officer_id"] != pc1
    await dispatcher.send({"type": "assign", "ref": 3, "alert_id": alert["id"],
                           "officer_id": pc1})
    result = await dispatcher.recv_type("result")
    assert (result["ok"], result["code"]) == (False, "officer_inactive")
    await dispatcher.close()


async def test_revoked_camera_is_disconnected(live: LiveServer) -> None:
    cam_account, cam_token = await make_token(live.settings, "camera", "c1")
    _, admin_token = await make_token(live.settings, "admin", "root")
    admin = Api(live.http, admin_token)
    await admin.call("POST", "/api/cameras", 201,
                     json={"id": "cam-1", "name": "c", "account_id": cam_account})
    camera, _ = await open_ws(live, "/ws/camera", cam_token, camera_id="cam-1")
    await admin.call("POST", f"/api/accounts/{cam_account}/revoke")
    messages = await camera.until_closed()
    assert camera.ws.close_code == 4001
    assert [m["code"] for m in messages if m["type"] == "error"] == ["unauthorised"]
    await admin.close()


@pytest.mark.parametrize(("path", "role"), [("/ws/officer", "officer"),
                                          ("/ws/dispatch", "dispatcher"),
                                          ("/ws/camera", "camera")])
async def test_revocation_during_the_handshake_still_closes_the_socket(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch, path: str, role: str
) -> None:
    """A revocation committed after ``hello`` passed its token check but before the session
    was registered with the hub: the hub had no session to close, so the socket stayed open
    (receiving alerts). The connection now looks again once registered."""
    account_id, token = await make_token(live.settings, role, "r")
    _, admin_token = await make_token(live.settings, "admin", "root")
    admin = Api(live.http, admin_token)
    await admin.call("POST", "/api/cameras", 201,
                     json={"id": "cam-1", "name": "c", "account_id":
                           account_id if role == "camera" else None})
    real = connection_ws.authenticate
    calls: list[str] = []

    async def revoked_meanwhile(session: Any, token: str | None, now: float) -> Any:
        calls.append("hello" if not calls else "again")
        principal = await real(session, token, now)
        if len(calls) == 1:  # what POST /api/accounts/{id}/revoke does, at the worst moment
            async with live.runtime.db.sessions() as other, other.begin():
                await other.execute(update(Account).where(Account.id == account_id)
                                    .values(revoked=True))
            live.runtime.publisher.close_account(account_id, "this account was revoked")
        return principal

    monkeypatch.setattr(connection_ws, "authenticate", revoked_meanwhile)
    client = WsClient(await connect(live.ws + path, max_size=None), path == "/ws/camera")
    await client.send({"type": "hello", "token": token, "protocol": 1, "camera_id": "cam-1"})
    messages = await client.until_closed(wait_s=20)
    assert [m["type"] for m in messages] == ["error"], messages
    assert (messages[0]["code"], messages[0]["fatal"]) == ("unauthorised", True)
    assert client.ws.close_code == 4001
    assert calls == ["hello", "again"]
    await admin.close()


async def _boom(*_args: Any, **_kwargs: Any) -> None:
    raise RuntimeError("database went away")


@pytest.mark.parametrize(("path", "role", "message"), [
    ("/ws/officer", "officer", {"type": "accept", "ref": 7, "alert_id": "alr-x"}),
    ("/ws/dispatch", "dispatcher", {"type": "note", "ref": 7, "alert_id": "alr-x",
                                    "text": "x"}),
])
async def test_handler_failure_answers_internal_error_and_connection_goes_on(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch, path: str, role: str,
    message: dict[str, Any],
) -> None:
    module = officer_ws if role == "officer" else dispatch_ws
    monkeypatch.setattr(module, "alert_command", _boom)
    _, token = await make_token(live.settings, role, "someone")
    client, _ = await open_ws(live, path, token)
    await client.send(message)
    error = await client.recv_type("error")
    assert (error["code"], error["ref"], error["fatal"]) == ("internal_error", 7, False)
    await client.send({"type": "ping", "ref": 8})
    assert (await client.recv_type("pong"))["ref"] == 8
    await client.close()
