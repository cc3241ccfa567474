"""Invariant 6: every REST endpoint and every websocket message type against every role.

The REST table must name every route the app serves (a new endpoint without a row fails the
test). Refused identities get 401 (no token, expired token) or 403 (wrong role) and leave
every table exactly as it was; allowed ones are admitted: reads answer 200, and mutations are
aimed at a target that does not exist, so they answer their own 404/400 and the matrix itself
changes nothing (the lifecycle tests exercise the successful mutations).
"""

from __future__ import annotations

import re
import typing
from typing import Any

import msgspec
from litestar.routes import HTTPRoute
from sqlalchemy import update
from websockets.asyncio.client import connect

from server.store.models import Officer
from shared.protocol.camera import CameraIn
from shared.protocol.dispatch import DispatchIn
from shared.protocol.officer import OfficerIn
from tests.governance.conftest import FakeClock, snapshot
from tests.governance.helpers import add_auditor, runtime_of, send_frame
from tests.server.conftest import (
    Api,
    LiveServer,
    Photos,
    build_world,
    make_token,
    open_ws,
)

ROLES = ("admin", "watchlist_manager", "authoriser", "dispatcher", "officer", "auditor",
         "camera")
IDENTITIES = (*ROLES, "no_token", "expired")

READ_DEPLOYMENTS = {"admin", "authoriser", "dispatcher", "auditor"}
READ_WATCHLISTS = {"watchlist_manager", "authoriser", "admin", "auditor"}
READ_ENTRIES = {"watchlist_manager", "authoriser", "admin"}  # names people: not for auditors
ALERT_VIEWERS = {"dispatcher", "officer"}  # least privilege: auditors get counts, not cards
IMAGE_VIEWERS = {"dispatcher", "officer"}  # faces: not for auditors

MATRIX: dict[tuple[str, str], set[str]] = {
    ("GET", "/api/accounts"): {"admin"},
    ("POST", "/api/accounts"): {"admin"},
    ("POST", "/api/accounts/{account_id:str}/revoke"): {"admin"},
    ("GET", "/api/cameras"): {"admin", "authoriser", "dispatcher", "auditor"},
    ("POST", "/api/cameras"): {"admin"},
    ("POST", "/api/cameras/{camera_id:str}/bind"): {"admin"},
    ("GET", "/api/officers"): {"admin", "dispatcher"},
    ("GET", "/api/watchlists"): READ_WATCHLISTS,
    ("POST", "/api/watchlists"): {"watchlist_manager"},
    ("GET", "/api/watchlists/{watchlist_id:str}/entries"): READ_ENTRIES,
    ("POST", "/api/watchlists/{watchlist_id:str}/entries"): {"watchlist_manager"},
    ("DELETE", "/api/watchlists/{watchlist_id:str}/entries/{entry_id:str}"):
        {"watchlist_manager"},
    ("POST", "/api/watchlists/{watchlist_id:str}/entries/{entry_id:str}/photos"):
        {"watchlist_manager"},
    ("GET", "/api/deployments"): READ_DEPLOYMENTS,
    ("POST", "/api/deployments"): {"admin", "authoriser"},
    ("POST", "/api/deployments/{deployment_id:str}/start"): {"authoriser"},
    ("POST", "/api/deployments/{deployment_id:str}/stop"): {"authoriser"},
    ("GET", "/api/deployments/{deployment_id:str}/stats"): READ_DEPLOYMENTS,
    ("GET", "/api/deployments/{deployment_id:str}/authorisation"): READ_DEPLOYMENTS,
    ("POST", "/api/deployments/{deployment_id:str}/authorisation"): {"authoriser"},
    ("POST", "/api/deployments/{deployment_id:str}/authorisation/confirm"): {"authoriser"},
    ("POST", "/api/deployments/{deployment_id:str}/authorisation/refuse"): {"authoriser"},
    ("POST", "/api/deployments/{deployment_id:str}/authorisation/revoke"): {"authoriser"},
    ("POST", "/api/deployments/{deployment_id:str}/threshold"): {"admin", "authoriser"},
    ("GET", "/api/deployments/{deployment_id:str}/transparency"): READ_DEPLOYMENTS,
    ("GET", "/api/thresholds"): {"admin", "authoriser", "watchlist_manager", "auditor"},
    ("GET", "/api/alerts"): ALERT_VIEWERS,
    ("GET", "/api/alerts/{alert_id:str}"): ALERT_VIEWERS,
    ("GET", "/api/alerts/{alert_id:str}/probe"): IMAGE_VIEWERS,
    ("GET", "/api/alerts/{alert_id:str}/reference"): IMAGE_VIEWERS,
    ("GET", "/api/alerts/{alert_id:str}/suggestion"): {"dispatcher"},
    ("GET", "/api/audit"): {"auditor"},
    ("GET", "/api/audit/verify"): {"auditor"},
    ("GET", "/api/audit/export"): {"auditor"},
    ("POST", "/api/officers/{officer_id:str}/pairing"): {"admin", "dispatcher"},
    ("POST", "/api/officers/{officer_id:str}/unpair"): {"admin", "dispatcher"},
    ("POST", "/api/pairing/unpair"): {"officer"},
    ("GET", "/api/push/key"): {"officer"},
    ("POST", "/api/push/subscriptions"): {"officer"},
    ("DELETE", "/api/push/subscriptions"): {"officer"},
}
PUBLIC = re.compile(r"^(/api/health|/schema.*|/officer.*|/api/pairing/exchange)$")
"""Liveness, the OpenAPI schema, the officer app's static files and the pairing exchange (a
one-time code is the credential there) need no token (they reveal nothing about anyone)."""

CREATE_BODIES: dict[str, dict[str, Any]] = {
    "/api/accounts": {"role": "officer", "name": "new"},
    "/api/cameras": {"name": "new", "id": "cam-new"},
    "/api/watchlists": {"name": "new"},
}


def served_routes(server: LiveServer) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for route in server.app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                for method in handler.http_methods:
                    if method != "OPTIONS":
                        out.add((method, route.path))
    return out


def target(template: str, ids: dict[str, str], watchlist_id: str) -> str:
    path = re.sub(r"\{(\w+):str\}", lambda m: ids[m.group(1)], template)
    return path + (f"?watchlist_id={watchlist_id}" if template == "/api/thresholds" else "")


def body(method: str, template: str, *, admitted: bool) -> dict[str, Any]:
    """A request body: well-formed for refused identities (so only the role decides), empty
    for admitted ones on create endpoints (so nothing is created)."""
    if template in CREATE_BODIES:
        return {"json": {} if admitted else CREATE_BODIES[template]}
    if template == "/api/deployments" and method == "POST":
        return {"json": {} if admitted else {"name": "x"}}
    if template.endswith("/bind"):
        return {"json": {"account_id": "cam-does-not-exist"}}
    if template.endswith("/threshold"):
        return {"json": {"threshold": 0.99}}
    if method == "POST" and "{deployment_id" in template:
        return {"json": {"authority_ref": "X", "purpose": "locate_serious_crime_suspect",
                         "reason": "x"}}
    return {}


async def test_every_rest_endpoint_against_every_role(
    gov_live: LiveServer, photos: Photos, clock: FakeClock
) -> None:
    world = await build_world(gov_live, photos)
    rt = runtime_of(world)
    async with rt.db.sessions() as session, session.begin():  # pc1 near the camera
        await session.execute(update(Officer).where(Officer.id == world.ids["pc1"])
                              .values(lat=world.lat + 0.001, lon=world.lon))
    assert (await send_frame(world, photos.frame_subject))["status"] == "processed"
    [alert] = await world.api["dispatcher"].call("GET", "/api/alerts")
    _, expired_token = await make_token(gov_live.settings, "dispatcher", "old",
                                        expires_at=clock() - 1)
    await add_auditor(world)
    apis: dict[str, Api] = {role: world.api[role] for role in ROLES if role != "officer"}
    apis["officer"] = world.api["pc1"]
    apis["no_token"] = Api(gov_live.http, None)
    apis["expired"] = Api(gov_live.http, expired_token)
    real = {"account_id": world.ids["pc2"], "watchlist_id": world.watchlist_id,
            "entry_id": world.entry_id, "deployment_id": world.deployment_id,
            "alert_id": alert["id"], "camera_id": world.camera_id,
            "officer_id": world.ids["pc2"]}
    dummy = {k: f"{v[:3]}-does-not-exist" for k, v in real.items()}

    served = {r for r in served_routes(gov_live) if not PUBLIC.match(r[1])}
    assert served == set(MATRIX), "every served endpoint needs a row in the role matrix"

    failures: list[str] = []
    for (method, template), allowed in sorted(MATRIX.items()):
        is_read = method == "GET"
        # Refused identities first, then admitted ones; the store is compared around each
        # group (reads by admitted identities may stamp nothing either, but are not checked).
        for group in ([w for w in IDENTITIES if w not in allowed],
                      [w for w in IDENTITIES if w in allowed]):
            before = await snapshot(rt)
            for who in group:
                r = await apis[who].client.request(
                    method, target(template, real if is_read or who not in allowed else dummy,
                                   world.watchlist_id),
                    **body(method, template, admitted=who in allowed))
                label = f"{method} {template} as {who}: {r.status_code}"
                if who in allowed:
                    ok = r.status_code == 200 if is_read else r.status_code in (400, 404, 422)
                else:
                    want = 401 if who in ("no_token", "expired") else 403
                    ok = r.status_code == want and r.json()["code"] in ("unauthorised",
                                                                        "forbidden")
                if not ok:
                    failures.append(f"{label} {r.text[:120]}")
            if await snapshot(rt) != before:
                failures.append(f"{method} {template} as {group} changed the store")
    for api in (apis["no_token"], apis["expired"]):
        await api.close()
    assert failures == []


async def test_officers_see_only_alerts_routed_to_them(
    gov_live: LiveServer, photos: Photos
) -> None:
    world = await build_world(gov_live, photos)
    rt = runtime_of(world)
    async with rt.db.sessions() as session, session.begin():  # pc1 near, pc2 5 km away
        await session.execute(update(Officer).where(Officer.id == world.ids["pc1"])
                              .values(lat=world.lat + 0.001, lon=world.lon))
        await session.execute(update(Officer).where(Officer.id == world.ids["pc2"])
                              .values(lat=world.lat + 0.05, lon=world.lon))
    assert (await send_frame(world, photos.frame_subject))["status"] == "processed"
    near, far = world.api["pc1"], world.api["pc2"]
    [alert] = await near.call("GET", "/api/alerts")
    assert await far.call("GET", "/api/alerts") == []
    for suffix in ("", "/probe", "/reference"):
        await far.call("GET", f"/api/alerts/{alert['id']}{suffix}", 404)
        await near.call("GET", f"/api/alerts/{alert['id']}{suffix}", 200)


def examples(alert_id: str, officer_id: str) -> dict[str, dict[str, Any]]:
    """One well-formed message of every client-to-server type, by tag."""
    return {
        "hello": {"type": "hello", "token": "x", "protocol": 1},
        "frame": {"type": "frame", "seq": 1, "captured_at": 0.0, "jpeg": b"\xff\xd8\xff"},
        "ping": {"type": "ping", "ref": 1},
        "ack": {"type": "ack", "seq": 0},
        "resume": {"type": "resume", "last_seq": 0},
        "position": {"type": "position", "lat": 51.5, "lon": -0.12},
        "status": {"type": "status", "status": "busy"},
        "accept": {"type": "accept", "ref": 2, "alert_id": alert_id},
        "resolve": {"type": "resolve", "ref": 3, "alert_id": alert_id,
                    "outcome": "confirmed_match"},
        "assign": {"type": "assign", "ref": 4, "alert_id": alert_id, "officer_id": officer_id},
        "dismiss": {"type": "dismiss", "ref": 5, "alert_id": alert_id,
                    "reason": "different_person"},
        "note": {"type": "note", "ref": 6, "alert_id": alert_id, "text": "x"},
        "reopen": {"type": "reopen", "ref": 7, "alert_id": alert_id},
        "decline": {"type": "decline", "ref": 8, "alert_id": alert_id, "reason": "x"},
    }


def tags(union: Any) -> set[str]:
    return {msgspec.inspect.type_info(t).tag for t in typing.get_args(union)}  # type: ignore[attr-defined]


SOCKETS = {"/ws/camera": ("camera", CameraIn), "/ws/officer": ("officer", OfficerIn),
           "/ws/dispatch": ("dispatcher", DispatchIn)}


async def test_every_socket_and_message_type_against_every_role(
    gov_live: LiveServer, photos: Photos, clock: FakeClock
) -> None:
    world = await build_world(gov_live, photos)
    rt = runtime_of(world)
    assert (await send_frame(world, photos.frame_subject))["status"] == "processed"
    [alert] = await world.api["dispatcher"].call("GET", "/api/alerts")
    _, expired = await make_token(gov_live.settings, "officer", "old", expires_at=clock() - 1)
    await add_auditor(world)
    tokens = {role: world.tokens[role] for role in ROLES if role != "officer"}
    tokens.update(officer=world.tokens["pc1"], no_token="", expired=expired)

    failures: list[str] = []
    # Handshake: only the socket's own role is welcomed.
    for path, (role, _union) in SOCKETS.items():
        for who in IDENTITIES:
            ws = await connect(world.server.ws + path, max_size=None, open_timeout=30)
            hello: dict[str, Any] = {"type": "hello", "token": tokens[who], "protocol": 1,
                                     "camera_id": world.camera_id}
            binary = path == "/ws/camera"
            await ws.send(msgspec.msgpack.encode(hello) if binary
                          else msgspec.json.encode(hello).decode())
            raw = await ws.recv()
            data = raw.encode() if isinstance(raw, str) else raw
            reply = msgspec.msgpack.decode(data) if binary else msgspec.json.decode(data)
            if who == role:
                ok = reply["type"] == "welcome"
            else:
                want = "unauthorised" if who in ("no_token", "expired") else "forbidden"
                ok = reply["type"] == "error" and reply["code"] == want
                await ws.wait_closed()
                ok = ok and ws.close_code == 4001
            if not ok:
                failures.append(f"{path} as {who}: {reply}")
            await ws.close()

    # Messages: every client message type of another role is refused with a typed error on
    # each socket, changes nothing, and the connection goes on.
    sample = examples(alert["id"], world.ids["pc1"])
    all_tags = set().union(*(tags(u) for _r, u in SOCKETS.values()))
    for path, (role, union) in SOCKETS.items():
        token = tokens[role]
        client, _ = await open_ws(world.server, path, token, camera_id=world.camera_id,
                                  resume=None)
        for tag in sorted(all_tags - tags(union)):
            before = await snapshot(rt)
            await client.send(sample[tag])
            reply = await client.recv_type("error")
            after = await snapshot(rt)
            if reply["code"] != "bad_message" or before != after:
                failures.append(f"{tag} on {path}: {reply}")
        await client.send({"type": "ping", "ref": 99})
        if (await client.recv_type("pong"))["ref"] != 99:
            failures.append(f"{path} did not go on after refusals")
        await client.close()
    assert failures == []
