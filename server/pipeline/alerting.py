"""From a match to an alert in the store and durable messages to its recipients.

New alert: officers within the deployment's notify radius of the camera (great-circle) and
every dispatcher. A later sighting within the cooldown updates the alert and is sent as
``alert_updated`` to those who have it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import new_id
from server.domain.assignment import Candidate, within_radius
from server.pipeline.analysis import Match
from server.runtime import Runtime
from server.store.models import (
    Account,
    Alert,
    AlertEventRow,
    AlertRecipient,
    Camera,
    Deployment,
    Officer,
)
from server.store.outbox import Staged, stage
from server.store.views import alert_view
from shared.protocol.alerts import AlertView
from shared.protocol.base import WireMessage
from shared.protocol.officer import AlertAssigned, AlertRaised, AlertUpdated, AlertWithdrawn

log = logging.getLogger("vigil.alerts")


async def dispatcher_ids(session: AsyncSession) -> list[str]:
    rows = await session.execute(
        select(Account.id).where(Account.role == "dispatcher", Account.revoked.is_(False))
    )
    return list(rows.scalars().all())


async def officer_recipients(session: AsyncSession, alert_id: str) -> list[str]:
    rows = await session.execute(
        select(AlertRecipient.account_id).where(AlertRecipient.alert_id == alert_id)
    )
    return list(rows.scalars().all())


async def add_event(
    session: AsyncSession, alert: Alert, *, at: float, actor: str, action: str,
    detail: str = "",
) -> None:
    session.add(AlertEventRow(alert_id=alert.id, at=at, actor=actor, action=action,
                              detail=detail))
    alert.version += 1
    await session.flush()


async def publish_change(
    session: AsyncSession,
    runtime: Runtime,
    alert: Alert,
    *,
    assigned_to: str | None = None,
    withdraw: tuple[str, ...] = (),
    withdraw_reason: str = "",
) -> list[Staged]:
    """Stage ``alert_updated`` for dispatchers and officers who have the alert, an
    ``alert_assigned`` for a newly assigned officer and ``alert_withdrawn`` for those it no
    longer concerns."""
    now = runtime.clock()
    view = await alert_view(session, alert)
    staged: list[Staged] = []
    officers = set(await officer_recipients(session, alert.id))
    if assigned_to is not None:
        if assigned_to not in officers:
            session.add(AlertRecipient(alert_id=alert.id, account_id=assigned_to,
                                       route="assigned"))
            officers.add(assigned_to)

        def build_assigned(_a: str, seq: int) -> WireMessage:
            return AlertAssigned(seq=seq, alert=view)

        staged += await stage(session, [assigned_to], build_assigned, alert_id=alert.id,
                              now=now)
    if withdraw:

        def build_withdrawn(_a: str, seq: int) -> WireMessage:
            return AlertWithdrawn(seq=seq, alert_id=alert.id, reason=withdraw_reason)

        staged += await stage(session, withdraw, build_withdrawn, alert_id=alert.id, now=now)
    others = (await dispatcher_ids(session)) + sorted(
        officers - set(withdraw) - ({assigned_to} if assigned_to else set())
    )

    def build_updated(_a: str, seq: int) -> WireMessage:
        return AlertUpdated(seq=seq, alert=view)

    staged += await stage(session, others, build_updated, alert_id=alert.id, now=now)
    return staged


async def raise_or_update(
    runtime: Runtime,
    *,
    deployment_id: str,
    camera_id: str,
    match: Match,
    captured_at: float,
    ingested_at: float,
    lat: float | None,
    lon: float | None,
) -> str:
    """Store a match as a new alert or as a sighting of the current one; push the news.

    Returns:
        The alert id ("" when the deployment stopped while the frame was analysed).
    """
    tracker = runtime.tracker
    assert tracker is not None
    now = runtime.clock()
    async with runtime.write_lock, runtime.db.sessions() as session, session.begin():
        dep = await session.get(Deployment, deployment_id)
        camera = await session.get(Camera, camera_id)
        assert dep is not None
        assert camera is not None
        if not dep.active:
            # Stopped, revoked or refused while this frame was analysed: keep nothing of it.
            return ""
        lat = lat if lat is not None else camera.lat
        lon = lon if lon is not None else camera.lon
        current = tracker.current(camera_id, match.entry_id, now)
        alert = await session.get(Alert, current) if current else None
        staged: list[Staged]
        if alert is not None:
            alert.sightings += 1
            alert.last_seen = now
            alert.similarity = max(alert.similarity, match.similarity)
            await add_event(session, alert, at=now, actor="system", action="sighted",
                            detail=f"similarity={match.similarity:.3f}")
            staged = await publish_change(session, runtime, alert)
        else:
            alert = await _new_alert(session, runtime, dep, camera_id, match, captured_at,
                                     ingested_at, lat, lon, now)
            staged = await _route_new(session, runtime, alert, dep)
            await runtime.audit.record(
                session, actor="system", action="alert_raised", at=now, alert_id=alert.id,
                deployment_id=dep.id, camera_id=camera_id, entry_id=match.entry_id,
            )
        alert_id = alert.id
        tracker.seen(camera_id, match.entry_id, alert_id, now)
        pushed = runtime.clock()
        if alert.pushed_at == 0.0:
            alert.pushed_at = pushed
    runtime.hub.deliver(staged)
    log.info("alert %s camera=%s deployment=%s", alert_id, camera_id, deployment_id)
    return alert_id


async def _new_alert(
    session: AsyncSession, runtime: Runtime, dep: Deployment, camera_id: str, match: Match,
    captured_at: float, ingested_at: float, lat: float | None, lon: float | None, now: float,
) -> Alert:
    alert_id = new_id("alr")
    probe_rel = Path("probes") / dep.id / f"{alert_id}.jpg"
    probe_abs = runtime.settings.data_path / probe_rel
    probe_abs.parent.mkdir(parents=True, exist_ok=True)
    # The one image of a passer-by the system keeps, and only because it matched.
    probe_abs.write_bytes(match.probe_jpeg)
    alert = Alert(
        id=alert_id, version=0, deployment_id=dep.id, camera_id=camera_id,
        entry_id=match.entry_id, lat=lat, lon=lon, similarity=match.similarity,
        threshold=dep.threshold, first_seen=now, last_seen=now, sightings=1, state="new",
        flagged=False, probe_path=str(probe_rel), captured_at=captured_at,
        ingested_at=ingested_at, matched_at=match.matched_at, pushed_at=0.0, created_at=now,
    )
    session.add(alert)
    await session.flush()
    await add_event(session, alert, at=now, actor="system", action="raised",
                    detail=f"similarity={match.similarity:.3f} threshold={dep.threshold:.3f}")
    return alert


async def _route_new(
    session: AsyncSession, runtime: Runtime, alert: Alert, dep: Deployment
) -> list[Staged]:
    officers = (await session.execute(select(Officer))).scalars().all()
    nearby = within_radius(
        (Candidate(o.id, o.status, o.lat, o.lon) for o in officers),
        alert.lat, alert.lon, dep.notify_radius_m,
    )
    for officer_id in nearby:
        session.add(AlertRecipient(alert_id=alert.id, account_id=officer_id, route="nearby"))
    alert.pushed_at = runtime.clock()
    view: AlertView = await alert_view(session, alert)

    def build(_a: str, seq: int) -> WireMessage:
        return AlertRaised(seq=seq, alert=view, route="nearby")

    return await stage(session, [*(await dispatcher_ids(session)), *nearby], build,
                       alert_id=alert.id, now=runtime.clock())


async def count_frame(
    runtime: Runtime, deployment_id: str, *, faces: int, refused: bool
) -> None:
    """Counters only: frames and faces processed (the trace a non-match leaves)."""
    async with runtime.write_lock, runtime.db.sessions() as session, session.begin():
        values = (
            {"frames_refused": Deployment.frames_refused + 1}
            if refused
            else {
                "frames_processed": Deployment.frames_processed + 1,
                "faces_processed": Deployment.faces_processed + faces,
            }
        )
        await session.execute(
            update(Deployment).where(Deployment.id == deployment_id).values(**values)
        )
