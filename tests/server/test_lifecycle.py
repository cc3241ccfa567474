"""Alert lifecycle with an injected clock: ack timeout, dismissal, reopen, notes, stale
commands; the dispatcher's snapshot after resume."""

from __future__ import annotations

import time
from pathlib import Path

from server.recognition.dlib_engine import DlibEngine
from server.services.alerts import AlertService
from tests.server.conftest import LiveServer, Photos, build_world, make_settings, open_ws


class FakeClock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


async def test_ack_timeout_dismiss_reopen(tmp_path: Path, engine: DlibEngine,
                                          photos: Photos) -> None:
    clock = FakeClock()
    settings = make_settings(tmp_path, ack_timeout_s=120.0)
    async with LiveServer(settings, engine, clock=clock) as live:
        world = await build_world(live, photos)
        officer, _ = await open_ws(live, "/ws/officer", world.tokens["pc1"])
        await officer.send({"type": "position", "lat": 51.5075, "lon": -0.1278})
        dispatcher, _ = await open_ws(live, "/ws/dispatch", world.tokens["dispatcher"])
        await dispatcher.recv_type("snapshot")
        camera, _ = await open_ws(live, "/ws/camera", world.tokens["camera"],
                                  camera_id=world.camera_id)
        await camera.send({"type": "frame", "seq": 1, "captured_at": time.time(),
                           "jpeg": photos.frame_subject})
        alert_id = (await dispatcher.recv_type("alert_raised"))["alert"]["id"]
        await officer.recv_type("alert_raised")

        # Assign with an empty officer id: the nearest available officer is chosen.
        await dispatcher.send({"type": "assign", "ref": 1, "alert_id": alert_id,
                               "officer_id": ""})
        assert (await dispatcher.recv_type("result"))["ok"] is True
        assigned = await officer.recv_type("alert_assigned")
        assert assigned["alert"]["assigned_officer_id"] == world.ids["pc1"]

        # Not accepted within ack_timeout: back to the queue, flagged; the officer is told.
        assert await AlertService(live.runtime).expire_assignments() == 0
        clock.offset = 121.0
        assert await AlertService(live.runtime).expire_assignments() == 1
        withdrawn = await officer.recv_type("alert_withdrawn")
        assert (withdrawn["alert_id"], withdrawn["reason"]) == (alert_id, "ack_timeout")
        update = await dispatcher.recv_type("alert_updated")
        while update["alert"]["state"] != "new":
            update = await dispatcher.recv_type("alert_updated")
        assert update["alert"]["flagged"] is True
        await officer.send({"type": "accept", "ref": 2, "alert_id": alert_id})
        result = await officer.recv_type("result")
        assert (result["ok"], result["code"]) == (False, "forbidden")  # no longer theirs

        # Dismiss needs a reason from the list; then reopen and note.
        await dispatcher.send({"type": "dismiss", "ref": 3, "alert_id": alert_id,
                               "reason": "because"})
        assert (await dispatcher.recv_type("error"))["code"] == "bad_message"
        await dispatcher.send({"type": "dismiss", "ref": 4, "alert_id": alert_id,
                               "reason": "different_person", "text": "clearly not him"})
        assert (await dispatcher.recv_type("result"))["ok"] is True
        await dispatcher.send({"type": "reopen", "ref": 5, "alert_id": alert_id})
        assert (await dispatcher.recv_type("result"))["ok"] is True
        await dispatcher.send({"type": "note", "ref": 6, "alert_id": alert_id,
                               "text": "second look requested"})
        assert (await dispatcher.recv_type("result"))["ok"] is True
        # An officer cannot close an alert that is not assigned to them.
        await officer.send({"type": "resolve", "ref": 7, "alert_id": alert_id,
                            "outcome": "not_located"})
        result = await officer.recv_type("result")
        assert (result["ok"], result["code"]) == (False, "forbidden")

        # A reconnecting dispatcher gets the current picture in its snapshot.
        await dispatcher.close()
        dispatcher, _ = await open_ws(live, "/ws/dispatch", world.tokens["dispatcher"])
        snap = await dispatcher.recv_type("snapshot")
        [alert] = [a for a in snap["alerts"] if a["id"] == alert_id]
        assert alert["state"] == "new"
        assert [e["action"] for e in alert["events"]] == [
            "raised", "assigned", "ack_timeout", "dismissed", "reopened", "note"]
        assert {o["id"] for o in snap["officers"]} == {world.ids["pc1"], world.ids["pc2"]}
        assert [c["id"] for c in snap["cameras"]] == [world.camera_id]
        assert [d["id"] for d in snap["deployments"]] == [world.deployment_id]
        assert snap["stats"][0]["alerts"] == 1
        for client in (officer, dispatcher, camera):
            await client.close()
        for api in world.api.values():
            await api.close()
