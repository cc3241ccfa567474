"""Incidents: one per watchlist entry per deployment while it is open.

A person seen again after the tracker's cooldown, or by a second camera, raises a new alert
(the tracker keeps one per camera and entry); the alert joins the open incident of that entry,
so the dispatcher sees one case with its sightings and cameras inside. Once every alert of the
incident is closed, the next alert starts a new incident. Timeline events carry readable names.
"""

from __future__ import annotations

import time
from pathlib import Path

from server.auth import Principal
from server.pipeline.alerting import raise_or_update
from server.pipeline.analysis import Match
from server.recognition.dlib_engine import DlibEngine
from server.runtime import Runtime
from server.services.alerts import AlertService
from server.store.models import Alert
from server.store.views import alert_view
from shared.protocol.alerts import AlertView
from shared.protocol.dispatch import DismissAlert
from tests.server.conftest import LiveServer, Photos, World, build_world, make_settings

CROP = b"\xff\xd8\xff\xe0 not really a jpeg, the store does not decode it"


async def _raise(runtime: Runtime, world: World, camera_id: str) -> str:
    match = Match(entry_id=world.entry_id, similarity=0.9, probe_jpeg=CROP,
                  matched_at=time.time())
    return await raise_or_update(
        runtime, deployment_id=world.deployment_id, camera_id=camera_id, match=match,
        captured_at=time.time(), ingested_at=time.time(), lat=None, lon=None)


async def _view(runtime: Runtime, alert_id: str) -> AlertView:
    async with runtime.db.sessions() as session:
        alert = await session.get(Alert, alert_id)
        assert alert is not None
        return await alert_view(session, alert)


async def test_alerts_of_one_entry_share_an_incident_while_it_is_open(
    tmp_path: Path, engine: DlibEngine, photos: Photos
) -> None:
    async with LiveServer(make_settings(tmp_path), engine) as live:
        rt = live.runtime
        assert rt.tracker is not None
        world = await build_world(live, photos, extra_cameras=1)
        first = await _raise(rt, world, world.camera_id)
        assert (await _view(rt, first)).incident_id == first
        # The same person at a second camera: a new alert, the same incident.
        other_camera = await _raise(rt, world, "cam-2")
        assert other_camera != first
        assert (await _view(rt, other_camera)).incident_id == first
        # Out of view past the cooldown at the first camera: a new alert, the same incident.
        rt.tracker.forget_alert(first)
        again = await _raise(rt, world, world.camera_id)
        assert again not in (first, other_camera)
        assert (await _view(rt, again)).incident_id == first

        # Closing the first alert keeps the incident open while the others are.
        await AlertService(rt).dismiss(
            DismissAlert(ref=1, alert_id=first, reason="different_person"),
            Principal(account_id=world.ids["dispatcher"], name="disp", role="dispatcher"))
        rt.tracker.forget_alert(again)
        fourth = await _raise(rt, world, world.camera_id)
        assert (await _view(rt, fourth)).incident_id == first
        dismissed = await _view(rt, first)
        by = {e.action: e for e in dismissed.events}
        assert by["dismissed"].actor == world.ids["dispatcher"]
        assert by["dismissed"].actor_name not in ("", world.ids["dispatcher"])
        assert by["raised"].actor_name == "system"

        # Every alert closed: the next alert starts a new incident.
        for alert_id in (other_camera, again, fourth):
            await AlertService(rt).dismiss(
            DismissAlert(ref=1, alert_id=alert_id, reason="different_person"),
            Principal(account_id=world.ids["dispatcher"], name="disp", role="dispatcher"))
        rt.tracker.forget_alert(fourth)
        rt.tracker.forget_alert(other_camera)
        fresh = await _raise(rt, world, world.camera_id)
        assert (await _view(rt, fresh)).incident_id == fresh

        for api in world.api.values():
            await api.close()
