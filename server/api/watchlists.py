"""Watchlists and their entries: create, enrol (multipart photos + metadata), add photos to an
entry, list, remove."""

from __future__ import annotations

import asyncio
import datetime
import re
from pathlib import Path

import msgspec
import numpy as np
from litestar import Controller, delete, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, JSONBody, MultipartBody
from sqlalchemy import delete as sql_delete
from sqlalchemy import func, select

from server.api.deps import PrincipalDep, RuntimeDep
from server.api.schemas import EntryForm, EntryOut, PhotoForm, WatchlistCreate, WatchlistOut
from server.auth import new_id, roles
from server.errors import EnrolmentRefused, NotFound, VigilError
from server.recognition.enrol import MAX_PHOTOS, MultiEnrolment, enrol_photos
from server.services.entry_photos import remove_photos, stored_photos, write_photos
from server.services.watchlists import delete_index_files, note_watchlist_change
from server.store.models import Entry, Template, Watchlist
from shared.protocol.base import CATEGORIES
from shared.protocol.limits import MAX_EPOCH

READERS = roles("watchlist_manager", "authoriser", "admin", "auditor")
"""Watchlists themselves (name, size, version): no personal data, so auditors may see them."""
ENTRY_READERS = roles("watchlist_manager", "authoriser", "admin")
"""Entries name people: not for auditors (least privilege; docs/operations.md, role table)."""


def _entry_out(e: Entry, models: tuple[str, ...]) -> EntryOut:
    return EntryOut(
        id=e.id, watchlist_id=e.watchlist_id, subject_ref=e.subject_ref,
        display_name=e.display_name, category=e.category,
        justification=e.justification, legal_basis=e.legal_basis,
        image_source=e.image_source, image_date=e.image_date, expires_at=e.expires_at,
        minor=e.minor, added_by=e.added_by, created_at=e.created_at, models=models,
    )


FORM_LIMITS = {"subject_ref": 200, "display_name": 200, "category": 64, "justification": 4000,
               "legal_basis": 4000, "image_source": 200, "image_date": 64,
               "minor_justification": 4000}
"""Longest value of each text field of an enrolment form (characters)."""
IMAGE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _photo_date_ok(text: str, now: float) -> bool:
    """Whether an enrolment's ``image_date`` is a real calendar date (``YYYY-MM-DD``) no later
    than today (UTC; a day's grace for time zones). Alert cards show it so that an old photo
    is treated with caution: free text ("abc", "2024-13-45") would defeat that."""
    if not IMAGE_DATE.fullmatch(text):
        return False
    try:
        taken = datetime.date.fromisoformat(text)
    except ValueError:
        return False
    today = datetime.datetime.fromtimestamp(now, datetime.UTC).date()
    return taken <= today + datetime.timedelta(days=1)


def _check_form(form: EntryForm, now: float) -> None:
    if form.category not in CATEGORIES:
        raise VigilError("bad_category", f"category must be one of {', '.join(CATEGORIES)}")
    for name in ("subject_ref", "display_name", "justification", "legal_basis",
                 "image_source", "image_date"):
        if not str(getattr(form, name)).strip():
            raise VigilError(f"{name}_required", f"{name} is required")
    for name, cap in FORM_LIMITS.items():
        if len(str(getattr(form, name))) > cap:
            raise VigilError(f"{name}_too_long", f"{name} holds at most {cap} characters")
    if not _photo_date_ok(form.image_date, now):
        raise VigilError("bad_image_date",
                         "image_date must be a calendar date, YYYY-MM-DD, not in the future")
    if form.expires_at <= now:
        raise VigilError("expiry_in_past", "expires_at must be in the future")
    if not form.expires_at <= MAX_EPOCH:  # also refuses NaN
        raise VigilError("bad_expiry", "expires_at is past the year 9999")
    if form.minor and not form.minor_justification.strip():
        raise VigilError("minor_justification_required",
                         "an entry for a minor needs its own justification")


class WatchlistController(Controller):
    path = "/api/watchlists"
    tags = ("watchlists",)

    @post("/", operation_id="createWatchlist", guards=[roles("watchlist_manager")])
    async def create(self, rt: RuntimeDep, data: JSONBody[WatchlistCreate],
                     principal: PrincipalDep) -> WatchlistOut:
        """Create an empty watchlist."""
        now = rt.clock()
        wl = Watchlist(id=new_id("wl"), name=data.name, description=data.description,
                       reuse=data.reuse, created_at=now, created_by=principal.account_id,
                       version=0)
        async with rt.write_lock, rt.db.sessions() as session, session.begin():
            session.add(wl)
            await rt.audit.record(session, actor=principal.account_id,
                                  action="watchlist_created", at=now, watchlist_id=wl.id)
        return WatchlistOut(id=wl.id, name=wl.name, description=wl.description, reuse=wl.reuse,
                            version=0, entries=0)

    @get("/", operation_id="listWatchlists", guards=[READERS])
    async def list_watchlists(self, rt: RuntimeDep) -> list[WatchlistOut]:
        """Watchlists with their entry counts."""
        async with rt.db.sessions() as session:
            counts = dict((await session.execute(
                select(Entry.watchlist_id, func.count()).group_by(Entry.watchlist_id))).all())
            rows = (await session.execute(select(Watchlist))).scalars()
            return [WatchlistOut(id=w.id, name=w.name, description=w.description, reuse=w.reuse,
                                 version=w.version, entries=int(counts.get(w.id, 0)))
                    for w in rows]

    @post("/{watchlist_id:str}/entries", operation_id="enrolEntry",
          guards=[roles("watchlist_manager")])
    async def enrol_entry(
        self, rt: RuntimeDep, watchlist_id: FromPath[str],
        data: MultipartBody[EntryForm],
        principal: PrincipalDep,
    ) -> EntryOut:
        """Enrol one person from one or more reference photos (one ``photo`` part each, at
        most 10), each holding one acceptable face; the entry's template is fused from all.

        Refusals of a photo are answered 422 with the recognition core's code (``no_face``,
        ``multiple_faces``, ``low_quality:<reason>``, ``undecodable_image``...): the first
        refused photo's code, and a message naming every refused photo. Nothing is enrolled
        unless every photo is accepted.
        """
        now = rt.clock()
        _check_form(data, now)
        photos = await _read_photos(data.photo)
        async with rt.db.sessions() as session:
            wl = await session.get(Watchlist, watchlist_id)
            if wl is None:
                raise NotFound("no such watchlist")
            size = (await session.execute(select(func.count()).select_from(Entry)
                                          .where(Entry.watchlist_id == watchlist_id))).scalar_one()
        if size >= rt.settings.watchlist_size_cap:
            raise VigilError("watchlist_full",
                             f"the watchlist holds the cap of {rt.settings.watchlist_size_cap}")
        result: MultiEnrolment = await rt.in_pool(enrol_photos, rt.engine, photos, rt.settings)
        entry_id = new_id("ent")
        paths = await asyncio.to_thread(write_photos, rt.settings.data_path, watchlist_id,
                                        entry_id, photos)
        entry = Entry(
            id=entry_id, watchlist_id=watchlist_id, subject_ref=data.subject_ref,
            display_name=data.display_name, category=data.category,
            justification=data.justification, legal_basis=data.legal_basis,
            image_source=data.image_source, image_date=data.image_date,
            expires_at=data.expires_at, minor=data.minor,
            minor_justification=data.minor_justification, added_by=principal.account_id,
            created_at=now, photo_path=paths[0],
        )
        vector = np.asarray(result.vector, dtype=np.float32).tobytes()
        async with rt.write_lock, rt.db.sessions() as session, session.begin():
            wl = await session.get(Watchlist, watchlist_id)
            assert wl is not None
            session.add(entry)
            await session.flush()
            session.add(Template(entry_id=entry_id, model_id=result.model_id, vector=vector))
            wl.version += 1
            await rt.audit.record(session, actor=principal.account_id, action="entry_enrolled",
                                  at=now, watchlist_id=watchlist_id, entry_id=entry_id,
                                  category=data.category, photos=len(photos))
            await note_watchlist_change(session, rt, watchlist_id,
                                        actor=principal.account_id, now=now)
        rt.frame_targets.invalidate()  # a new version: the next frame's matcher has the entry
        out = _entry_out(entry, (result.model_id,))
        return msgspec.structs.replace(out, background_faces=result.background_faces,
                                       photos=len(photos))

    @post("/{watchlist_id:str}/entries/{entry_id:str}/photos", operation_id="addEntryPhotos",
          guards=[roles("watchlist_manager")], status_code=200)
    async def add_photos(
        self, rt: RuntimeDep, watchlist_id: FromPath[str], entry_id: FromPath[str],
        data: MultipartBody[PhotoForm], principal: PrincipalDep,
    ) -> EntryOut:
        """Add reference photos to an entry (one ``photo`` part each): each goes through the
        quality gate as at enrolment, and the entry's template is fused again from all of its
        photos. The watchlist's version goes up by one per photo added.

        Refusals as at enrolment (422, nothing added; photos are numbered in upload order);
        ``too_many_photos`` (422) past 10 photos per entry.
        """
        now = rt.clock()
        photos = await _read_photos(data.photo)
        async with rt.db.sessions() as session:
            entry = await session.get(Entry, entry_id)
            if entry is None or entry.watchlist_id != watchlist_id:
                raise NotFound("no such entry")
            photo_path = entry.photo_path
        kept = await asyncio.to_thread(_read_stored, rt.settings.data_path, watchlist_id,
                                       entry_id, photo_path)
        if len(kept) + len(photos) > MAX_PHOTOS:
            raise EnrolmentRefused("too_many_photos", f"an entry holds at most {MAX_PHOTOS} "
                                   f"photos; it has {len(kept)}")
        result: MultiEnrolment = await rt.in_pool(enrol_photos, rt.engine, photos, rt.settings,
                                                  kept)
        paths = await asyncio.to_thread(write_photos, rt.settings.data_path, watchlist_id,
                                        entry_id, photos)
        vector = np.asarray(result.vector, dtype=np.float32).tobytes()
        try:
            async with rt.write_lock, rt.db.sessions() as session, session.begin():
                entry = await session.get(Entry, entry_id)
                wl = await session.get(Watchlist, watchlist_id)
                if entry is None or wl is None or entry.watchlist_id != watchlist_id:
                    raise NotFound("no such entry")  # removed meanwhile
                if not entry.photo_path:
                    entry.photo_path = paths[0]
                await session.execute(sql_delete(Template).where(
                    Template.entry_id == entry_id, Template.model_id == result.model_id))
                session.add(Template(entry_id=entry_id, model_id=result.model_id, vector=vector))
                wl.version += len(photos)
                await rt.audit.record(session, actor=principal.account_id,
                                      action="entry_photos_added", at=now,
                                      watchlist_id=watchlist_id, entry_id=entry_id,
                                      photos=len(photos), total=len(kept) + len(photos))
                await note_watchlist_change(session, rt, watchlist_id,
                                            actor=principal.account_id, now=now)
                models = tuple((await session.execute(select(Template.model_id).where(
                    Template.entry_id == entry_id))).scalars().all())
        except BaseException:
            await asyncio.to_thread(_unlink_all, rt.settings.data_path, paths)
            raise
        rt.frame_targets.invalidate()  # a new version: the next frame's matcher has the photo
        rt.matchers.drop(watchlist_id)
        await delete_index_files(rt, watchlist_id)  # they hold the entry's old template
        out = _entry_out(entry, models)
        return msgspec.structs.replace(out, background_faces=result.background_faces,
                                       photos=len(kept) + len(photos))

    @get("/{watchlist_id:str}/entries", operation_id="listEntries", guards=[ENTRY_READERS])
    async def list_entries(self, rt: RuntimeDep,
                           watchlist_id: FromPath[str]) -> list[EntryOut]:
        """Entries of a watchlist (metadata only; photos are not served here)."""
        async with rt.db.sessions() as session:
            if await session.get(Watchlist, watchlist_id) is None:
                raise NotFound("no such watchlist")
            entries = (await session.execute(
                select(Entry).where(Entry.watchlist_id == watchlist_id))).scalars().all()
            models: dict[str, list[str]] = {}
            for entry_id, model_id in (await session.execute(
                    select(Template.entry_id, Template.model_id)
                    .join(Entry, Entry.id == Template.entry_id)
                    .where(Entry.watchlist_id == watchlist_id))).all():
                models.setdefault(entry_id, []).append(model_id)
            return [_entry_out(e, tuple(models.get(e.id, ()))) for e in entries]

    @delete("/{watchlist_id:str}/entries/{entry_id:str}", operation_id="removeEntry",
            guards=[roles("watchlist_manager")], status_code=204)
    async def remove_entry(self, rt: RuntimeDep, watchlist_id: FromPath[str],
                           entry_id: FromPath[str], principal: PrincipalDep) -> None:
        """Remove an entry: its templates and photos go at once; it can no longer match."""
        now = rt.clock()
        async with rt.write_lock, rt.db.sessions() as session, session.begin():
            entry = await session.get(Entry, entry_id)
            wl = await session.get(Watchlist, watchlist_id)
            if entry is None or wl is None or entry.watchlist_id != watchlist_id:
                raise NotFound("no such entry")
            photo_path = entry.photo_path
            await session.execute(sql_delete(Template).where(Template.entry_id == entry_id))
            await session.delete(entry)
            wl.version += 1
            await rt.audit.record(session, actor=principal.account_id, action="entry_removed",
                                  at=now, watchlist_id=watchlist_id, entry_id=entry_id)
            await note_watchlist_change(session, rt, watchlist_id,
                                        actor=principal.account_id, now=now)
        rt.frame_targets.invalidate()  # a new version: the next frame's matcher lacks it
        rt.matchers.drop(watchlist_id)
        await asyncio.to_thread(remove_photos, rt.settings.data_path, watchlist_id, entry_id,
                                photo_path)  # committed first, off the loop
        await delete_index_files(rt, watchlist_id)


async def _read_photos(parts: list[UploadFile]) -> list[bytes]:
    """The bytes of every ``photo`` part (refused when there is none or too many)."""
    if not parts:
        raise EnrolmentRefused("no_photo", "send at least one `photo` part")
    if len(parts) > MAX_PHOTOS:
        raise EnrolmentRefused("too_many_photos", f"an entry holds at most {MAX_PHOTOS} photos")
    return [await part.read() for part in parts]


def _read_stored(data_path: Path, watchlist_id: str, entry_id: str,
                 photo_path: str) -> list[bytes]:
    return [p.read_bytes() for p in stored_photos(data_path, watchlist_id, entry_id, photo_path)]


def _unlink_all(data_path: Path, paths: list[str]) -> None:
    for rel in paths:
        (data_path / rel).unlink(missing_ok=True)
