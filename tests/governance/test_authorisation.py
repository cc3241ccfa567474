"""Invariant 4 and the deployment lifecycle: authorisation before start, kill switch, urgent
start limited to 24 h unless confirmed, refusal/revocation purges everything produced, the
watchlist version frozen at activation and every later version audited."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from server.services.governance import sweep
from server.services.watchlists import watchlist_fingerprint
from server.store.models import Alert, OutboxBody, OutboxMessage, Template
from server.store.outbox import SHARED_BODY_MIN_RECIPIENTS
from tests.governance.conftest import FakeClock, audit_entries, count_rows
from tests.governance.helpers import (
    add_auditor,
    authorise,
    new_deployment,
    runtime_of,
    send_frame,
)
from tests.server.conftest import (
    LiveServer,
    Photos,
    build_world,
    enrol,
    make_token,
    open_ws,
)


async def test_start_needs_authorisation_and_freezes_the_watchlist(
    gov_live: LiveServer, photos: Photos
) -> None:
    world = await build_world(gov_live, photos, start=False)
    await add_auditor(world)
    rt = runtime_of(world)
    auth, admin = world.api["authoriser"], world.api["admin"]
    dep = world.deployment_id
    refused = await auth.call("POST", f"/api/deployments/{dep}/start", 409)
    assert refused["code"] == "not_authorised"
    assert await audit_entries(rt, "deployment_started") == []
    await authorise(admin, dep, 403)  # an admin cannot authorise
    assert (await authorise(auth, dep, 409, purpose="prevent_imminent_threat"))["code"] == (
        "purpose_mismatch")
    assert (await authorise(auth, dep, 400, authority_ref=" "))["code"] == (
        "authority_ref_required")
    granted = await authorise(auth, dep)
    assert granted["state"] == "authorised"
    assert granted["authoriser_name"] == "supt"
    assert granted["authority_ref"] == "MAG-2026-0042"
    assert (await authorise(auth, dep, 409))["code"] == "conflict"

    await auth.call("POST", f"/api/deployments/{dep}/start")
    async with rt.db.sessions() as session:
        frozen_hash, _size = await watchlist_fingerprint(session, world.watchlist_id)
    frozen = await audit_entries(rt, "watchlist_frozen")
    assert [(e.object_ids["deployment_id"], e.details["version_hash"], e.details["size"])
            for e in frozen] == [(dep, frozen_hash, 1)]
    record = await auth.call("GET", f"/api/deployments/{dep}/authorisation")
    assert (record["watchlist_hash"], record["watchlist_size"]) == (frozen_hash, 1)
    [granted_record] = await audit_entries(rt, "deployment_authorised")
    assert granted_record.details["version_hash"] == frozen_hash  # the list it was shown
    assert granted_record.details["authority_ref"] == "MAG-2026-0042"

    # A change while the deployment runs makes a new version, audited with its hash.
    await enrol(world.api["watchlist_manager"], world.watchlist_id, photos.second_subject,
                "Subject B")
    changed = await audit_entries(rt, "watchlist_version_changed")
    assert len(changed) == 1
    assert changed[0].details["size"] == 2
    assert changed[0].details["version_hash"] != frozen_hash
    record = await auth.call("GET", f"/api/deployments/{dep}/authorisation")
    assert record["watchlist_hash"] == frozen_hash  # what was frozen stays on record

    # The transparency record shows the authority and the list as it was frozen.
    public = await world.api["auditor"].call("GET", f"/api/deployments/{dep}/transparency")
    assert (public["authorisation"], public["authorised_by"], public["authority_ref"]) == (
        "authorised", "supt", "MAG-2026-0042")
    assert (public["watchlist_size"], public["watchlist_hash"]) == (1, frozen_hash)
    assert public["deployment"]["place"] == "Oxford Circus"
    assert public["stats"]["faces_processed"] == 0
    md = await world.api["auditor"].call(
        "GET", f"/api/deployments/{dep}/transparency?format=markdown")
    assert b"| Authority reference | MAG-2026-0042 |" in md
    assert b"| Watchlist size | 1 |" in md


async def test_kill_switch_stops_at_once_and_destroys_the_watchlist(
    gov_live: LiveServer, photos: Photos
) -> None:
    world = await build_world(gov_live, photos)
    rt = runtime_of(world)
    photo_dir = Path(world.server.settings.data_dir) / "watchlists" / world.watchlist_id
    assert any(photo_dir.iterdir())
    await world.api["authoriser"].call("POST", f"/api/deployments/{world.deployment_id}/stop")
    result = await send_frame(world, photos.frame_subject)
    assert result["status"] == "no_active_deployment"
    again = await world.api["authoriser"].call(
        "POST", f"/api/deployments/{world.deployment_id}/start", 409)
    assert again["code"] == "not_authorised"  # a stop is final
    async with rt.db.sessions() as session:
        assert await count_rows(session, "templates") == 0
        assert await count_rows(session, "alerts") == 0
    assert not photo_dir.exists()
    destroyed = await audit_entries(rt, "watchlist_destroyed")
    assert len(destroyed) == 1
    assert destroyed[0].details["size"] == 1
    assert destroyed[0].details["templates_destroyed"] == 1
    assert len(str(destroyed[0].details["version_hash"])) == 64


async def test_reusable_watchlist_is_kept(gov_live: LiveServer, photos: Photos) -> None:
    world = await build_world(gov_live, photos, start=False)
    wm, auth = world.api["watchlist_manager"], world.api["authoriser"]
    wl = await wm.call("POST", "/api/watchlists", 201, json={"name": "standing", "reuse": True})
    await enrol(wm, wl["id"], photos.subject, "Subject R")
    dep = await new_deployment(world, watchlist_id=wl["id"])
    await authorise(auth, dep["id"])
    await auth.call("POST", f"/api/deployments/{dep['id']}/start")
    await auth.call("POST", f"/api/deployments/{dep['id']}/stop")
    rt = runtime_of(world)
    assert len(await audit_entries(rt, "watchlist_kept_for_reuse")) == 1
    async with rt.db.sessions() as session:
        assert await count_rows(session, "templates") == 2  # both watchlists still whole


async def test_revocation_purges_every_alert_crop_and_message(
    gov_live: LiveServer, photos: Photos
) -> None:
    world = await build_world(gov_live, photos)
    rt = runtime_of(world)
    dispatcher_api = world.api["dispatcher"]
    result = await send_frame(world, photos.frame_subject)
    assert result["status"] == "processed"
    alerts = await dispatcher_api.call("GET", f"/api/alerts?deployment_id={world.deployment_id}")
    assert len(alerts) == 1
    probes = Path(world.server.settings.data_dir) / "probes" / world.deployment_id
    assert len(list(probes.iterdir())) == 1
    async with rt.db.sessions() as session:
        outbox = await count_rows(session, "outbox", alert_id=alerts[0]["id"])
        shared = await count_rows(session, "outbox_bodies", alert_id=alerts[0]["id"])
    assert outbox >= 1  # the dispatcher has not acknowledged it
    assert shared == (outbox >= SHARED_BODY_MIN_RECIPIENTS)  # to many: its card stored once

    # A second dispatcher watches live (the first one's copy stays unacknowledged).
    _, token = await make_token(world.server.settings, "dispatcher", "disp2")
    dispatcher, _ = await open_ws(world.server, "/ws/dispatch", token)
    await dispatcher.recv_type("snapshot")
    revoked = await world.api["authoriser"].call(
        "POST", f"/api/deployments/{world.deployment_id}/authorisation/revoke",
        json={"reason": "authority withdrew the order"})
    assert revoked["authorisation"]["state"] == "revoked"
    assert revoked["purged"]["alerts"] == 1
    assert revoked["purged"]["probe_crops"] == 1
    assert revoked["purged"]["outbox_messages"] == outbox
    async with rt.db.sessions() as session:
        assert (await session.execute(select(Alert))).scalars().all() == []
        assert (await session.execute(
            select(OutboxMessage).where(OutboxMessage.alert_id.is_not(None)))).all() == []
        # nor the shared encoding of a message about it (the alert's card)
        assert (await session.execute(
            select(OutboxBody).where(OutboxBody.alert_id.is_not(None)))).all() == []
        assert (await session.execute(select(Template))).all() == []
        for table in ("alert_events", "alert_recipients"):
            assert await count_rows(session, table) == 0
    assert list(probes.iterdir()) == []
    # Consoles drop the purged alert at once (a durable notice naming only its id).
    withdrawn = await dispatcher.recv_type("alert_withdrawn")
    assert (withdrawn["alert_id"], withdrawn["reason"]) == (alerts[0]["id"], "purged")
    await dispatcher.close()
    assert await dispatcher_api.call("GET", "/api/alerts") == []
    purge = (await audit_entries(rt, "purge"))[-1]
    assert purge.object_ids == {"deployment_id": world.deployment_id}
    assert set(purge.details) == {"cause", "alerts_purged", "probe_crops_purged",
                                  "events_purged", "recipients_purged",
                                  "outbox_messages_purged"}
    assert len(await audit_entries(rt, "deployment_revoked")) == 1
    after = await send_frame(world, photos.frame_subject, seq=2)
    assert after["status"] == "no_active_deployment"
    async with rt.db.sessions() as session:
        assert await count_rows(session, "alerts") == 0


async def test_urgent_start_lapses_after_24_hours_unless_confirmed(
    gov_live: LiveServer, photos: Photos, clock: FakeClock
) -> None:
    world = await build_world(gov_live, photos, start=False)
    rt = runtime_of(world)
    auth = world.api["authoriser"]
    lapsing = await new_deployment(world, hours=72)
    confirmed = await new_deployment(world, hours=72)
    refused = await new_deployment(world, hours=72)
    for dep in (lapsing, confirmed, refused):
        granted = await authorise(auth, dep["id"], urgent=True)
        assert granted["state"] == "urgent"
        assert granted["confirm_by"] == granted["granted_at"] + 24 * 3600
    view = {d["id"]: d for d in await auth.call("GET", "/api/deployments")}
    assert view[lapsing["id"]]["ends_at"] == (
        await auth.call("GET", f"/api/deployments/{lapsing['id']}/authorisation"))["confirm_by"]
    await auth.call("POST", f"/api/deployments/{lapsing['id']}/start")
    await auth.call("POST", f"/api/deployments/{confirmed['id']}/authorisation/confirm",
                    200, json={"authority_ref": "JUDGE-77"})
    view = {d["id"]: d for d in await auth.call("GET", "/api/deployments")}
    assert view[confirmed["id"]]["ends_at"] == confirmed["ends_at"]

    out = await auth.call("POST", f"/api/deployments/{refused['id']}/authorisation/refuse",
                          200, json={"reason": "not necessary"})
    assert out["authorisation"]["state"] == "refused"
    assert out["purged"]["alerts"] == 0
    assert (await auth.call("POST", f"/api/deployments/{refused['id']}/start", 409))["code"] == (
        "not_authorised")

    clock.advance(24 * 3600 + 1)
    result = await send_frame(world, photos.frame_subject)
    assert result["status"] == "no_active_deployment"  # cut off without waiting for a sweep
    await sweep(rt)
    lapsed = await audit_entries(rt, "urgent_start_lapsed")
    assert [e.object_ids["deployment_id"] for e in lapsed] == [lapsing["id"]]
    again = await auth.call("POST", f"/api/deployments/{lapsing['id']}/start", 409)
    assert again["code"] in ("not_authorised", "window_ended")
    # The confirmed one can still start a day later: it has its full window back.
    await auth.call("POST", f"/api/deployments/{confirmed['id']}/start")
