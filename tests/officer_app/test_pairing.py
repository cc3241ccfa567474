"""Pairing a phone (one-time code, exchange, unpair) and the officer's new commands over the
real server: decline with a reason, busy while accepted, dispatcher notes on the card."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from typing import Any

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from server.officer_app.models import PushSubscription
from server.officer_app.pairing import PAIRING_TTL_S, exchange_code, issue_code
from server.officer_app.qr import TERMINAL_COLOURS, TERMINAL_RESET
from server.store.db import Database
from server.store.models import Officer
from tests.governance.helpers import send_frame
from tests.officer_app.qr_read import read_qr
from tests.server.conftest import (
    Api,
    LiveServer,
    Photos,
    World,
    build_world,
    make_settings,
    make_token,
    open_ws,
)


async def officer_status(world: World, officer_id: str) -> str:
    rt = world.server.runtime  # type: ignore[attr-defined]
    async with rt.db.sessions() as session:
        officer = await session.get(Officer, officer_id)
        assert officer is not None
        return str(officer.status)


async def near_camera(world: World, token: str) -> Any:
    """An officer socket standing next to the camera (so new alerts are routed to it)."""
    officer, _ = await open_ws(world.server, "/ws/officer", token)
    await officer.send({"type": "position", "lat": world.lat + 0.001, "lon": world.lon})
    return officer


async def alert_being_assigned(world: World, photos: Photos) -> tuple[Any, Any, dict[str, Any]]:
    """Officer pc1 by the camera, a dispatcher, and the subject's alert with its assignment to
    pc1 sent (the caller reads the dispatcher's result and the officer's ``alert_assigned``)."""
    officer = await near_camera(world, world.tokens["pc1"])
    dispatcher, _ = await open_ws(world.server, "/ws/dispatch", world.tokens["dispatcher"])
    assert (await send_frame(world, photos.frame_subject))["status"] == "processed"
    alert = (await officer.recv_type("alert_raised"))["alert"]
    await dispatcher.send({"type": "assign", "ref": 1, "alert_id": alert["id"],
                           "officer_id": world.ids["pc1"]})
    return officer, dispatcher, alert


HALF_BLOCKS = {"█": (1, 1), "▀": (1, 0), "▄": (0, 1), " ": (0, 0)}
"""Which halves of a character cell are painted in the foreground colour (top, bottom)."""


def terminal_qr(out: str) -> str:
    """Decode the QR code in a terminal's output as a phone camera would see it: every line
    of the drawing must set bright white on black (ANSI 97;40), then the painted halves are
    light modules and the rest dark."""
    rows: list[list[int]] = []
    for line in out.splitlines():
        if not line.startswith(TERMINAL_COLOURS):
            continue
        cells = line.removeprefix(TERMINAL_COLOURS).removesuffix(TERMINAL_RESET)
        halves = [HALF_BLOCKS[c] for c in cells]
        rows += [[255 * h[0] for h in halves], [255 * h[1] for h in halves]]
    assert rows, "no QR code drawn"
    modules = np.array(rows, dtype=np.uint8)
    # A white margin, as a screen around the drawing, and 8 pixels a module.
    image = cv2.resize(np.pad(modules, 4, constant_values=255), None, fx=8, fy=8,
                       interpolation=cv2.INTER_NEAREST)
    return read_qr(image)


async def test_pairing_code_gives_the_phone_its_own_token_once(
    app_live: LiveServer, photos: Photos, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    world = await build_world(app_live, photos)
    old_token = world.tokens["pc1"]
    made = await world.api["dispatcher"].call("POST", f"/api/officers/{world.ids['pc1']}/pairing",
                                              201)
    assert made["link"].endswith(f"/officer/#pair={made['code']}")
    assert made["qr_svg"].lstrip().startswith("<svg")
    assert made["expires_at"] == pytest.approx(time.time() + PAIRING_TTL_S, abs=60)

    phone = Api(app_live.http, None)
    # Typed by hand: lower case, no dashes.
    paired = await phone.call("POST", "/api/pairing/exchange",
                              json={"code": made["code"].replace("-", "").lower()})
    assert paired["officer_id"] == world.ids["pc1"]
    again = await phone.call("POST", "/api/pairing/exchange", 400, json={"code": made["code"]})
    assert again["code"] == "pairing_invalid"
    wrong = await phone.call("POST", "/api/pairing/exchange", 400, json={"code": "AAAA-BBBB"})
    assert wrong == again

    client, welcome = await open_ws(app_live, "/ws/officer", paired["token"])
    assert welcome["account_id"] == world.ids["pc1"]
    await client.close()
    # The token issued before pairing no longer works (one device per officer).
    await Api(app_live.http, old_token).call("GET", "/api/push/key", 401)
    # Neither the code nor the token ever reaches a log line.
    assert made["code"] not in caplog.text
    assert paired["token"] not in caplog.text
    await phone.close()


async def test_unpairing_closes_the_phones_socket_at_once(
    app_live: LiveServer, photos: Photos
) -> None:
    world = await build_world(app_live, photos)
    subscription = {"endpoint": "https://push.example/pc1",
                    "keys": {"p256dh": "BExample", "auth": "secret"}}
    await Api(app_live.http, world.tokens["pc1"]).call("POST", "/api/push/subscriptions", 201,
                                                       json=subscription)
    officer, _ = await open_ws(app_live, "/ws/officer", world.tokens["pc1"])
    out = await world.api["dispatcher"].call("POST", f"/api/officers/{world.ids['pc1']}/unpair")
    assert out["sessions_closed"] == 1
    messages = await officer.until_closed()
    assert messages[-1]["type"] == "error"
    assert messages[-1]["code"] == "unauthorised"
    assert officer.ws.close_code == 4001
    assert await officer_status(world, world.ids["pc1"]) == "off_duty"
    await Api(app_live.http, world.tokens["pc1"]).call("GET", "/api/push/key", 401)
    # The unpaired phone's push subscription is gone with it (no push wakes it any more).
    async with app_live.runtime.db.sessions() as session:
        assert (await session.execute(select(PushSubscription))).scalars().all() == []
    # The officer may unpair their own phone (with their id as confirmation).
    pc2 = Api(app_live.http, world.tokens["pc2"])
    await pc2.call("POST", "/api/pairing/unpair", 400, json={"officer_id": world.ids["pc1"]})
    await pc2.call("POST", "/api/pairing/unpair", json={"officer_id": world.ids["pc2"]})
    await pc2.call("GET", "/api/push/key", 401)
    await pc2.close()


async def test_expired_code_is_refused(tmp_path: Any) -> None:
    settings = make_settings(tmp_path)
    officer_id, _ = await make_token(settings, "officer", "pc9")
    db = Database(settings.database_url)
    await db.migrate()
    now = time.time()
    try:
        async with db.sessions() as session, session.begin():
            code, expires = await issue_code(session, officer_id=officer_id, created_by="t",
                                             now=now)
        async with db.sessions() as session, session.begin():
            with pytest.raises(Exception, match="unknown, used or expired"):
                await exchange_code(session, code, expires)
        async with db.sessions() as session, session.begin():
            account, token = await exchange_code(session, code, expires - 1)
        assert account.id == officer_id
        assert token.startswith("vgl_")
    finally:
        await db.close()


async def test_decline_needs_a_reason_and_returns_the_alert_to_the_queue(
    app_live: LiveServer, photos: Photos
) -> None:
    world = await build_world(app_live, photos)
    officer, dispatcher, alert = await alert_being_assigned(world, photos)
    assert (await dispatcher.recv_type("result"))["ok"]
    assert (await officer.recv_type("alert_assigned"))["alert"]["state"] == "assigned"

    await officer.send({"type": "decline", "ref": 1, "alert_id": alert["id"], "reason": "  "})
    refused = await officer.recv_type("result")
    assert not refused["ok"]
    assert refused["code"] == "reason_required"
    await officer.send({"type": "decline", "ref": 2, "alert_id": alert["id"],
                        "reason": "on another call"})
    # The withdrawal is pushed at commit, before the command's result.
    withdrawn = await officer.recv_type("alert_withdrawn")
    assert (await officer.recv_type("result"))["ok"]
    assert withdrawn["alert_id"] == alert["id"]
    assert withdrawn["reason"] == "declined"
    back = await world.api["dispatcher"].call("GET", f"/api/alerts/{alert['id']}")
    assert back["state"] == "new"
    assert back["assigned_officer_id"] is None
    assert back["events"][-1]["action"] == "declined"
    assert back["events"][-1]["detail"] == "on another call"
    await officer.close()
    await dispatcher.close()


async def test_accept_makes_busy_until_resolved_and_notes_reach_the_officer(
    app_live: LiveServer, photos: Photos
) -> None:
    world = await build_world(app_live, photos)
    officer, dispatcher, alert = await alert_being_assigned(world, photos)
    await officer.recv_type("alert_assigned")
    await dispatcher.send({"type": "note", "ref": 2, "alert_id": alert["id"],
                           "text": "red coat, heading north"})
    noted = await officer.recv_type("alert_updated")
    assert noted["alert"]["events"][-1]["action"] == "note"
    assert noted["alert"]["events"][-1]["detail"] == "red coat, heading north"

    await officer.send({"type": "accept", "ref": 1, "alert_id": alert["id"]})
    assert (await officer.recv_type("result"))["ok"]
    assert await officer_status(world, world.ids["pc1"]) == "busy"
    await officer.send({"type": "resolve", "ref": 2, "alert_id": alert["id"],
                        "outcome": "not_the_person"})
    assert (await officer.recv_type("result"))["ok"]
    assert await officer_status(world, world.ids["pc1"]) == "available"
    await officer.close()
    await dispatcher.close()


async def test_token_create_qr_prints_a_pairing_link_and_qr_instead_of_the_token(
    tmp_path: Any,
) -> None:
    data_dir = tmp_path / "data"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server.cli", "token", "create", "--role", "officer",
        "--name", "PC 7", "--qr", "--url", "https://vigil.test:8443",
        "--data-dir", str(data_dir), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out = (await asyncio.wait_for(proc.communicate(), 120))[0].decode()
    assert proc.returncode == 0, out
    link = re.search(r"pairing link (\S+)", out)
    assert link is not None, out
    code = link.group(1).split("#pair=")[1]
    assert link.group(1) == f"https://vigil.test:8443/officer/#pair={code}"
    # The QR code, in block characters with its colours fixed, reads as the link.
    assert terminal_qr(out) == link.group(1)
    assert "vgl_" not in out  # the phone gets its own token; none is printed
    db = Database(make_settings(tmp_path).database_url)
    try:
        async with db.sessions() as session, session.begin():
            account, _token = await exchange_code(session, code, time.time())
        assert account.name == "PC 7"
    finally:
        await db.close()
