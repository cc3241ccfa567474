"""Rows to wire views (``shared.protocol.alerts``): what clients see of the store."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.stats import figures, tally
from server.store.models import (
    Alert,
    AlertEventRow,
    Camera,
    Deployment,
    DeploymentCamera,
    Entry,
    Officer,
)
from shared.protocol.alerts import (
    AlertEvent,
    AlertView,
    CameraView,
    DeploymentStats,
    DeploymentView,
    OfficerView,
    StageTimes,
)


async def alert_view(session: AsyncSession, alert: Alert) -> AlertView:
    """The alert card of one alert (entry, camera and place joined in)."""
    entry = await session.get(Entry, alert.entry_id)
    camera = await session.get(Camera, alert.camera_id)
    deployment = await session.get(Deployment, alert.deployment_id)
    officer = (
        await session.get(Officer, alert.assigned_officer_id)
        if alert.assigned_officer_id else None
    )
    events = (
        await session.execute(
            select(AlertEventRow)
            .where(AlertEventRow.alert_id == alert.id)
            .order_by(AlertEventRow.id)
        )
    ).scalars().all()
    return AlertView(
        id=alert.id,
        version=alert.version,
        deployment_id=alert.deployment_id,
        camera_id=alert.camera_id,
        camera_name=camera.name if camera else alert.camera_id,
        place=deployment.place if deployment else "",
        lat=alert.lat,
        lon=alert.lon,
        entry_id=alert.entry_id,
        subject_ref=entry.subject_ref if entry else "",
        display_name=entry.display_name if entry else "(entry removed)",
        category=entry.category if entry else "wanted_serious_crime",
        reason=entry.justification if entry else "",
        legal_basis=entry.legal_basis if entry else "",
        reference_image_date=entry.image_date if entry else "",
        similarity=alert.similarity,
        threshold=alert.threshold,
        first_seen=alert.first_seen,
        last_seen=alert.last_seen,
        sightings=alert.sightings,
        state=alert.state,
        outcome=alert.outcome,
        dismiss_reason=alert.dismiss_reason,
        assigned_officer_id=alert.assigned_officer_id,
        assigned_call_sign=officer.call_sign if officer else None,
        flagged=alert.flagged,
        probe_url=f"/api/alerts/{alert.id}/probe" if alert.probe_path else "",
        reference_url=f"/api/alerts/{alert.id}/reference",
        times=StageTimes(
            captured=alert.captured_at,
            ingested=alert.ingested_at,
            matched=alert.matched_at,
            pushed=alert.pushed_at,
        ),
        events=tuple(AlertEvent(at=e.at, actor=e.actor, action=e.action, detail=e.detail)
                     for e in events),
    )


def officer_view(officer: Officer, connected: bool) -> OfficerView:
    return OfficerView(
        id=officer.id,
        call_sign=officer.call_sign,
        status=officer.status,
        lat=officer.lat,
        lon=officer.lon,
        last_seen=officer.last_seen,
        connected=connected,
    )


def camera_view(camera: Camera) -> CameraView:
    return CameraView(
        id=camera.id, name=camera.name, lat=camera.lat, lon=camera.lon,
        description=camera.description, mobile=camera.mobile,
    )


async def deployment_view(session: AsyncSession, dep: Deployment) -> DeploymentView:
    cams = (
        await session.execute(
            select(DeploymentCamera.camera_id).where(DeploymentCamera.deployment_id == dep.id)
        )
    ).scalars().all()
    return DeploymentView(
        id=dep.id, name=dep.name, purpose=dep.purpose,
        place=dep.place, lat=dep.lat, lon=dep.lon, camera_ids=tuple(sorted(cams)),
        watchlist_id=dep.watchlist_id, threshold=dep.threshold,
        notify_radius_m=dep.notify_radius_m, starts_at=dep.starts_at, ends_at=dep.ends_at,
        active=dep.active,
    )


async def deployment_stats(session: AsyncSession, dep: Deployment) -> DeploymentStats:
    """Both figures together: false alerts per face processed and precision of alerts
    (definitions in :mod:`server.domain.stats`)."""
    rows = await session.execute(
        select(Alert.state, Alert.outcome, Alert.dismiss_reason, func.count())
        .where(Alert.deployment_id == dep.id)
        .group_by(Alert.state, Alert.outcome, Alert.dismiss_reason)
    )
    counts = tally([(s, o, r, int(n)) for s, o, r, n in rows.all()])
    fig = figures(counts, dep.faces_processed)
    return DeploymentStats(
        deployment_id=dep.id,
        faces_processed=dep.faces_processed,
        frames_processed=dep.frames_processed,
        frames_refused=dep.frames_refused,
        alerts=counts.alerts,
        dismissed=counts.dismissed,
        not_located=counts.not_located,
        confirmed=counts.confirmed,
        not_the_person=counts.not_the_person,
        outdated_entry=counts.outdated_entry,
        false_alert_rate=fig.false_alert_rate,
        precision=fig.precision,
        adjudicated=fig.adjudicated,
        false_alerts=fig.false_alerts,
        open=counts.open,
    )
