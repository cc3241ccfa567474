"""Input limits (issue 15, items 6 and 7): nesting depth on every websocket before decoding,
and a documented bound on every value a client sends, each refused with a typed error (never a
500, a traceback or a silently stuck state)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import msgspec
import pytest
from websockets.asyncio.client import connect

from server.cli import main as vigil
from server.settings import load_settings
from server.ws.camera import FRAME_OVERHEAD
from server.ws.connection import RateLimiter
from shared.protocol.limits import MAX_INT64, MAX_NESTING_DEPTH
from shared.protocol.nesting import json_depth_exceeds, msgpack_shape_error
from tests.governance.helpers import send_frame
from tests.server.conftest import (
    Api,
    LiveServer,
    Photos,
    WsClient,
    build_world,
    enrol,
    make_token,
    open_ws,
)

DEEP = 1000


def nested_json(depth: int) -> str:
    return '{"type": "ping", "ref": 1, "x": ' + "[" * depth + "]" * depth + "}"


def nested_msgpack(depth: int) -> bytes:
    return (b"\x83\xa4type\xa4ping\xa3ref\x01\xa1x" + b"\x91" * depth + b"\x90")


def test_json_depth_scan() -> None:
    limit = MAX_NESTING_DEPTH
    assert not json_depth_exceeds(nested_json(limit - 1).encode(), limit)
    assert json_depth_exceeds(nested_json(limit).encode(), limit)
    assert json_depth_exceeds(b"[" * 5000, limit)  # unclosed: counted, never recursed into
    assert not json_depth_exceeds(b'{"text": "' + b"[" * 5000 + b'"}', limit)  # in a string
    assert not json_depth_exceeds(b'{"t": "\\"' + b"{" * 500 + b'"}' + b"[]" * 500, limit)


def test_msgpack_shape_scan() -> None:
    limit = MAX_NESTING_DEPTH
    assert msgpack_shape_error(nested_msgpack(limit - 2), limit) is None
    assert msgpack_shape_error(nested_msgpack(limit), limit) == "depth"
    assert msgpack_shape_error(nested_msgpack(DEEP), limit) == "depth"
    # A frame's JPEG is skipped by its length, whatever bytes it holds.
    frame = msgspec.msgpack.encode({"type": "frame", "seq": 1, "captured_at": 1.0,
                                    "jpeg": b"\x91" * 100_000})
    assert msgpack_shape_error(frame, limit) is None
    assert msgpack_shape_error(b"\xdc\xff\xff" + b"\x00" * 70_000, limit) == "values"


async def _camera_world(live: LiveServer) -> tuple[dict[str, str], Api]:
    tokens: dict[str, str] = {}
    ids: dict[str, str] = {}
    for role in ("admin", "officer", "dispatcher", "camera"):
        ids[role], tokens[role] = await make_token(live.settings, role, role)
    admin = Api(live.http, tokens["admin"])
    await admin.call("POST", "/api/cameras", 201,
                     json={"id": "cam-1", "name": "c", "account_id": ids["camera"]})
    return tokens, admin


SOCKETS = (("/ws/officer", "officer"), ("/ws/dispatch", "dispatcher"), ("/ws/camera", "camera"))


async def test_deep_nesting_is_refused_on_every_socket_without_a_traceback(
    live: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    tokens, admin = await _camera_world(live)
    caplog.set_level(logging.INFO)
    for path, role in SOCKETS:
        binary = path == "/ws/camera"
        deep: str | bytes = nested_msgpack(DEEP) if binary else nested_json(DEEP)
        # Before hello: a typed error, then the handshake's close code.
        client = WsClient(await connect(live.ws + path, max_size=None), binary)
        await client.ws.send(deep)
        messages = await client.until_closed()
        assert [m["code"] for m in messages] == ["nesting_too_deep"], (path, messages)
        assert client.ws.close_code == 4000
        # After hello: the message alone is refused, and the connection goes on.
        client, _ = await open_ws(live, path, tokens[role], camera_id="cam-1", resume=None)
        for _ in range(3):
            await client.ws.send(deep)
            error = await client.recv_type("error")
            assert (error["code"], error["fatal"]) == ("nesting_too_deep", False)
        await client.send({"type": "ping", "ref": 9})
        assert (await client.recv_type("pong"))["ref"] == 9
        await client.close()
    noisy = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert noisy == [], [r.getMessage() for r in noisy]
    await admin.close()


async def test_deeply_nested_rest_bodies_get_a_typed_400_without_a_traceback(
    live: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    """REST bodies go through the same depth scan as websocket messages: ~1,000 levels used
    to raise RecursionError in the JSON decoder (a 500 and a traceback per request)."""
    caplog.set_level(logging.INFO)
    _, admin_token = await make_token(live.settings, "admin", "root")
    admin = Api(live.http, admin_token)
    deep = '{"role": "officer", "name": "x", "z": ' + "[" * DEEP + "]" * DEEP + "}"
    for body in (deep, "[" * 100_000, nested_json(MAX_NESTING_DEPTH)):
        r = await admin.client.post("/api/accounts", content=body,
                                    headers={"content-type": "application/json"})
        assert (r.status_code, r.json()["code"]) == (400, "nesting_too_deep"), r.text
    # Also where no token is needed (the officer app's pairing-code exchange).
    r = await admin.client.post("/api/pairing/exchange", content=deep,
                                headers={"content-type": "application/json",
                                         "authorization": ""})
    assert (r.status_code, r.json()["code"]) == (400, "nesting_too_deep"), r.text
    # At the limit the body is decoded as usual (here: refused for what it says, not its depth).
    shallow = '{"role": "officer", "name": "x", "z": ' + "[" * 30 + "]" * 30 + "}"
    r = await admin.client.post("/api/accounts", content=shallow,
                                headers={"content-type": "application/json"})
    assert r.status_code == 201, r.text
    noisy = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert noisy == [], [r.getMessage() for r in noisy]
    await admin.close()


OUT_OF_BOUNDS: list[tuple[str, dict[str, Any]]] = [
    ("position", {"type": "position", "lat": 91.0, "lon": 0.0}),
    ("position", {"type": "position", "lat": 51.0, "lon": -180.5}),
    ("position", {"type": "position", "lat": 51.0, "lon": 0.0, "accuracy_m": -1.0}),
    ("resume", {"type": "resume", "last_seq": 2**63}),
    ("ack", {"type": "ack", "seq": -1}),
    ("ack", {"type": "ack", "seq": 2**64 - 1}),
    ("ping", {"type": "ping", "ref": 2**63}),
    ("accept", {"type": "accept", "ref": 1, "alert_id": "a" * 65}),
    ("resolve", {"type": "resolve", "ref": 1, "alert_id": "alr-x",
                 "outcome": "not_located", "note": "n" * 4001}),
]


async def test_websocket_values_out_of_bounds_get_bad_message(live: LiveServer) -> None:
    tokens, admin = await _camera_world(live)
    officer, _ = await open_ws(live, "/ws/officer", tokens["officer"], resume=None)
    for tag, message in OUT_OF_BOUNDS:
        await officer.send(message)
        error = await officer.recv_type("error")
        assert error["code"] == "bad_message", (tag, error)
    await officer.send({"type": "ping", "ref": 4})
    reply = await officer.recv_type("pong", "error")
    assert reply == {"type": "pong", "ref": 4, "server_time": reply["server_time"]}
    await officer.close()

    dispatcher, _ = await open_ws(live, "/ws/dispatch", tokens["dispatcher"], resume=None)
    for message in ({"type": "note", "ref": 1, "alert_id": "alr-x", "text": "t" * 4001},
                    {"type": "assign", "ref": -1, "alert_id": "alr-x", "officer_id": "o"}):
        await dispatcher.send(message)
        assert (await dispatcher.recv_type("error"))["code"] == "bad_message"
    await dispatcher.close()

    camera, _ = await open_ws(live, "/ws/camera", tokens["camera"], camera_id="cam-1")
    for frame in ({"type": "frame", "seq": 2**63, "captured_at": 1.0, "jpeg": b"x"},
                  {"type": "frame", "seq": 1, "captured_at": 1e300, "jpeg": b"x"},
                  {"type": "frame", "seq": 1, "captured_at": 1.0, "jpeg": b"x", "lat": 100.0}):
        await camera.send(frame)
        assert (await camera.recv_type("error"))["code"] == "bad_message"
    await camera.close()
    await admin.close()


async def test_resume_past_the_last_issued_seq_does_not_stop_durable_messages(
    live: LiveServer, photos: Photos
) -> None:
    """A resume naming a seq the server never issued (up to 2^63 - 1, the largest valid one)
    is told so and resumes after the last issued seq: the next alert still arrives. It used
    to skip every durable message up to that seq, silently."""
    world = await build_world(live, photos)
    officer, welcome = await open_ws(live, "/ws/officer", world.tokens["pc1"], resume=None)
    assert welcome["last_seq"] == 0
    await officer.send({"type": "position", "lat": world.lat + 0.001, "lon": world.lon})
    await officer.send({"type": "resume", "last_seq": MAX_INT64})
    error = await officer.recv_type("error")
    assert (error["code"], error["fatal"]) == ("bad_message", False), error
    assert "above the last seq issued" in error["message"]
    await officer.send({"type": "ping", "ref": 1})
    await officer.recv_type("pong")  # the position is applied before the frame below
    assert (await send_frame(world, photos.frame_subject))["status"] == "processed"
    raised = await officer.recv_type("alert_raised")
    assert raised["seq"] == 1
    await officer.close()
    # Nothing was acknowledged beyond what was issued: a reconnect sees seq 1 unacknowledged.
    again, welcome = await open_ws(live, "/ws/officer", world.tokens["pc1"], resume=None)
    assert (welcome["last_seq"], welcome["acked_seq"]) == (1, 0)
    await again.close()
    for api in world.api.values():
        await api.close()


async def test_rest_values_out_of_bounds_get_a_typed_400(live: LiveServer) -> None:
    ids: dict[str, str] = {}
    apis: dict[str, Api] = {}
    for role in ("admin", "authoriser", "auditor", "watchlist_manager", "dispatcher"):
        ids[role], token = await make_token(live.settings, role, role)
        apis[role] = Api(live.http, token)
    deployment = {"name": "d", "purpose": "locate_serious_crime_suspect", "place": "p",
                  "lat": 51.5, "lon": -0.1, "camera_ids": ["cam-1"], "watchlist_id": "wl-x",
                  "starts_at": 1.0e9, "ends_at": 1.0e9 + 3600, "notify_radius_m": 500}
    bad_deployments = [{"ends_at": 1e300}, {"starts_at": -5.0}, {"notify_radius_m": 1e12},
                       {"notify_radius_m": 0}, {"lat": 90.5}, {"lon": 1e6}, {"name": ""},
                       {"place": "p" * 201}, {"camera_ids": ["c" * 65]}]
    calls: list[tuple[str, str, str, dict[str, Any]]] = [
        ("authoriser", "POST", "/api/deployments", {"json": {**deployment, **change}})
        for change in bad_deployments]
    calls += [
        ("admin", "POST", "/api/cameras", {"json": {"name": "c", "lat": 95.0}}),
        ("admin", "POST", "/api/cameras", {"json": {"name": "c", "lon": -181.0}}),
        ("admin", "POST", "/api/cameras", {"json": {"name": "c" * 201}}),
        ("admin", "POST", "/api/accounts", {"json": {"role": "officer", "name": "x" * 201}}),
        ("admin", "POST", "/api/accounts", {"json": {"role": "officer", "name": "x",
                                                     "expires_at": 1e300}}),
        ("watchlist_manager", "POST", "/api/watchlists", {"json": {"name": "w" * 201}}),
        ("authoriser", "POST", "/api/deployments/dep-x/authorisation",
         {"json": {"authority_ref": "R" * 501, "purpose": "locate_serious_crime_suspect"}}),
        ("auditor", "GET", f"/api/audit?after_seq={2**63}", {}),
        ("auditor", "GET", "/api/audit?after_seq=-1", {}),
        ("auditor", "GET", f"/api/audit?limit={2**70}", {}),
        # A filter that cannot match used to answer an empty list, a limit out of range was
        # silently clamped.
        ("dispatcher", "GET", "/api/alerts?state=bogus", {}),
        ("dispatcher", "GET", "/api/alerts?limit=0", {}),
        ("dispatcher", "GET", f"/api/alerts?limit={2**70}", {}),
        ("dispatcher", "GET", f"/api/alerts?camera_id={'c' * 65}", {}),
    ]
    failures = []
    for role, method, path, kw in calls:
        r = await apis[role].client.request(method, path, **kw)
        body = r.json()
        if r.status_code != 400 or body.get("code") != "bad_request":
            failures.append(f"{method} {path} {kw}: {r.status_code} {r.text[:200]}")
    assert failures == []
    # The bounds are inclusive where documented: the extremes themselves are accepted.
    await apis["admin"].call("POST", "/api/cameras", 201,
                             json={"name": "c", "id": "cam-edge", "lat": -90.0, "lon": 180.0})
    await apis["auditor"].call("GET", f"/api/audit?after_seq={MAX_INT64}", 200)
    await apis["dispatcher"].call("GET", "/api/alerts?state=new&limit=1000", 200)
    for api in apis.values():
        await api.close()


async def test_values_the_store_cannot_hold_or_that_mean_nothing_are_refused(
    live: LiveServer, photos: Photos
) -> None:
    """Bounds that are not plain ranges: an officer's call sign fits its column (64; longer
    ones failed the insert on PostgreSQL: a 500), an image date is a real date in the past
    (alert cards show it as a reason for caution), an account does not expire before it is
    created."""
    _, admin_token = await make_token(live.settings, "admin", "root")
    _, wm_token = await make_token(live.settings, "watchlist_manager", "wm")
    admin, wm = Api(live.http, admin_token), Api(live.http, wm_token)
    long_name = "n" * 65
    for body, code in (
        ({"role": "officer", "name": long_name}, "call_sign_too_long"),
        ({"role": "officer", "name": "pc", "call_sign": long_name}, "bad_request"),
        ({"role": "officer", "name": "pc", "expires_at": 1000.0}, "expiry_in_past"),
    ):
        refused = await admin.call("POST", "/api/accounts", 400, json=body)
        assert refused["code"] == code, (body, refused)
    # A long name is fine for other roles, and for an officer with a short call sign.
    await admin.call("POST", "/api/accounts", 201, json={"role": "dispatcher", "name": long_name})
    await admin.call("POST", "/api/accounts", 201,
                     json={"role": "officer", "name": long_name, "call_sign": "PC 1"})
    wl = await wm.call("POST", "/api/watchlists", 201, json={"name": "w"})
    for date in ("abc", "2024-13-45", "2024-02-30", "99999-01-01", "2024-1-2", "20240102",
                 "2999-01-01", "x" * 40):
        refused = await enrol(wm, wl["id"], photos.subject, "S", expect=400, image_date=date)
        assert refused["code"] == "bad_image_date", (date, refused)
    await enrol(wm, wl["id"], photos.subject, "S", image_date="1999-12-31")
    for api in (admin, wm):
        await api.close()


def test_cli_token_values_are_bounded_like_rest(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """``vigil token create`` refuses what REST refuses, with a message and exit 2: a call sign
    its column cannot hold, an expiry that is not a time (NaN never expired), past or beyond
    year 9999. Nothing is written for a refused account."""
    data = ["--data-dir", str(tmp_path / "data")]
    for extra in (["--expires-days", "nan"], ["--expires-days", "-1"], ["--expires-days", "0"]):
        with pytest.raises(SystemExit) as usage:
            vigil(["token", "create", "--role", "dispatcher", "--name", "d", *extra, *data])
        assert usage.value.code == 2
        assert "--expires-days" in capsys.readouterr().err
    for extra in (["--name", "n" * 65], ["--name", "pc", "--call-sign", "c" * 65],
                  ["--name", "pc", "--expires-days", "1e300"]):
        assert vigil(["token", "create", "--role", "officer", *extra, *data]) == 2
        assert "vigil token create: " in capsys.readouterr().err
    assert vigil(["token", "list", *data]) == 0
    assert capsys.readouterr().out == ""
    assert vigil(["token", "create", "--role", "officer", "--name", "pc", "--expires-days",
                  "0.5", *data]) == 0


def test_documented_limits_match_the_server() -> None:
    """docs/protocol.md (issue 15, item 14) states the limits the server really applies."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
    defaults = load_settings(env={})
    camera_limit = defaults.max_image_bytes + FRAME_OVERHEAD
    assert f'"max_message_bytes": {camera_limit}' in text  # the camera welcome example
    assert f"{camera_limit:,}" in text
    burst = int(RateLimiter(defaults.max_messages_per_second).capacity)
    assert f"{burst} messages at the default rate" in text
    assert "/schema/openapi.json" in text
    assert "non-fatal `message_too_large`" in text
    assert f"nest at most {MAX_NESTING_DEPTH} levels" in text
