"""The audit chain and the purges on PostgreSQL (run when ``VIGIL_TEST_PG_URL`` names an
empty database, e.g. ``postgresql+asyncpg://vigil@127.0.0.1:5432/vigil_test``)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from sqlalchemy import text, update

from server.recognition.tracker import CooldownTracker
from server.runtime import Core
from server.services.governance import sweep
from server.store.audit import AuditRecord, ChainAudit, verify
from server.store.db import Database
from server.ws.hub import Hub
from tests.governance import rows
from tests.governance.conftest import FakeClock
from tests.server.conftest import make_settings

PG_URL = os.environ.get("VIGIL_TEST_PG_URL", "")

pytestmark = pytest.mark.skipif(not PG_URL, reason="VIGIL_TEST_PG_URL is not set")


async def test_chain_and_purge_on_postgresql(tmp_path: Path) -> None:
    pytest.importorskip("asyncpg")
    settings = make_settings(tmp_path, db_url=PG_URL)
    db = Database(PG_URL)
    async with db.engine.begin() as conn:  # start from an empty schema
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await db.migrate()
    clock = FakeClock()
    rt = Core(settings=settings, db=db, clock=clock, audit=ChainAudit(), publisher=Hub(),
                 tracker=CooldownTracker(settings.cooldown_s))

    async def one(i: int) -> None:
        async with db.sessions() as session, session.begin():
            await rt.audit.record(session, actor="a", action="x", at=clock() + i / 7,
                                  alert_id=f"a{i}", n=i, share=0.1 * i)

    try:
        # Concurrent writers without the in-process lock: the head's row lock chains them.
        await asyncio.gather(*(one(i) for i in range(20)))
        async with db.sessions() as session:
            report = await verify(session)
        assert (report.ok, report.records, report.head_seq) == (True, 20, 20)
        async with db.sessions() as session, session.begin():
            await rows.deployment(session, "dep-pg", clock(), faces=10)
            crop = await rows.alert(session, settings.data_path, "alr-pg", "dep-pg", clock())
        clock.advance(32 * 86400)
        assert (await sweep(rt)).retention.alerts == 1
        assert not crop.exists()
        async with db.sessions() as session, session.begin():
            await session.execute(update(AuditRecord).where(AuditRecord.seq == 5)
                                  .values(actor="m"))
        async with db.sessions() as session:
            report = await verify(session)
        assert (report.ok, report.bad_seq, report.problem) == (False, 5, "edited")
    finally:
        await db.close()
