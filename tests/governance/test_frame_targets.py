"""The frame path's in-memory view of deployments and watchlists (``FrameTargets``) follows
every governance change at once: each test warms it with a frame first, changes one thing over
REST (or by the clock alone), and checks the very next frame."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import update

from server.runtime import Runtime
from server.store.frame_targets import FrameTargets
from server.store.models import Deployment, Watchlist
from tests.governance import rows
from tests.governance.conftest import FakeClock
from tests.governance.helpers import authorise, runtime_of, send_frame
from tests.server.conftest import LiveServer, Photos, World, build_world, enrol


async def _alerts(world: World) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = await world.api["dispatcher"].call("GET", "/api/alerts")
    return alerts


async def _sightings(world: World) -> dict[str, int]:
    """Sightings per watchlist entry over every alert."""
    out: dict[str, int] = {}
    for alert in await _alerts(world):
        out[alert["entry_id"]] = out.get(alert["entry_id"], 0) + alert["sightings"]
    return out


async def test_a_frame_after_a_stop_is_refused_at_once(
    gov_live: LiveServer, photos: Photos
) -> None:
    world = await build_world(gov_live, photos)
    assert (await send_frame(world, photos.frame_subject))["status"] == "processed"
    await world.api["authoriser"].call("POST", f"/api/deployments/{world.deployment_id}/stop")
    assert (await send_frame(world, photos.frame_subject, 2))["status"] == (
        "no_active_deployment")


async def test_a_start_reaches_a_camera_refused_before(
    gov_live: LiveServer, photos: Photos
) -> None:
    world = await build_world(gov_live, photos, start=False)
    assert (await send_frame(world, photos.frame_subject))["status"] == (
        "no_active_deployment")
    await authorise(world.api["authoriser"], world.deployment_id)
    await world.api["authoriser"].call("POST", f"/api/deployments/{world.deployment_id}/start")
    assert (await send_frame(world, photos.frame_subject, 2))["status"] == "processed"
    assert [a["entry_id"] for a in await _alerts(world)] == [world.entry_id]


async def test_withdrawing_the_authorisation_stops_frames_at_once(
    gov_live: LiveServer, photos: Photos
) -> None:
    world = await build_world(gov_live, photos)
    assert (await send_frame(world, photos.frame_subject))["status"] == "processed"
    await world.api["authoriser"].call(
        "POST", f"/api/deployments/{world.deployment_id}/authorisation/revoke", 200,
        json={"reason": "order withdrawn"})
    assert (await send_frame(world, photos.frame_subject, 2))["status"] == (
        "no_active_deployment")


async def test_window_end_and_planned_start_follow_the_clock_without_a_sweep(
    gov_live: LiveServer, photos: Photos, clock: FakeClock
) -> None:
    world = await build_world(gov_live, photos, start=False)
    auth = world.api["authoriser"]
    now = time.time()
    planned = await auth.call("POST", "/api/deployments", 201, json={
        "name": "planned", "purpose": "locate_serious_crime_suspect", "place": "Soho",
        "lat": world.lat, "lon": world.lon, "camera_ids": [world.camera_id],
        "watchlist_id": world.watchlist_id, "starts_at": now + 7200, "ends_at": now + 10800,
        "notify_radius_m": 500})
    await authorise(auth, world.deployment_id)
    await auth.call("POST", f"/api/deployments/{world.deployment_id}/start")
    await authorise(auth, planned["id"])
    await auth.call("POST", f"/api/deployments/{planned['id']}/start")
    assert (await send_frame(world, photos.frame_subject, 1))["status"] == "processed"

    # Past the first window (it ends an hour after build_world ran, which the fake clock,
    # started before it, lags a little), before the planned one.
    clock.advance(3600 + 100)
    assert (await send_frame(world, photos.frame_subject, 2))["status"] == (
        "no_active_deployment")
    clock.advance(3600)  # inside the planned window
    assert (await send_frame(world, photos.frame_subject, 3))["status"] == "processed"
    alerts = await _alerts(world)
    assert sorted(a["deployment_id"] for a in alerts) == sorted(
        [world.deployment_id, planned["id"]])


async def test_enrolment_and_removal_reach_the_next_frame(
    gov_live: LiveServer, photos: Photos
) -> None:
    world = await build_world(gov_live, photos)
    manager = world.api["watchlist_manager"]
    assert (await send_frame(world, photos.frame_second, 1))["status"] == "processed"
    assert await _sightings(world) == {}  # not enrolled: no match

    second = await enrol(manager, world.watchlist_id, photos.second_subject, "Subject B")
    assert (await send_frame(world, photos.frame_second, 2))["status"] == "processed"
    assert await _sightings(world) == {second["id"]: 1}

    await manager.call("DELETE", f"/api/watchlists/{world.watchlist_id}/entries/{second['id']}",
                       204)
    assert (await send_frame(world, photos.frame_second, 3))["status"] == "processed"
    assert await _sightings(world) == {second["id"]: 1}  # no sighting since the removal


async def test_a_threshold_change_reaches_the_next_frame(
    gov_live: LiveServer, photos: Photos
) -> None:
    world = await build_world(gov_live, photos)
    assert (await send_frame(world, photos.frame_subject, 1))["status"] == "processed"
    assert await _sightings(world) == {world.entry_id: 1}
    # The fake engine's noise keeps a genuine pair under 1.0: nothing matches at 1.0.
    await world.api["authoriser"].call(
        "POST", f"/api/deployments/{world.deployment_id}/threshold", 200,
        json={"threshold": 1.0})
    assert (await send_frame(world, photos.frame_subject, 2))["status"] == "processed"
    assert await _sightings(world) == {world.entry_id: 1}


async def test_frames_of_a_warm_camera_read_nothing(
    gov_live: LiveServer, photos: Photos
) -> None:
    world = await build_world(gov_live, photos)
    targets = runtime_of(world).frame_targets
    await send_frame(world, photos.frame_subject, 1)
    loads = targets.loads
    for seq in range(2, 5):
        assert (await send_frame(world, photos.frame_second, seq))["status"] == "processed"
    assert targets.loads == loads


async def test_a_load_racing_an_invalidation_is_not_kept(runtime: Runtime) -> None:
    now = runtime.clock()
    async with runtime.db.sessions() as session, session.begin():
        await rows.deployment(session, "dep-1", now)
    targets = FrameTargets(runtime.db)
    real_load = targets._load
    loaded, release = asyncio.Event(), asyncio.Event()

    async def slow_load(camera_id: str) -> Any:
        found = await real_load(camera_id)  # read before the change below commits
        loaded.set()
        await release.wait()
        return found

    targets._load = slow_load  # type: ignore[method-assign]
    racing = asyncio.create_task(targets.active("cam-dep-1", now))
    await loaded.wait()
    targets.invalidate()  # (the stop committed meanwhile)
    release.set()
    assert (await racing) is not None  # that frame was already in flight
    targets._load = real_load  # type: ignore[method-assign]
    loads = targets.loads
    await targets.active("cam-dep-1", now)
    assert targets.loads == loads + 1  # the racing result was not kept: read again
    await targets.active("cam-dep-1", now)
    assert targets.loads == loads + 1  # and now it is


class Refused(Exception):
    """Stands for anything failing later in a transaction."""


async def test_any_commit_that_changes_what_frames_match_for_invalidates(
    runtime: Runtime,
) -> None:
    """The guarantee behind the services' own calls: a path that forgot to invalidate still
    does, when it commits (and only then; the counters' flush does not)."""
    now = runtime.clock()
    async with runtime.db.sessions() as session, session.begin():
        await rows.deployment(session, "dep-1", now)
    targets = runtime.frame_targets
    assert await targets.active("cam-dep-1", now) is not None
    loads = targets.loads

    runtime.frame_counts.processed("dep-1", faces=3)
    runtime.frame_counts.no_deployment("cam-dep-1")
    await runtime.frame_counts.flush()
    assert await targets.active("cam-dep-1", now) is not None
    assert targets.loads == loads  # counters are not what frames match for

    async def stop_then_fail() -> None:
        async with runtime.db.sessions() as session, session.begin():
            dep = await session.get(Deployment, "dep-1")
            assert dep is not None
            dep.active = False
            await session.flush()
            raise Refused

    with pytest.raises(Refused):
        await stop_then_fail()
    assert await targets.active("cam-dep-1", now) is not None
    assert targets.loads == loads  # rolled back: nothing changed

    async with runtime.db.sessions() as session, session.begin():  # an ORM change
        dep = await session.get(Deployment, "dep-1")
        assert dep is not None
        dep.active = False
    assert await targets.active("cam-dep-1", now) is None

    async with runtime.db.sessions() as session, session.begin():  # a DML statement
        await session.execute(update(Deployment).where(Deployment.id == "dep-1")
                              .values(active=True))
    assert await targets.active("cam-dep-1", now) is not None

    async with runtime.db.sessions() as session, session.begin():  # a watchlist version
        await session.execute(update(Watchlist).where(Watchlist.id == "wl-dep-1")
                              .values(version=Watchlist.version + 1))
    found = await targets.active("cam-dep-1", now)
    assert found is not None
    assert found.watchlist_version == 1
