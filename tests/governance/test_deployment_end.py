"""Invariant 4, the end of a watchlist's life: when the last deployment using a watchlist
ends (here: its window runs out), its photos, templates and index files are destroyed; the
audit keeps the version hash and size only. A watchlist another live deployment needs stays."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from server.runtime import Runtime
from server.services.governance import sweep
from server.services.watchlists import watchlist_fingerprint
from server.store.models import Deployment, DeploymentCamera, Entry, Template
from tests.governance import rows
from tests.governance.conftest import FakeClock, audit_entries, count_rows


async def add_entry(session: AsyncSession, data: Path, watchlist_id: str, entry_id: str,
                    now: float) -> Path:
    rel = Path("watchlists") / watchlist_id / f"{entry_id}.img"
    (data / rel).parent.mkdir(parents=True, exist_ok=True)
    (data / rel).write_bytes(b"reference photo")
    session.add(Entry(id=entry_id, watchlist_id=watchlist_id, subject_ref="R", display_name="N",
                      category="missing_person", justification="j", legal_basis="l",
                      image_source="s", image_date="2025-01-01", expires_at=now + 90 * 86400,
                      minor=False, minor_justification="", added_by="wm", created_at=now,
                      photo_path=str(rel)))
    await session.flush()
    session.add(Template(entry_id=entry_id, model_id="m", vector=b"\x00" * 16))
    return data / rel


async def test_window_end_destroys_an_unused_watchlist(runtime: Runtime,
                                                       clock: FakeClock) -> None:
    data = runtime.settings.data_path
    index_dir = data / "indexes" / "wl-dep-a"
    index_dir.mkdir(parents=True)
    (index_dir / "m.hnsw").write_bytes(b"graph")
    async with runtime.db.sessions() as session, session.begin():
        await rows.deployment(session, "dep-a", clock())
        photo = await add_entry(session, data, "wl-dep-a", "ent-a", clock())
        # A second deployment of the same watchlist, running longer.
        await rows.deployment(session, "dep-b", clock())
        longer = await session.get(Deployment, "dep-b")
        assert longer is not None
        longer.watchlist_id, longer.ends_at = "wl-dep-a", clock() + 3 * 3600
        session.add(DeploymentCamera(deployment_id="dep-b", camera_id="cam-dep-a"))
    async with runtime.db.sessions() as session:
        version_hash, size = await watchlist_fingerprint(session, "wl-dep-a")

    clock.advance(2 * 3600)  # dep-a's window is over, dep-b still needs the list
    await sweep(runtime)
    assert [e.object_ids["deployment_id"] for e in await audit_entries(
        runtime, "deployment_ended")] == ["dep-a"]
    assert photo.is_file()
    async with runtime.db.sessions() as session:
        assert await count_rows(session, "templates") == 1

    clock.advance(2 * 3600)  # now dep-b's window is over too
    await sweep(runtime)
    assert not photo.exists()
    assert not index_dir.exists()
    async with runtime.db.sessions() as session:
        assert await count_rows(session, "templates") == 0
        entry = await session.get(Entry, "ent-a")
        assert entry is not None
        assert entry.photo_path == ""
    [destroyed] = await audit_entries(runtime, "watchlist_destroyed")
    assert destroyed.object_ids == {"watchlist_id": "wl-dep-a", "deployment_id": "dep-b"}
    assert destroyed.details == {"version_hash": version_hash, "size": size,
                                 "templates_destroyed": 1, "photos_destroyed": 1}
