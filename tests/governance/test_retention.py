"""Invariant 3: alerts and probe crops are purged after the retention period (audited with
counts only), with an injected clock; the audit itself outlives alert retention."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from sqlalchemy import select

from server.errors import VigilError
from server.recognition.tracker import CooldownTracker
from server.runtime import Core, Runtime
from server.services.governance import sweep
from server.store.models import OutboxMessage
from server.store.retention import DAY_S, retention_seconds
from server.ws.hub import Hub
from tests.governance import rows
from tests.governance.conftest import FakeClock, audit_entries, count_rows
from tests.server.conftest import make_settings


async def test_alerts_past_retention_are_purged_with_their_crops(
    runtime: Runtime, clock: FakeClock
) -> None:
    data = runtime.settings.data_path
    start = clock()
    async with runtime.db.sessions() as session, session.begin():
        await rows.deployment(session, "dep-1", start)
        old = await rows.alert(session, data, "alr-old", "dep-1", start, seq=1)
        await runtime.audit.record(session, actor="system", action="alert_raised", at=start,
                                   alert_id="alr-old", deployment_id="dep-1")
    clock.advance(20 * DAY_S)
    async with runtime.db.sessions() as session, session.begin():
        young = await rows.alert(session, data, "alr-young", "dep-1", clock(), seq=2)

    clock.advance(11 * DAY_S - 60)  # the old alert is 31 days minus a minute old: kept
    await sweep(runtime)
    async with runtime.db.sessions() as session:
        assert await count_rows(session, "alerts") == 2
    assert old.is_file()

    clock.advance(120)  # now past 31 days
    await sweep(runtime)
    async with runtime.db.sessions() as session:
        for table, key in (("alerts", "id"), ("alert_events", "alert_id"),
                           ("alert_recipients", "alert_id"), ("outbox", "alert_id")):
            assert await count_rows(session, table, **{key: "alr-old"}) == 0, table
            assert await count_rows(session, table, **{key: "alr-young"}) == 1, table
    assert not old.exists()
    assert young.is_file()
    async with runtime.db.sessions() as session:  # the officer it was routed to is told
        notices = (await session.execute(select(OutboxMessage.payload).where(
            OutboxMessage.account_id == "off-1", OutboxMessage.alert_id.is_(None)))).all()
    assert [json.loads(p) for (p,) in notices] == [
        {"type": "alert_withdrawn", "seq": 3, "alert_id": "alr-old", "reason": "purged"}]
    purges = await audit_entries(runtime, "purge")
    assert len(purges) == 1
    assert purges[0].details == {
        "cause": "retention", "retention_days": 31.0, "alerts_purged": 1,
        "probe_crops_purged": 1, "events_purged": 1, "recipients_purged": 1,
        "outbox_messages_purged": 1,
    }
    assert purges[0].actor == "system"

    # Six months on, the alert record of the purged alert is still in the verified log.
    clock.advance(190 * DAY_S)
    await sweep(runtime)
    raised = await audit_entries(runtime, "alert_raised")
    assert [e.object_ids["alert_id"] for e in raised] == ["alr-old"]
    async with runtime.db.sessions() as session:
        assert await count_rows(session, "alerts") == 0
    from server.store.audit import verify

    async with runtime.db.sessions() as session:
        assert (await verify(session)).ok


def test_retention_can_be_24_hours_but_not_less(tmp_path: Path) -> None:
    assert retention_seconds(make_settings(tmp_path, retention_days=1)) == DAY_S
    assert retention_seconds(make_settings(tmp_path)) == 31 * DAY_S
    with pytest.raises(VigilError) as err:
        retention_seconds(make_settings(tmp_path, retention_days=0.5))
    assert err.value.code == "bad_retention"


async def test_one_day_retention(tmp_path: Path, clock: FakeClock) -> None:
    from server.store.audit import ChainAudit
    from server.store.db import Database

    settings = make_settings(tmp_path, retention_days=1)
    rt = Core(settings=settings, db=Database(settings.database_url), clock=clock,
                 audit=ChainAudit(), publisher=Hub(),
                 tracker=CooldownTracker(settings.cooldown_s))
    await rt.db.migrate()
    try:
        async with rt.db.sessions() as session, session.begin():
            await rows.deployment(session, "dep-1", clock())
            crop = await rows.alert(session, settings.data_path, "alr-1", "dep-1", clock())
        clock.advance(DAY_S + 1)
        report = await sweep(rt)
        assert msgspec.structs.asdict(report.retention)["alerts"] == 1
        assert not crop.exists()
    finally:
        await rt.db.close()


async def test_match_finishing_after_a_stop_keeps_nothing(runtime: Runtime,
                                                          clock: FakeClock) -> None:
    # A frame already in the worker pool when the kill switch (or a revocation) lands must
    # not leave an alert or a probe crop behind.
    from sqlalchemy import update

    from server.pipeline.alerting import raise_or_update
    from server.pipeline.analysis import Match
    from server.store.models import Deployment

    async with runtime.db.sessions() as session, session.begin():
        await rows.deployment(session, "dep-1", clock())
        await session.execute(update(Deployment).values(active=False))
    alert_id = await raise_or_update(
        runtime, deployment_id="dep-1", camera_id="cam-dep-1",
        match=Match("ent-1", 0.97, b"\xff\xd8\xff probe", clock()), captured_at=clock(),
        ingested_at=clock(), lat=None, lon=None)
    assert alert_id == ""
    async with runtime.db.sessions() as session:
        assert await count_rows(session, "alerts") == 0
        assert await count_rows(session, "outbox") == 0
    assert not (runtime.settings.data_path / "probes").exists()
    assert await audit_entries(runtime, "alert_raised") == []
