"""A new alert is stored, routed and pushed in one transaction of Core statements, with the
card built from the rows that transaction already holds: what each recipient receives must be
exactly what the store returns for that alert afterwards, routed only to valid officers in
range and every dispatcher, audited, and nothing at all for a deployment stopped meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from server.auth import create_account
from server.pipeline.alerting import raise_or_update
from server.pipeline.analysis import Match
from server.runtime import Runtime, open_runtime
from server.store.audit import verify
from server.store.group_commit import OfficerUpdate
from server.store.models import Account, Alert, AlertRecipient, Deployment, Entry, Officer
from server.store.outbox import Staged, pending
from server.store.views import alert_view
from shared.protocol.codec import officer_out
from shared.protocol.officer import AlertRaised
from tests.fakes.engine import FakeEngine
from tests.governance import rows
from tests.support.live import make_settings

CROP = b"\xff\xd8\xff\xe0 not really a jpeg, the store does not decode it"


class Recording:
    """A publisher that keeps what was delivered."""

    def __init__(self) -> None:
        self.staged: list[Staged] = []

    def deliver(self, staged: Any) -> None:
        self.staged.extend(staged)

    def broadcast(self, role: str, message: Any) -> None: ...

    def connected(self, account_id: str) -> bool:
        return False

    def close_account(self, account_id: str, message: str) -> int:
        return 0

    def close_camera(self, camera_id: str, *, unless_account: str, message: str) -> None: ...

    async def shutdown(self, flush_s: float) -> None: ...


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[tuple[Runtime, Recording, dict[str, str]]]:
    publisher = Recording()
    async with open_runtime(make_settings(tmp_path, cooldown_s=0.0), publisher=publisher,
                            engine=FakeEngine()) as rt:
        now = rt.clock()
        ids: dict[str, str] = {}
        async with rt.db.sessions() as session, session.begin():
            await rows.deployment(session, "dep-1", now)
            session.add(Entry(
                id="ent-1", watchlist_id="wl-dep-1", subject_ref="S-1", display_name="Subject",
                category="wanted_serious_crime", justification="why", legal_basis="basis",
                image_source="src", image_date="2024-01-01", expires_at=now + 3600,
                added_by="wm", created_at=now, photo_path="photos/ent-1.jpg"))
            for name, role in [("disp", "dispatcher"), ("near", "officer"), ("far", "officer"),
                               ("revoked", "officer"), ("expired", "officer")]:
                account, _ = await create_account(
                    session, role=role, name=name, now=now,
                    expires_at=now - 1 if name == "expired" else None)
                account.revoked = name == "revoked"
                ids[name] = account.id
            await session.flush()
            for officer in (await session.execute(select(Officer))).scalars():
                far = officer.id == ids["far"]
                officer.lat, officer.lon = (52.5, -1.9) if far else (51.5, -0.12)
        yield rt, publisher, ids


async def _raise(rt: Runtime) -> str:
    now = rt.clock()
    return await raise_or_update(
        rt, deployment_id="dep-1", camera_id="cam-dep-1",
        match=Match(entry_id="ent-1", similarity=0.97, probe_jpeg=CROP, matched_at=now),
        captured_at=now - 0.2, ingested_at=now - 0.1, lat=None, lon=None)


async def test_the_pushed_card_is_the_stored_alert(
    runtime: tuple[Runtime, Recording, dict[str, str]],
) -> None:
    rt, publisher, ids = runtime
    alert_id = await _raise(rt)
    assert alert_id
    # Routed to the dispatcher and the valid officer in range only, each once.
    assert sorted(s.account_id for s in publisher.staged) == sorted([ids["disp"], ids["near"]])
    async with rt.db.sessions() as session:
        alert = await session.get(Alert, alert_id)
        assert alert is not None
        stored = await alert_view(session, alert)
        recipients = (await session.execute(
            select(AlertRecipient.account_id).where(AlertRecipient.alert_id == alert_id)
        )).scalars().all()
        assert list(recipients) == [ids["near"]]
        for staged in publisher.staged:
            message = officer_out.decode(staged.payload)
            assert isinstance(message, AlertRaised)
            assert message.seq == staged.seq == 1
            # Field for field what REST and the dispatcher's snapshot read back.
            assert message.alert == stored
            # The outbox holds the same bytes for a replay.
            assert await pending(session, staged.account_id, 0, 10) == [(1, staged.payload)]
        assert stored.version == 1
        assert [e.action for e in stored.events] == ["raised"]
        assert stored.times.pushed >= stored.times.matched > 0
        assert (await verify(session)).ok
    second = await _raise(rt)  # cooldown 0: a new alert, the next seq per recipient
    assert second not in ("", alert_id)
    assert sorted(s.seq for s in publisher.staged) == [1, 1, 2, 2]


async def test_a_stopped_deployment_or_removed_entry_keeps_nothing(
    runtime: tuple[Runtime, Recording, dict[str, str]],
) -> None:
    rt, publisher, _ = runtime
    statements: list[str] = []

    def on_statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        statements.append(sql)

    async with rt.db.sessions() as session, session.begin():
        dep = await session.get(Deployment, "dep-1")
        assert dep is not None
        dep.active = False
    event.listen(rt.db.engine.sync_engine, "before_cursor_execute", on_statement)
    try:
        assert await _raise(rt) == ""
    finally:
        event.remove(rt.db.engine.sync_engine, "before_cursor_execute", on_statement)
    assert [s.split()[0].upper() for s in statements] == ["SELECT"]  # read, nothing written
    async with rt.db.sessions() as session, session.begin():
        dep = await session.get(Deployment, "dep-1")
        entry = await session.get(Entry, "ent-1")
        assert dep is not None
        assert entry is not None
        dep.active = True
        await session.delete(entry)
    assert await _raise(rt) == ""
    assert publisher.staged == []
    async with rt.db.sessions() as session:
        assert (await session.execute(select(Alert.id))).first() is None
        assert not list((rt.settings.data_path / "probes").rglob("*.jpg"))


async def test_routing_from_memory_follows_every_change_at_once(
    runtime: tuple[Runtime, Recording, dict[str, str]],
) -> None:
    """Dispatchers and officers are held in memory (``server.store.routing``): a revoked
    account, an officer who moved, a new dispatcher and an expiry reach the very next alert,
    and alerts with nothing changed in between read nothing again."""
    rt, publisher, ids = runtime

    async def routed() -> set[str]:
        publisher.staged.clear()
        assert await _raise(rt)
        return {s.account_id for s in publisher.staged}

    assert await routed() == {ids["disp"], ids["near"]}
    loads = rt.routing.loads
    assert await routed() == {ids["disp"], ids["near"]}
    assert rt.routing.loads == loads  # nothing changed: no read
    async with rt.db.sessions() as session, session.begin():
        far = await session.get(Officer, ids["far"])
        near = await session.get(Account, ids["near"])
        assert far is not None
        assert near is not None
        far.lat, far.lon = 51.5, -0.12  # walks up to the camera
        near.revoked = True
    assert await routed() == {ids["disp"], ids["far"]}
    # An officer's position report goes through the group-committed writer.
    await rt.officer_updates.submit(ids["far"], OfficerUpdate(52.5, -1.9, None, rt.clock()))
    assert await routed() == {ids["disp"]}
    async with rt.db.sessions() as session, session.begin():
        account, _ = await create_account(session, role="dispatcher", name="disp2",
                                          now=rt.clock())
        far_account = await session.get(Account, ids["far"])
        assert far_account is not None
        far_account.expires_at = rt.clock() + 0.5
        far = await session.get(Officer, ids["far"])
        assert far is not None
        far.lat, far.lon = 51.5, -0.12
    assert await routed() == {ids["disp"], account.id, ids["far"]}
    await asyncio.sleep(0.6)  # expires without any write: checked at use
    assert await routed() == {ids["disp"], account.id}
