"""Fixtures for the governance tests: a bare runtime over a fresh store (no server, no engine)
and the live server on the fake clock (``clock``, ``engine``: see ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.recognition.engine import FaceEngine
from server.recognition.tracker import CooldownTracker
from server.runtime import Core, Runtime
from server.store.audit import AuditEntry, AuditRecord, ChainAudit, to_entry
from server.store.authorisation import DeploymentAuthorisation  # noqa: F401  (registers table)
from server.store.db import Database
from server.store.models import Base
from server.ws.hub import Hub
from tests.support.clock import FakeClock
from tests.support.live import LiveServer, make_settings

__all__ = ["FakeClock", "audit_entries", "count_rows", "snapshot"]


@pytest.fixture
async def runtime(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Runtime]:
    """A runtime over a migrated SQLite store, with the hash-chained audit and the fake clock
    (enough for the store-level governance code; no engine, no sockets)."""
    settings = make_settings(tmp_path)
    rt = Core(settings=settings, db=Database(settings.database_url), clock=clock,
                 audit=ChainAudit(), publisher=Hub(),
                 tracker=CooldownTracker(settings.cooldown_s))
    await rt.db.migrate()
    yield rt
    await rt.db.close()


@pytest.fixture
async def gov_live(tmp_path: Path, engine: FaceEngine,
                   clock: FakeClock) -> AsyncIterator[LiveServer]:
    """The real server (uvicorn; the fake engine) running on the fake clock."""
    async with LiveServer(make_settings(tmp_path), engine, clock=clock) as server:
        yield server


async def audit_entries(rt: Runtime, action: str | None = None) -> list[AuditEntry]:
    """Audit records (optionally of one action), oldest first."""
    async with rt.db.sessions() as session:
        query = select(AuditRecord).order_by(AuditRecord.seq)
        if action is not None:
            query = query.where(AuditRecord.action == action)
        return [to_entry(r) for r in (await session.execute(query)).scalars()]


async def count_rows(session: AsyncSession, table: str, **where: Any) -> int:
    """Rows of a table (by name) matching equality conditions."""
    t = Base.metadata.tables[table]
    query = select(func.count()).select_from(t)
    for column, value in where.items():
        query = query.where(t.c[column] == value)
    return int((await session.execute(query)).scalar_one())


async def snapshot(rt: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, to prove a refused request changed nothing. Frame counters
    still in memory are written first: their once-a-second flush must not land between two
    snapshots and pass for a change made by the request."""
    await rt.frame_counts.flush()
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with rt.db.sessions() as session:
        for name, table in sorted(Base.metadata.tables.items()):
            rows = (await session.execute(select(table))).all()
            out[name] = sorted((tuple(r) for r in rows), key=repr)
    return out
