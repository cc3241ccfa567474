"""Security hardening (issue 15, items 1, 2, 4, 5): token expiry closes open sockets at the
expiry instant, expired officers are neither routed to nor assignable, an administrator
cannot revoke itself, and a camera token streams only for a camera it is bound to.

Time moves with the injectable fake clock; nothing sleeps.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from websockets.asyncio.client import connect

from server.store.models import Account, AlertRecipient, Officer
from tests.governance.conftest import FakeClock
from tests.governance.helpers import runtime_of, send_frame
from tests.server.conftest import (
    Api,
    LiveServer,
    Photos,
    WsClient,
    build_world,
    make_token,
    open_ws,
)


async def _closed_by_expiry(client: WsClient) -> None:
    messages = await client.until_closed()
    errors = [m for m in messages if m["type"] == "error"]
    assert [(e["code"], e["fatal"]) for e in errors] == [("unauthorised", True)], messages
    assert client.ws.close_code == 4001


async def test_token_expiry_closes_open_sockets_at_the_expiry_instant(
    gov_live: LiveServer, clock: FakeClock
) -> None:
    expires = clock() + 600
    settings = gov_live.settings
    _, officer_token = await make_token(settings, "officer", "pc-exp", expires_at=expires)
    _, dispatcher_token = await make_token(settings, "dispatcher", "d-exp", expires_at=expires)
    camera_account, camera_token = await make_token(settings, "camera", "c-exp",
                                                    expires_at=expires)
    _, admin_token = await make_token(settings, "admin", "root")
    admin = Api(gov_live.http, admin_token)
    await admin.call("POST", "/api/cameras", 201,
                     json={"id": "cam-exp", "name": "c", "account_id": camera_account})
    officer, _ = await open_ws(gov_live, "/ws/officer", officer_token)
    dispatcher, _ = await open_ws(gov_live, "/ws/dispatch", dispatcher_token)
    camera, _ = await open_ws(gov_live, "/ws/camera", camera_token, camera_id="cam-exp")
    rest = Api(gov_live.http, dispatcher_token)

    # One second before the instant, every socket is still served.
    clock.advance(599)
    for client in (officer, dispatcher, camera):
        await client.send({"type": "ping", "ref": 5})
        assert (await client.recv_type("pong"))["ref"] == 5
    await rest.call("GET", "/api/deployments", 200)

    clock.advance(1)  # the expiry instant: REST refuses and every socket is closed
    await rest.call("GET", "/api/deployments", 401)
    for client in (officer, dispatcher, camera):
        await _closed_by_expiry(client)
    for api in (admin, rest):
        await api.close()


async def test_expired_officer_is_neither_routed_to_nor_assignable(
    gov_live: LiveServer, photos: Photos, clock: FakeClock
) -> None:
    world = await build_world(gov_live, photos)
    rt = runtime_of(world)
    pc1, pc2 = world.ids["pc1"], world.ids["pc2"]
    async with rt.db.sessions() as session, session.begin():  # both right by the camera
        await session.execute(update(Officer).where(Officer.id.in_([pc1, pc2]))
                              .values(lat=world.lat + 0.001, lon=world.lon))
        await session.execute(update(Account).where(Account.id == pc1)
                              .values(expires_at=clock() + 60))
    clock.advance(61)  # pc1's token has expired; its account is not revoked
    dispatcher, _ = await open_ws(gov_live, "/ws/dispatch", world.tokens["dispatcher"])
    await dispatcher.recv_type("snapshot")
    assert (await send_frame(world, photos.frame_subject))["status"] == "processed"
    alert = (await dispatcher.recv_type("alert_raised"))["alert"]
    async with rt.db.sessions() as session:
        routed = dict((await session.execute(
            select(AlertRecipient.account_id, func.count()).group_by(AlertRecipient.account_id)
        )).all())
    assert pc1 not in routed
    assert routed.get(pc2) == 1
    suggestion = await world.api["dispatcher"].call(
        "GET", f"/api/alerts/{alert['id']}/suggestion")
    assert suggestion["officer_id"] == pc2
    await dispatcher.send({"type": "assign", "ref": 3, "alert_id": alert["id"],
                           "officer_id": pc1})
    result = await dispatcher.recv_type("result")
    assert (result["ok"], result["code"]) == (False, "officer_inactive")
    await dispatcher.send({"type": "assign", "ref": 4, "alert_id": alert["id"],
                           "officer_id": pc2})
    assert (await dispatcher.recv_type("result"))["ok"] is True
    await dispatcher.close()


async def test_an_admin_cannot_revoke_itself_even_the_last_one(gov_live: LiveServer) -> None:
    first_id, first_token = await make_token(gov_live.settings, "admin", "first")
    second_id, second_token = await make_token(gov_live.settings, "admin", "second")
    first, second = Api(gov_live.http, first_token), Api(gov_live.http, second_token)
    refused = await first.call("POST", f"/api/accounts/{first_id}/revoke", 409)
    assert refused["code"] == "cannot_revoke_self"
    await first.call("POST", f"/api/accounts/{second_id}/revoke", 200)
    await second.call("GET", "/api/accounts", 401)
    # ``first`` is now the last administrator, and still cannot revoke itself.
    refused = await first.call("POST", f"/api/accounts/{first_id}/revoke", 409)
    assert refused["code"] == "cannot_revoke_self"
    accounts = {a["id"]: a for a in await first.call("GET", "/api/accounts")}
    assert accounts[first_id]["revoked"] is False
    for api in (first, second):
        await api.close()


async def _camera_refused(server: LiveServer, token: str, camera_id: str) -> None:
    ws = await connect(server.ws + "/ws/camera", max_size=None, open_timeout=30)
    client = WsClient(ws, binary=True)
    await client.send({"type": "hello", "token": token, "protocol": 1, "camera_id": camera_id})
    messages = await client.until_closed()
    assert [m["code"] for m in messages if m["type"] == "error"] == ["forbidden"], messages
    assert ws.close_code == 4001


async def test_camera_tokens_are_bound_to_camera_ids_by_default(gov_live: LiveServer) -> None:
    settings = gov_live.settings
    _, admin_token = await make_token(settings, "admin", "root")
    first_id, first_token = await make_token(settings, "camera", "c1")
    second_id, second_token = await make_token(settings, "camera", "c2")
    officer_id, _ = await make_token(settings, "officer", "pc")
    admin = Api(gov_live.http, admin_token)
    await admin.call("POST", "/api/cameras", 201, json={"id": "cam-open", "name": "x"})
    # Registered without an account: no camera token may stream for it (fail closed).
    await _camera_refused(gov_live, first_token, "cam-open")
    # Binding takes a camera account, of a registered camera.
    bad = await admin.call("POST", "/api/cameras/cam-open/bind", 400,
                           json={"account_id": "nobody"})
    assert bad["code"] == "bad_account"
    await admin.call("POST", "/api/cameras/cam-none/bind", 404, json={"account_id": first_id})
    await admin.call("POST", "/api/cameras/cam-open/bind", 400, json={"account_id": officer_id})
    view = await admin.call("POST", "/api/cameras/cam-open/bind", 200,
                            json={"account_id": first_id})
    assert view["id"] == "cam-open"
    camera, welcome = await open_ws(gov_live, "/ws/camera", first_token, camera_id="cam-open")
    assert welcome["type"] == "welcome"
    await _camera_refused(gov_live, second_token, "cam-open")
    # Rebinding to another account closes the stream of the old one at once.
    await admin.call("POST", "/api/cameras/cam-open/bind", 200, json={"account_id": second_id})
    messages = await camera.until_closed()
    assert [(m["code"], m["fatal"]) for m in messages if m["type"] == "error"] == [
        ("forbidden", True)], messages
    assert camera.ws.close_code == 4001
    await _camera_refused(gov_live, first_token, "cam-open")
    second, _ = await open_ws(gov_live, "/ws/camera", second_token, camera_id="cam-open")
    await second.close()
    await admin.close()
