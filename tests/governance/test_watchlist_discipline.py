"""Watchlist discipline: closed categories, required justification, source, date and expiry,
extra justification for minors, size cap; an expired entry stops matching at once and the
sweep removes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from server.recognition.dlib_engine import DlibEngine
from server.services.governance import sweep
from tests.governance.conftest import FakeClock, audit_entries, count_rows
from tests.governance.helpers import runtime_of, send_frame
from tests.server.conftest import LiveServer, Photos, build_world, enrol, make_settings

BAD_ENTRIES: list[tuple[dict[str, Any], str]] = [
    ({"category": "intelligence_interest"}, "bad_category"),
    ({"category": "other"}, "bad_category"),
    ({"justification": " "}, "justification_required"),
    ({"legal_basis": ""}, "legal_basis_required"),
    ({"image_source": ""}, "image_source_required"),
    ({"image_date": ""}, "image_date_required"),
    ({"minor": "true"}, "minor_justification_required"),
]


async def test_entry_metadata_rules(gov_live: LiveServer, photos: Photos,
                                    clock: FakeClock) -> None:
    # One server for every case: each refusal happens before the photo is even decoded.
    world = await build_world(gov_live, photos, start=False)
    wm = world.api["watchlist_manager"]
    for fields, code in [*BAD_ENTRIES, ({"expires_at": clock() - 1}, "expiry_in_past")]:
        body = await enrol(wm, world.watchlist_id, photos.second_subject, "X", 400, **fields)
        assert body["code"] == code, fields
    r = await wm.client.post(f"/api/watchlists/{world.watchlist_id}/entries", data={
        "subject_ref": "R", "display_name": "X", "category": "victim", "justification": "j",
        "legal_basis": "l", "image_source": "s", "image_date": "2024-01-01"},
        files={"photo": ("p.jpg", photos.second_subject, "image/jpeg")})
    assert r.status_code == 400  # no expiry at all: refused by the form's schema
    async with runtime_of(world).db.sessions() as session:
        assert await count_rows(session, "entries") == 1  # only the world's own entry
    minor = await enrol(wm, world.watchlist_id, photos.second_subject, "Y", 201,
                        minor="true", minor_justification="missing child, risk to life")
    assert minor["minor"] is True


async def test_size_cap(tmp_path: Path, engine: DlibEngine, photos: Photos,
                        clock: FakeClock) -> None:
    async with LiveServer(make_settings(tmp_path, watchlist_size_cap=1), engine,
                          clock=clock) as server:
        world = await build_world(server, photos, start=False)
        body = await enrol(world.api["watchlist_manager"], world.watchlist_id,
                           photos.second_subject, "B", 400)
        assert body["code"] == "watchlist_full"


async def test_expired_entry_no_longer_matches(gov_live: LiveServer, photos: Photos,
                                               clock: FakeClock) -> None:
    world = await build_world(gov_live, photos)
    rt = runtime_of(world)
    second = await enrol(world.api["watchlist_manager"], world.watchlist_id,
                         photos.second_subject, "Subject B", expires_at=clock() + 600)
    before = await send_frame(world, photos.frame_second)
    assert before["status"] == "processed"
    alerts = await world.api["dispatcher"].call("GET", "/api/alerts")
    assert [a["entry_id"] for a in alerts] == [second["id"]]
    index_dir = rt.settings.data_path / "indexes" / world.watchlist_id
    assert any(index_dir.iterdir())  # the saved index holds the entry's template

    clock.advance(900)  # past the entry's expiry (and past the alert cooldown)
    result = await send_frame(world, photos.frame_second, seq=2)
    assert result["status"] == "processed"
    assert result["faces"] == before["faces"]
    alerts = await world.api["dispatcher"].call("GET", "/api/alerts")
    assert len(alerts) == 1
    assert alerts[0]["sightings"] == 1

    await sweep(rt)
    expired = await audit_entries(rt, "entry_expired")
    assert [e.object_ids["entry_id"] for e in expired] == [second["id"]]
    changed = await audit_entries(rt, "watchlist_version_changed")
    assert changed[-1].details["size"] == 1
    async with rt.db.sessions() as session:
        assert await count_rows(session, "entries", id=second["id"]) == 0
        assert await count_rows(session, "templates", entry_id=second["id"]) == 0
    assert not index_dir.exists()  # saved index files went with the template
    after = await send_frame(world, photos.frame_second, seq=3)
    assert after["status"] == "processed"
    assert len(await world.api["dispatcher"].call("GET", "/api/alerts")) == 1


async def test_removed_entry_leaves_no_saved_index(gov_live: LiveServer, photos: Photos) -> None:
    world = await build_world(gov_live, photos)
    rt = runtime_of(world)
    second = await enrol(world.api["watchlist_manager"], world.watchlist_id,
                         photos.second_subject, "Subject B")
    assert (await send_frame(world, photos.frame_second))["status"] == "processed"
    index_dir = rt.settings.data_path / "indexes" / world.watchlist_id
    assert any(index_dir.iterdir())  # the saved index holds the entry's template
    await world.api["watchlist_manager"].call(
        "DELETE", f"/api/watchlists/{world.watchlist_id}/entries/{second['id']}", 204)
    assert not index_dir.exists()
