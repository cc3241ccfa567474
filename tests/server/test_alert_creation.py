"""The alert creation path (``raise_or_update``) against a real store: no orphaned crop when
the transaction fails, frame positions only from mobile cameras, no alert for a removed or
expired entry, closed alerts absorb no sightings, withdrawn officers lose the alert."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from server.auth import Principal
from server.domain.assignment import Candidate, nearest_available, within_radius
from server.pipeline.alerting import raise_or_update
from server.pipeline.analysis import Match
from server.recognition.dlib_engine import DlibEngine
from server.runtime import Runtime
from server.services.alerts import AlertService
from server.store.models import Alert, AlertRecipient, Camera, Entry, Officer
from shared.geo import distance_m, valid_position
from shared.protocol.dispatch import DismissAlert
from tests.server.conftest import LiveServer, Photos, World, build_world, make_settings

CROP = b"\xff\xd8\xff\xe0 not really a jpeg, the store does not decode it"


def test_distance_of_a_non_finite_point_is_infinite() -> None:
    for bad in (math.inf, -math.inf, math.nan):
        assert distance_m(bad, 0.0, 51.5, -0.12) == math.inf
        assert distance_m(51.5, -0.12, 51.5, bad) == math.inf
    assert within_radius([Candidate("o1", "available", math.nan, 0.0)], 51.5, -0.12, 1e9) == []
    assert nearest_available([Candidate("o1", "available", 51.5, -0.12)], math.inf, 0.0) is None
    assert valid_position(51.5, -0.12)
    for lat, lon in [(None, 0.0), (91.0, 0.0), (0.0, -180.5), (math.nan, 0.0), (0.0, math.inf)]:
        assert not valid_position(lat, lon)


async def _raise(runtime: Runtime, world: World, *, lat: float | None = None,
                 lon: float | None = None) -> str:
    match = Match(entry_id=world.entry_id, similarity=0.9, probe_jpeg=CROP,
                  matched_at=time.time())
    return await raise_or_update(
        runtime, deployment_id=world.deployment_id, camera_id=world.camera_id, match=match,
        captured_at=time.time(), ingested_at=time.time(), lat=lat, lon=lon)


async def _alert(runtime: Runtime, alert_id: str) -> Alert:
    async with runtime.db.sessions() as session:
        alert = await session.get(Alert, alert_id)
        assert alert is not None
        return alert


async def _set(runtime: Runtime, model: Any, key: Any, **values: Any) -> None:
    async with runtime.db.sessions() as session, session.begin():
        row = await session.get(model, key)
        assert row is not None
        for k, v in values.items():
            setattr(row, k, v)


def _crops(runtime: Runtime) -> list[Path]:
    return sorted((runtime.settings.data_path / "probes").rglob("*.jpg"))


async def _alert_count(runtime: Runtime) -> int:
    async with runtime.db.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(Alert))).scalar_one())


async def test_alert_creation_path(tmp_path: Path, engine: DlibEngine, photos: Photos,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    async with LiveServer(make_settings(tmp_path), engine) as live:
        rt = live.runtime
        assert rt.tracker is not None
        world = await build_world(live, photos)
        # pc1 stands by the camera, so new alerts are routed to them.
        await _set(rt, Officer, world.ids["pc1"], lat=world.lat, lon=world.lon)

        # P1: the transaction fails after the crop was written -> no crop, no alert.
        async def failing_record(*_a: Any, **_k: Any) -> None:
            raise RuntimeError("store failure")

        monkeypatch.setattr(rt.audit, "record", failing_record)
        with pytest.raises(RuntimeError):
            await _raise(rt, world)
        monkeypatch.undo()
        assert _crops(rt) == []
        assert await _alert_count(rt) == 0

        # P2: a fixed camera's position is the registered one, whatever the frame says
        # (and an infinite latitude does not crash routing).
        first = await _raise(rt, world, lat=math.inf, lon=0.0)
        alert = await _alert(rt, first)
        assert (alert.lat, alert.lon) == (world.lat, world.lon)
        assert len(_crops(rt)) == 1
        rt.tracker.forget_alert(first)
        second = await _raise(rt, world, lat=51.6, lon=-0.2)
        assert ((await _alert(rt, second)).lat, (await _alert(rt, second)).lon) == (
            world.lat, world.lon)
        # A mobile camera reports its own position, used only when valid.
        await _set(rt, Camera, world.camera_id, mobile=True)
        rt.tracker.forget_alert(second)
        third = await _raise(rt, world, lat=math.nan, lon=-0.2)
        assert ((await _alert(rt, third)).lat, (await _alert(rt, third)).lon) == (
            world.lat, world.lon)
        rt.tracker.forget_alert(third)
        # (a few tens of metres from its registered place, so pc1 is still within range)
        fourth = await _raise(rt, world, lat=51.508, lon=-0.128)
        assert ((await _alert(rt, fourth)).lat, (await _alert(rt, fourth)).lon) == (
            51.508, -0.128)
        await _set(rt, Camera, world.camera_id, mobile=False)

        # D1: a sighting within the cooldown updates the open alert ...
        assert await _raise(rt, world) == fourth
        assert (await _alert(rt, fourth)).sightings == 2
        # A2: ... which reached pc1; dismissing it withdraws it from pc1 entirely.
        async with rt.db.sessions() as session:
            assert await session.get(AlertRecipient, (fourth, world.ids["pc1"])) is not None
        await world.api["pc1"].call("GET", f"/api/alerts/{fourth}")
        dispatcher = Principal(account_id=world.ids["dispatcher"], name="disp",
                               role="dispatcher")
        await AlertService(rt).dismiss(
            DismissAlert(ref=1, alert_id=fourth, reason="different_person"), dispatcher)
        async with rt.db.sessions() as session:
            assert await session.get(AlertRecipient, (fourth, world.ids["pc1"])) is None
        await world.api["pc1"].call("GET", f"/api/alerts/{fourth}", 404)
        await world.api["pc1"].call("GET", f"/api/alerts/{fourth}/probe", 404)
        # D1: the closed alert absorbs no further sighting: the next one is a new alert.
        fifth = await _raise(rt, world)
        assert fifth not in ("", fourth)
        assert (await _alert(rt, fourth)).sightings == 2
        assert (await _alert(rt, fifth)).sightings == 1

        # P3: the entry expired while the frame was analysed -> nothing kept, neither a
        # sighting of the open alert nor (after its window) a new alert and crop.
        crops, alerts = len(_crops(rt)), await _alert_count(rt)
        await _set(rt, Entry, world.entry_id, expires_at=time.time() - 1)
        assert await _raise(rt, world) == ""
        assert (await _alert(rt, fifth)).sightings == 1
        rt.tracker.forget_alert(fifth)
        assert await _raise(rt, world) == ""
        assert (len(_crops(rt)), await _alert_count(rt)) == (crops, alerts)

        for api in world.api.values():
            await api.close()


async def test_a_restart_keeps_the_open_alert_window(tmp_path: Path, engine: DlibEngine,
                                                     photos: Photos) -> None:
    # Within the cooldown, a sighting after a restart updates the open alert instead of
    # raising a second one for the same person at the same camera.
    settings = make_settings(tmp_path)
    async with LiveServer(settings, engine) as live:
        world = await build_world(live, photos)
        first = await _raise(live.runtime, world)
        for api in world.api.values():
            await api.close()
    async with LiveServer(settings, engine) as again:
        rt = again.runtime
        assert await _raise(rt, world) == first
        assert (await _alert(rt, first)).sightings == 2
        assert await _alert_count(rt) == 1
        # a closed alert is not reopened: the next sighting after a restart is a new lead
        await AlertService(rt).dismiss(
            DismissAlert(ref=1, alert_id=first, reason="different_person"),
            Principal(account_id=world.ids["dispatcher"], name="disp", role="dispatcher"))
    async with LiveServer(settings, engine) as third:
        fresh = await _raise(third.runtime, world)
        assert fresh not in ("", first)
