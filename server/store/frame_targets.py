"""What a camera's frames are matched for, kept in memory: camera -> its active deployments
(window, watchlist, threshold, the camera's ``min_face_px``) and the watchlist's version.

Every processed frame needs these, and they change only when someone governs: a deployment
created, authorised, confirmed, started, stopped, withdrawn, ended by the sweep or given a new
threshold; a camera registered; a watchlist's entries enrolled, removed, expired or destroyed
(its version bumps). Reading them from the store cost two queries per frame. Here they are read
once per camera and kept until the service that makes such a change calls
:meth:`FrameTargets.invalidate` after its transaction committed.

The window is kept, not just "active now": the end of a window (and the start of a planned
one) is checked against the clock on every frame, so a deployment whose window ran out stops
matching at that second, before the sweep marks it ended, without a query.

A load that began before an invalidation is not stored (a generation counter): it may have
read the store as it was before the change, and would otherwise outlive it.

The services call :meth:`FrameTargets.invalidate` where they make such a change. As a guarantee
that a path added later cannot forget it, every transaction of this database that writes the
tables involved (deployments, their cameras, cameras, watchlists; counter columns aside) also
invalidates when it commits: session events note the write (ORM flushes and DML statements
alike) and ``after_commit`` acts on it. Invalidation is in memory only, so it is safe there.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Table, event, inspect, select
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from server.store.db import Database
from server.store.models import Camera, Deployment, DeploymentCamera, Watchlist

WATCHED = frozenset({"deployments", "deployment_cameras", "cameras", "watchlists"})
"""Tables whose rows decide what a camera's frames are matched for."""
COUNTERS = frozenset({"frames_processed", "faces_processed", "frames_refused",
                      "frames_no_deployment"})
"""Columns of those tables that do not (frame counters, written every second)."""
_DIRTY = "vigil.frame_targets_dirty"


class ActiveDeployment(msgspec.Struct, frozen=True):
    """An active deployment listing a camera, as the frame path needs it."""

    id: str
    watchlist_id: str
    threshold: float
    min_face_px: float | None = None
    """The camera's own smallest face to find (None: the ``min_face_px`` setting)."""
    starts_at: float = float("-inf")
    ends_at: float = float("inf")
    watchlist_version: int = 0
    """The watchlist's version when this was read (selects the matcher to use)."""

    def covers(self, now: float) -> bool:
        """Whether ``now`` lies in the window (start inclusive, end exclusive)."""
        return self.starts_at <= now < self.ends_at


class FrameTargets:
    """The per-camera cache (see module docstring). One per process; the event loop's."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cameras: dict[str, tuple[ActiveDeployment, ...]] = {}
        self._generation = 0
        self.loads = 0
        """Store reads made (a test and the bench see the cache work through it)."""
        self._listen(db.session_class)

    async def active(self, camera_id: str, now: float) -> ActiveDeployment | None:
        """The active deployment listing ``camera_id`` whose window contains ``now``."""
        deployments = self._cameras.get(camera_id)
        if deployments is None:
            generation = self._generation
            deployments = await self._load(camera_id)
            if generation == self._generation:
                self._cameras[camera_id] = deployments
        return next((d for d in deployments if d.covers(now)), None)

    def invalidate(self) -> None:
        """Forget everything: call after committing any change listed in the module
        docstring. Coarse on purpose: such changes are rare, a reload is one query per
        camera, and a finer key would be one more thing to get wrong."""
        self._generation += 1
        self._cameras.clear()

    def _listen(self, session_class: type[Session]) -> None:
        event.listen(session_class, "after_flush", _note_flush)
        event.listen(session_class, "do_orm_execute", _note_statement)
        event.listen(session_class, "after_commit", self._after_commit)
        event.listen(session_class, "after_rollback", _forget)

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(_DIRTY, False):
            self.invalidate()

    async def _load(self, camera_id: str) -> tuple[ActiveDeployment, ...]:
        self.loads += 1
        async with self._db.sessions() as session:
            rows = (await session.execute(
                select(Deployment.id, Deployment.watchlist_id, Deployment.threshold,
                       Camera.min_face_px, Deployment.starts_at, Deployment.ends_at,
                       Watchlist.version)
                .join(DeploymentCamera, DeploymentCamera.deployment_id == Deployment.id)
                .join(Camera, Camera.id == DeploymentCamera.camera_id)
                .join(Watchlist, Watchlist.id == Deployment.watchlist_id)
                .where(DeploymentCamera.camera_id == camera_id, Deployment.active.is_(True))
                .order_by(Deployment.starts_at, Deployment.id)
            )).all()
        return tuple(
            ActiveDeployment(id=r[0], watchlist_id=r[1], threshold=float(r[2]),
                             min_face_px=None if r[3] is None else float(r[3]),
                             starts_at=float(r[4]), ends_at=float(r[5]),
                             watchlist_version=int(r[6]))
            for r in rows
        )


def _note_flush(session: Session, _flush: UOWTransaction) -> None:
    for obj in (*session.new, *session.deleted):
        if getattr(obj, "__tablename__", None) in WATCHED:
            session.info[_DIRTY] = True
            return
    for obj in session.dirty:
        if getattr(obj, "__tablename__", None) not in WATCHED:
            continue
        state = inspect(obj)
        changed = {a.key for a in state.attrs if a.history.has_changes()}
        if changed - COUNTERS:
            session.info[_DIRTY] = True
            return


def _note_statement(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    table: Any = getattr(state.statement, "table", None)
    if not isinstance(table, Table) or table.name not in WATCHED:
        return
    values: Any = getattr(state.statement, "_values", None) or {}
    columns = {getattr(k, "key", k) for k in values}
    if state.is_update and columns and columns <= COUNTERS:
        return  # the frame counters' flush
    state.session.info[_DIRTY] = True


def _forget(session: Session) -> None:
    session.info.pop(_DIRTY, None)
