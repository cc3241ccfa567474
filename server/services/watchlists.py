"""Watchlist discipline over time: version hash, expiry sweep, destruction after use.

- The *version hash* is a sha256 over what decides who can match: every entry's id, category,
  expiry, minor flag and the sha256 of each template (never the template itself). It is frozen
  in the deployment's authorisation at activation and every later change is audited with the
  new hash, so an auditor can tell which list was searched at any moment.
- The *expiry sweep* removes expired entries (templates, photo, row) and drops the in-memory
  matcher at once. The matcher already ignores an expired entry at search time, so there is no
  window between expiry and the sweep.
- When the last deployment using a watchlist ends, its photos, templates and index files are
  destroyed unless it is marked for reuse; the audit keeps its version hash and size only.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.runtime import Core
from server.services.entry_photos import PHOTO_DIR, entry_dir
from server.store.authorisation import DeploymentAuthorisation
from server.store.file_deletions import doomed
from server.store.models import Deployment, Entry, Template, Watchlist

log = logging.getLogger("vigil.governance")

INDEX_DIR = "indexes"
"""Index files of a watchlist live under ``<data_dir>/indexes/<watchlist_id>/``."""


async def watchlist_fingerprint(session: AsyncSession, watchlist_id: str) -> tuple[str, int]:
    """``(version hash, number of entries)`` of a watchlist as it is now."""
    entries = (await session.execute(
        select(Entry.id, Entry.category, Entry.expires_at, Entry.minor)
        .where(Entry.watchlist_id == watchlist_id).order_by(Entry.id))).all()
    templates: dict[str, list[str]] = {}
    for entry_id, model_id, vector in (await session.execute(
            select(Template.entry_id, Template.model_id, Template.vector)
            .join(Entry, Entry.id == Template.entry_id)
            .where(Entry.watchlist_id == watchlist_id))).all():
        templates.setdefault(entry_id, []).append(
            f"{model_id}:{hashlib.sha256(bytes(vector)).hexdigest()}")
    digest = hashlib.sha256(watchlist_id.encode())
    for entry_id, category, expires_at, minor in entries:
        line = "|".join([entry_id, category, repr(float(expires_at)), str(bool(minor)),
                         *sorted(templates.get(entry_id, []))])
        digest.update(b"\n" + line.encode())
    return digest.hexdigest(), len(entries)


async def running_deployments(session: AsyncSession, watchlist_id: str) -> list[str]:
    """Ids of the active deployments searching this watchlist."""
    rows = await session.execute(select(Deployment.id).where(
        Deployment.watchlist_id == watchlist_id, Deployment.active.is_(True)))
    return list(rows.scalars().all())


async def note_watchlist_change(
    session: AsyncSession, rt: Core, watchlist_id: str, *, actor: str, now: float
) -> None:
    """Audit the new version of a watchlist changed while deployments search it.

    Call inside the transaction of the change (enrolment, removal, expiry).
    """
    deployments = await running_deployments(session, watchlist_id)
    if not deployments:
        return
    await session.flush()
    digest, size = await watchlist_fingerprint(session, watchlist_id)
    for deployment_id in deployments:
        await rt.audit.record(session, actor=actor, action="watchlist_version_changed", at=now,
                              deployment_id=deployment_id, watchlist_id=watchlist_id,
                              version_hash=digest, size=size)


async def expire_entries(session: AsyncSession, rt: Core, now: float) -> list[str]:
    """Remove every expired entry (templates, photo, row); audited one by one. The photos and
    index files go once the caller's transaction committed (:mod:`server.store.file_deletions`).

    Returns:
        The ids of the entries removed.
    """
    rows = (await session.execute(
        select(Entry).where(Entry.expires_at <= now))).scalars().all()
    touched: set[str] = set()
    for entry in rows:
        await session.execute(delete(Template).where(Template.entry_id == entry.id))
        if entry.photo_path:
            doomed(session).file(rt.settings.data_path / entry.photo_path)
        doomed(session).folder(entry_dir(rt.settings.data_path, entry.watchlist_id, entry.id))
        await session.delete(entry)
        touched.add(entry.watchlist_id)
        await rt.audit.record(session, actor="system", action="entry_expired", at=now,
                              watchlist_id=entry.watchlist_id, entry_id=entry.id)
    for watchlist_id in touched:
        await session.execute(update(Watchlist).where(Watchlist.id == watchlist_id)
                              .values(version=Watchlist.version + 1))
        await note_watchlist_change(session, rt, watchlist_id, actor="system", now=now)
        rt.matchers.drop(watchlist_id)
        doomed(session).folder(rt.settings.data_path / INDEX_DIR / watchlist_id)
    return [e.id for e in rows]


async def delete_index_files(rt: Core, watchlist_id: str) -> None:
    """Delete a watchlist's saved index files after an entry left it: they hold the removed
    templates until the next rebuild otherwise. The next search rebuilds them from the store."""
    await asyncio.to_thread(shutil.rmtree, rt.settings.data_path / INDEX_DIR / watchlist_id,
                            ignore_errors=True)


async def still_needed(
    session: AsyncSession, watchlist_id: str, except_id: str, now: float
) -> bool:
    """Whether a deployment other than ``except_id`` that has not ended and whose window is
    not over uses the watchlist (a planned deployment counts: its watchlist must still be
    there when it starts)."""
    n = (await session.execute(
        select(func.count()).select_from(Deployment)
        .outerjoin(DeploymentAuthorisation,
                   DeploymentAuthorisation.deployment_id == Deployment.id)
        .where(Deployment.watchlist_id == watchlist_id, Deployment.id != except_id,
               Deployment.ends_at > now,
               DeploymentAuthorisation.ended_at.is_(None)))).scalar_one()
    return int(n) > 0


async def destroy_if_unused(
    session: AsyncSession, rt: Core, watchlist_id: str, *, ended_id: str, actor: str,
    now: float,
) -> bool:
    """After deployment ``ended_id`` ended: destroy the watchlist's photos, templates and
    index files if no other deployment needs it and it is not marked for reuse. The files go
    once the caller's transaction committed (:mod:`server.store.file_deletions`).

    Returns:
        True when it was destroyed.
    """
    wl = await session.get(Watchlist, watchlist_id)
    if wl is None or await still_needed(session, watchlist_id, ended_id, now):
        return False
    digest, size = await watchlist_fingerprint(session, watchlist_id)
    if wl.reuse:
        await rt.audit.record(session, actor=actor, action="watchlist_kept_for_reuse", at=now,
                              watchlist_id=watchlist_id, deployment_id=ended_id,
                              version_hash=digest, size=size)
        return False
    entry_ids = select(Entry.id).where(Entry.watchlist_id == watchlist_id)
    templates = (await session.execute(select(func.count()).select_from(Template)
                                       .where(Template.entry_id.in_(entry_ids)))).scalar_one()
    await session.execute(delete(Template).where(Template.entry_id.in_(entry_ids)))
    photos = 0
    files = doomed(session)
    for (rel,) in (await session.execute(select(Entry.photo_path).where(
            Entry.watchlist_id == watchlist_id, Entry.photo_path != ""))).all():
        path = rt.settings.data_path / rel
        if path.is_file():
            files.file(path)
            photos += 1
    await session.execute(update(Entry).where(Entry.watchlist_id == watchlist_id)
                          .values(photo_path=""))
    files.folder(rt.settings.data_path / PHOTO_DIR / watchlist_id)
    files.folder(rt.settings.data_path / INDEX_DIR / watchlist_id)
    wl.version += 1
    rt.matchers.drop(watchlist_id)
    await rt.audit.record(session, actor=actor, action="watchlist_destroyed", at=now,
                          watchlist_id=watchlist_id, deployment_id=ended_id,
                          version_hash=digest, size=size, templates_destroyed=int(templates),
                          photos_destroyed=photos)
    log.info("watchlist %s destroyed after deployment %s", watchlist_id, ended_id)
    return True
