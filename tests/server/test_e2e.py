"""End to end against a real server and the real dlib engine on real photos."""

from __future__ import annotations

import time
from typing import Any

import pytest

from server.app import drain
from tests.server.conftest import (
    LiveServer,
    Photos,
    World,
    build_world,
    open_ws,
    poll,
)

pytestmark = [pytest.mark.real_engine, pytest.mark.slow]  # real faces, frames of a second each


def frame(seq: int, data: bytes) -> dict[str, Any]:
    return {"type": "frame", "seq": seq, "captured_at": time.time(), "jpeg": data}


async def test_alert_reaches_officer_and_dispatcher_then_closes(
    live: LiveServer, photos: Photos
) -> None:
    world: World = await build_world(live, photos)
    # pc1 stands 120 m from the camera, pc2 5 km away: only pc1 is within the radius.
    officer, welcome = await open_ws(live, "/ws/officer", world.tokens["pc1"])
    assert welcome["role"] == "officer"
    await officer.send({"type": "position", "lat": 51.5085, "lon": -0.1278})
    far, _ = await open_ws(live, "/ws/officer", world.tokens["pc2"])
    await far.send({"type": "position", "lat": 51.55, "lon": -0.1278})
    dispatcher, _ = await open_ws(live, "/ws/dispatch", world.tokens["dispatcher"])
    snap = await dispatcher.recv_type("snapshot")
    assert snap["alerts"] == []
    await poll(lambda: len(live.app.state.hub.sessions) == 3, 10, "three sessions")
    await far.send({"type": "ping", "ref": 7})
    assert (await far.recv_type("pong"))["ref"] == 7  # its position update was applied
    await officer.send({"type": "ping", "ref": 8})
    await officer.recv_type("pong")

    camera, _ = await open_ws(live, "/ws/camera", world.tokens["camera"],
                              camera_id=world.camera_id)
    sent = time.perf_counter()
    await camera.send(frame(1, photos.frame_subject))
    raised = await officer.recv_type("alert_raised")
    latency_ms = (time.perf_counter() - sent) * 1000
    print(f"\nEND-TO-END ALERT LATENCY (frame sent -> officer received): {latency_ms:.0f} ms")
    result = await camera.recv_type("frame_result")
    assert result["status"] == "processed"
    assert result["faces"] == 3

    alert = raised["alert"]
    assert raised["seq"] == 1
    assert raised["route"] == "nearby"
    assert alert["entry_id"] == world.entry_id
    assert alert["display_name"] == "Subject A"
    assert alert["similarity"] >= alert["threshold"]
    assert alert["state"] == "new"
    assert alert["notice"]
    times = alert["times"]
    assert 0 < times["captured"] <= times["ingested"] <= times["matched"] <= times["pushed"]
    await officer.send({"type": "ack", "seq": raised["seq"]})

    d_raised = await dispatcher.recv_type("alert_raised")
    assert d_raised["alert"]["id"] == alert["id"]

    # The probe crop and the reference photo are served to the routed officer only.
    probe = await world.api["pc1"].call("GET", f"/api/alerts/{alert['id']}/probe")
    assert probe[:2] == b"\xff\xd8"
    await world.api["pc1"].call("GET", f"/api/alerts/{alert['id']}/reference")
    await world.api["pc2"].call("GET", f"/api/alerts/{alert['id']}", 404)
    assert [a["id"] for a in await world.api["pc2"].call("GET", "/api/alerts")] == []
    assert len(await world.api["pc1"].call("GET", "/api/alerts")) == 1

    # The same person seen again within the cooldown updates the alert.
    await camera.send(frame(2, photos.frame_subject))
    updated = await officer.recv_type("alert_updated")
    assert updated["alert"]["id"] == alert["id"]
    assert updated["alert"]["sightings"] == 2
    assert (await dispatcher.recv_type("alert_updated"))["alert"]["sightings"] == 2

    # Dispatcher adjudicates and assigns (the suggestion is the nearest available officer).
    suggestion = await world.api["dispatcher"].call(
        "GET", f"/api/alerts/{alert['id']}/suggestion")
    assert suggestion["officer_id"] == world.ids["pc1"]
    await dispatcher.send({"type": "assign", "ref": 1, "alert_id": alert["id"],
                           "officer_id": suggestion["officer_id"]})
    result = await dispatcher.recv_type("result")
    assert result == {"type": "result", "ref": 1, "ok": True, "code": "", "message": "",
                      "alert_id": alert["id"]}
    assigned = await officer.recv_type("alert_assigned")
    assert assigned["alert"]["state"] == "assigned"

    # Resolving before accepting is refused; accepting then resolving closes the alert.
    await officer.send({"type": "resolve", "ref": 2, "alert_id": alert["id"],
                        "outcome": "confirmed_match"})
    refused = await officer.recv_type("result")
    assert refused["ok"] is False
    assert refused["code"] == "invalid_state"
    await officer.send({"type": "accept", "ref": 3, "alert_id": alert["id"]})
    assert (await officer.recv_type("result"))["ok"] is True
    await officer.send({"type": "resolve", "ref": 4, "alert_id": alert["id"],
                        "outcome": "confirmed_match"})
    assert (await officer.recv_type("result"))["ok"] is True

    final = await world.api["dispatcher"].call("GET", f"/api/alerts/{alert['id']}")
    assert final["state"] == "resolved"
    assert final["outcome"] == "confirmed_match"
    actions = [e["action"] for e in final["events"]]
    assert actions == ["raised", "sighted", "assigned", "accepted", "resolved"]
    stats = await world.api["dispatcher"].call(
        "GET", f"/api/deployments/{world.deployment_id}/stats")
    assert stats["alerts"] == 1
    assert stats["confirmed"] == 1
    assert stats["faces_processed"] == 6
    assert stats["precision"] == 1.0

    # The far officer never heard of it.
    await far.send({"type": "ping", "ref": 9})
    assert (await far.recv_type("pong", "alert_raised"))["type"] == "pong"
    # Graceful shutdown: ingest stops, queues are flushed, every socket is closed with 1001.
    await drain(live.runtime)
    for client in (officer, far, dispatcher, camera):
        await client.until_closed(30)
        assert client.ws.close_code == 1001
    assert not live.runtime.accepting
    for a in world.api.values():
        await a.close()
