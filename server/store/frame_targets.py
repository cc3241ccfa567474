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
"""

from __future__ import annotations

import msgspec
from sqlalchemy import select

from server.store.db import Database
from server.store.models import Camera, Deployment, DeploymentCamera, Watchlist


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
