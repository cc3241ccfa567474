"""Rows to wire views (``shared.protocol.alerts``): what clients see of the store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy import func, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.util import identity_key

from server.domain.stats import OutcomeCounts, figures, tally
from server.store.models import (
    Account,
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
    return (await alert_views(session, [alert]))[0]


async def alert_views(session: AsyncSession, alerts: Sequence[Alert]) -> list[AlertView]:
    """The cards of many alerts in a constant number of queries (one per related table,
    whatever the number of alerts: a dispatcher's snapshot lists hundreds)."""
    if not alerts:
        return []
    entries = await _by_id(session, Entry, {a.entry_id for a in alerts})
    cameras = await _by_id(session, Camera, {a.camera_id for a in alerts})
    deployments = await _by_id(session, Deployment, {a.deployment_id for a in alerts})
    officers = await _by_id(session, Officer,
                            {a.assigned_officer_id for a in alerts if a.assigned_officer_id})
    rows = (await session.execute(
        select(AlertEventRow)
        .where(AlertEventRow.alert_id.in_([a.id for a in alerts]))
        .order_by(AlertEventRow.id)
    )).scalars().all()
    names = await actor_names(session, {e.actor for e in rows})
    events: dict[str, list[AlertEvent]] = {}
    for e in rows:
        events.setdefault(e.alert_id, []).append(
            AlertEvent(at=e.at, actor=e.actor, action=e.action, detail=e.detail,
                       actor_name=names.get(e.actor, e.actor)))
    return [
        alert_card(a, entries.get(a.entry_id), cameras.get(a.camera_id),
              deployments.get(a.deployment_id),
              officers.get(a.assigned_officer_id) if a.assigned_officer_id else None,
              events.get(a.id, []))
        for a in alerts
    ]


R = TypeVar("R", Entry, Camera, Deployment, Officer)


async def _by_id(session: AsyncSession, model: type[R], ids: set[str]) -> dict[str, R]:
    """Rows by id; those this transaction already holds (its identity map: e.g. the
    deployment, camera and entry the alert path read with the match) cost no query."""
    held = session.sync_session.identity_map
    found: dict[str, R] = {}
    for key in ids:
        obj = held.get(identity_key(model, key))
        # Only whole rows: an attribute expired by a bulk UPDATE would load lazily.
        if isinstance(obj, model) and not inspect(obj).expired_attributes:
            found[key] = obj
    missing = sorted(ids - set(found))
    if missing:
        rows = await session.execute(select(model).where(model.id.in_(missing)))
        found.update((row.id, row) for row in rows.scalars())
    return found


def alert_card(
    alert: Alert, entry: Entry | None, camera: Camera | None, deployment: Deployment | None,
    officer: Officer | None, events: Sequence[AlertEvent | AlertEventRow],
) -> AlertView:
    """The card of one alert from its rows in hand (:func:`alert_views` reads them; a new
    alert's transaction already holds them). Event rows are shown with their actor's id as
    name, which is right for the system's own events only: :func:`alert_views` resolves
    people's names first."""
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
        events=tuple(e if isinstance(e, AlertEvent) else _event(e) for e in events),
        incident_id=alert.incident_id or alert.id,
        camera_place=camera.description if camera else "",
    )


def _event(row: AlertEventRow) -> AlertEvent:
    return AlertEvent(at=row.at, actor=row.actor, action=row.action, detail=row.detail,
                      actor_name=row.actor)


async def actor_names(session: AsyncSession, actors: set[str]) -> dict[str, str]:
    """Readable names of event actors: an officer's call sign, else the account's name."""
    ids = actors - {"system", ""}
    if not ids:
        return {}
    names = {
        row.id: row.name
        for row in (await session.execute(select(Account.id, Account.name)
                                          .where(Account.id.in_(ids)))).all()
    }
    names.update({
        row.id: row.call_sign
        for row in (await session.execute(select(Officer.id, Officer.call_sign)
                                          .where(Officer.id.in_(ids)))).all()
    })
    return names


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
        description=camera.description, mobile=camera.mobile, min_face_px=camera.min_face_px,
    )


async def deployment_view(session: AsyncSession, dep: Deployment) -> DeploymentView:
    return (await deployment_views(session, [dep]))[0]


async def deployment_views(
    session: AsyncSession, deps: Sequence[Deployment]
) -> list[DeploymentView]:
    """Views of many deployments in one query for their cameras."""
    if not deps:
        return []
    cams: dict[str, list[str]] = {}
    rows = await session.execute(
        select(DeploymentCamera.deployment_id, DeploymentCamera.camera_id)
        .where(DeploymentCamera.deployment_id.in_([d.id for d in deps]))
    )
    for dep_id, cam_id in rows.all():
        cams.setdefault(dep_id, []).append(cam_id)
    return [
        DeploymentView(
            id=dep.id, name=dep.name, purpose=dep.purpose,
            place=dep.place, lat=dep.lat, lon=dep.lon,
            camera_ids=tuple(sorted(cams.get(dep.id, []))),
            watchlist_id=dep.watchlist_id, threshold=dep.threshold,
            notify_radius_m=dep.notify_radius_m, starts_at=dep.starts_at, ends_at=dep.ends_at,
            active=dep.active,
        )
        for dep in deps
    ]


async def deployment_stats(session: AsyncSession, dep: Deployment) -> DeploymentStats:
    """Both figures together: false alerts per face processed and precision of alerts
    (definitions in :mod:`server.domain.stats`)."""
    return (await deployments_stats(session, [dep]))[0]


async def deployments_stats(
    session: AsyncSession, deps: Sequence[Deployment]
) -> list[DeploymentStats]:
    """:func:`deployment_stats` of many deployments in one grouped query."""
    if not deps:
        return []
    groups: dict[str, list[tuple[str, str | None, str | None, int]]] = {}
    rows = await session.execute(
        select(Alert.deployment_id, Alert.state, Alert.outcome, Alert.dismiss_reason,
               func.count())
        .where(Alert.deployment_id.in_([d.id for d in deps]))
        .group_by(Alert.deployment_id, Alert.state, Alert.outcome, Alert.dismiss_reason)
    )
    for dep_id, state, outcome, reason, n in rows.all():
        groups.setdefault(dep_id, []).append((state, outcome, reason, int(n)))
    return [_stats(dep, tally(groups.get(dep.id, []))) for dep in deps]


def _stats(dep: Deployment, counts: OutcomeCounts) -> DeploymentStats:
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
