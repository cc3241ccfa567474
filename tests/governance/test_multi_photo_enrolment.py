"""Enrolment from several photos: the quality gate per photo, one fused template, adding photos
to an entry (a version per photo), one alert for the entry, and every photo removed with the
entry (invariant 4) by removal and by the expiry sweep."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from server.recognition import calibration
from server.recognition.engine import normalise_rows
from server.recognition.enrol import MAX_PHOTOS, enrol
from server.recognition.image_io import encode_jpeg
from server.services.governance import sweep
from server.store.models import Template, Watchlist
from tests.fakes.engine import face_image
from tests.governance.conftest import FakeClock, audit_entries
from tests.governance.helpers import runtime_of, send_frame
from tests.server.conftest import Api, LiveServer, Photos, build_world
from tests.support.photos import SECOND


def portrait(identity: int, size: int) -> bytes:
    """Another photo of a marker identity (its own size, so its own template noise)."""
    return encode_jpeg(face_image((identity,), 320, 320, size), quality=90)


BLANK = encode_jpeg(np.full((200, 200, 3), 128, dtype=np.uint8))

FIELDS = {"subject_ref": "REF-B", "display_name": "Subject B",
          "category": "wanted_serious_crime", "justification": "warrant 123",
          "legal_basis": "PACE s.24", "image_source": "custody record",
          "image_date": "2024-01-02"}


async def enrol_many(api: Api, watchlist_id: str, photos: list[bytes], expires_at: float,
                     expect: int = 201) -> dict[str, object]:
    files = [("photo", (f"p{i}.jpg", p, "image/jpeg")) for i, p in enumerate(photos)]
    data = {**FIELDS, "expires_at": str(expires_at)}
    result: dict[str, object] = await api.call(
        "POST", f"/api/watchlists/{watchlist_id}/entries", expect, data=data, files=files)
    return result


async def add_photos(api: Api, watchlist_id: str, entry_id: str, photos: list[bytes],
                     expect: int = 200) -> dict[str, object]:
    files = [("photo", (f"p{i}.jpg", p, "image/jpeg")) for i, p in enumerate(photos)]
    result: dict[str, object] = await api.call(
        "POST", f"/api/watchlists/{watchlist_id}/entries/{entry_id}/photos", expect,
        files=files)
    return result


async def test_entry_from_several_photos(gov_live: LiveServer, photos: Photos,
                                         clock: FakeClock) -> None:
    world = await build_world(gov_live, photos)
    rt = runtime_of(world)
    wm = world.api["watchlist_manager"]
    wl = world.watchlist_id
    shots = [photos.second_subject, portrait(SECOND, 130), portrait(SECOND, 190)]

    async def version() -> int:
        async with rt.db.sessions() as session:
            w = await session.get(Watchlist, wl)
            assert w is not None
            return w.version

    # A refused photo refuses the enrolment, naming every refused photo with its own code.
    start = await version()
    crowd = encode_jpeg(face_image((SECOND, 101), 640, 320, 150), quality=90)
    body = await enrol_many(wm, wl, [shots[0], BLANK, crowd], clock() + 86400, expect=422)
    assert body["code"] == "no_face"
    assert "photo 2 of 3: no_face" in str(body["message"])
    assert "photo 3 of 3: multiple_faces" in str(body["message"])
    assert len(await wm.call("GET", f"/api/watchlists/{wl}/entries")) == 1
    assert await version() == start
    stored = rt.settings.data_path / "watchlists" / wl
    assert [p.name for p in stored.iterdir()] == [world.entry_id]  # nothing of the refused

    # Two photos: one entry, one template, the normalised mean of the photos' templates.
    entry = await enrol_many(wm, wl, shots[:2], clock() + 86400)
    entry_id = str(entry["id"])
    assert entry["photos"] == 2
    folder = rt.settings.data_path / "watchlists" / wl / entry_id
    assert sorted(p.name for p in folder.iterdir()) == ["1.img", "2.img"]
    assert (folder / "2.img").read_bytes() == shots[1]

    async def template() -> np.ndarray:
        async with rt.db.sessions() as session:
            [vector] = (await session.execute(select(Template.vector).where(
                Template.entry_id == entry_id))).scalars().all()
        return np.frombuffer(vector, dtype=np.float32)

    engine = gov_live.engine
    assert engine is not None
    each = [enrol(engine, s, rt.settings).vector for s in shots]
    fused = normalise_rows(np.asarray(each[:2], dtype=np.float32).sum(axis=0, keepdims=True))[0]
    assert np.allclose(await template(), fused, atol=1e-5)
    assert not np.allclose(await template(), np.asarray(each[0]), atol=1e-3)

    # Adding a photo: gated like enrolment, fused again, one version more.
    v = await version()
    refused = await add_photos(wm, wl, entry_id, [BLANK], expect=422)
    assert refused["code"] == "no_face"
    assert await version() == v
    added = await add_photos(wm, wl, entry_id, [shots[2]])
    assert added["photos"] == 3
    assert added["models"] == [engine.model_id]
    assert await version() == v + 1
    fused3 = normalise_rows(np.asarray(each, dtype=np.float32).sum(axis=0, keepdims=True))[0]
    assert np.allclose(await template(), fused3, atol=1e-5)
    assert [e.details["photos"] for e in await audit_entries(rt, "entry_photos_added")] == [1]
    # The operating threshold and floor count photos: a fused entry draws more impostors.
    policy = await world.api["admin"].call("GET", f"/api/thresholds?watchlist_id={wl}")
    assert (policy["watchlist_size"], policy["comparisons"]) == (2, 4)
    assert policy["operating"] == pytest.approx(max(
        calibration.operating_threshold(engine.model_id, 4), policy["floor"]))
    assert policy["floor"] == pytest.approx(calibration.floor_for(engine.model_id, 4))
    too_many = await add_photos(wm, wl, entry_id, [shots[2]] * (MAX_PHOTOS - 2), expect=422)
    assert too_many["code"] == "too_many_photos"
    await add_photos(wm, wl, "ent-does-not-exist", [shots[2]], expect=404)

    # The entry ranks first for its person and raises one alert.
    assert (await send_frame(world, photos.frame_second))["status"] == "processed"
    alerts = await world.api["dispatcher"].call("GET", "/api/alerts")
    assert [a["entry_id"] for a in alerts] == [entry_id]

    # Removal takes every photo with it.
    await wm.call("DELETE", f"/api/watchlists/{wl}/entries/{entry_id}", 204)
    assert not folder.exists()


async def test_expiry_sweep_removes_every_photo(gov_live: LiveServer, photos: Photos,
                                                clock: FakeClock) -> None:
    world = await build_world(gov_live, photos)
    rt = runtime_of(world)
    wm = world.api["watchlist_manager"]
    entry = await enrol_many(wm, world.watchlist_id,
                             [photos.second_subject, portrait(SECOND, 130)], clock() + 600)
    await add_photos(wm, world.watchlist_id, str(entry["id"]), [portrait(SECOND, 190)])
    folder = rt.settings.data_path / "watchlists" / world.watchlist_id / str(entry["id"])
    assert len(list(folder.iterdir())) == 3
    clock.advance(900)
    await sweep(rt)
    assert not folder.exists()
    async with rt.db.sessions() as session:
        left = (await session.execute(select(Template).where(
            Template.entry_id == entry["id"]))).scalars().all()
    assert left == []
