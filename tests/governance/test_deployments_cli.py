"""``vigil deployments list`` gives the ids ``vigil stats`` needs (issue 15, item 13)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from server.cli import main as vigil
from server.runtime import Runtime
from server.store.models import Deployment, Watchlist


def deployment(dep_id: str, *, active: bool, starts_at: float, ends_at: float) -> Deployment:
    return Deployment(id=dep_id, name=f"Op {dep_id}", purpose="locate_serious_crime_suspect",
                      place="Oxford Circus", lat=51.5, lon=-0.14, watchlist_id="wl-1",
                      threshold=0.6, notify_radius_m=500.0, starts_at=starts_at,
                      ends_at=ends_at, active=active, created_by="adm-1",
                      created_at=starts_at, faces_processed=0, frames_processed=0,
                      frames_refused=0)


async def test_deployments_list(runtime: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    now = time.time()
    async with runtime.db.sessions() as session, session.begin():
        session.add(Watchlist(id="wl-1", name="w", created_at=now, created_by="wm-1"))
    async with runtime.db.sessions() as session, session.begin():
        session.add(deployment("dep-live", active=True, starts_at=now - 60, ends_at=now + 3600))
        session.add(deployment("dep-new", active=False, starts_at=now + 60, ends_at=now + 120))
        session.add(deployment("dep-old", active=False, starts_at=now - 7200,
                               ends_at=now - 3600))
    data_dir = runtime.settings.data_dir
    assert await asyncio.to_thread(vigil, ["deployments", "list", "--json",
                                           "--data-dir", data_dir]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert {k: r["state"] for k, r in rows.items()} == {
        "dep-live": "active", "dep-new": "inactive", "dep-old": "ended"}
    assert rows["dep-live"]["name"] == "Op dep-live"
    assert await asyncio.to_thread(vigil, ["deployments", "list", "--data-dir", data_dir]) == 0
    text = capsys.readouterr().out
    assert all(dep in text for dep in rows)
