"""From a match to an alert in the store and durable messages to its recipients.

New alert: officers within the deployment's notify radius of the camera (great-circle) and
every dispatcher. A later sighting within the cooldown updates the alert and is sent as
``alert_updated`` to those who have it.

A sighting never joins a closed (dismissed or resolved) alert: once a human closed it, the
next sighting of that person at that camera raises a NEW alert, even within the cooldown, so
that a fresh lead is seen in the queue instead of being appended, unseen, to a closed one.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import Table, delete, insert, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import new_id
from server.domain.alerts import CLOSED_STATES
from server.domain.assignment import Candidate, within_radius
from server.pipeline.analysis import Match
from server.runtime import Core, Runtime
from server.store.incidents import incident_for
from server.store.models import (
    Alert,
    AlertEventRow,
    AlertRecipient,
    Camera,
    Deployment,
    Entry,
)
from server.store.outbox import Staged, stage
from server.store.views import alert_card, alert_view
from shared.geo import valid_position
from shared.protocol.officer import AlertAssigned, AlertRaised, AlertUpdated, AlertWithdrawn

log = logging.getLogger("vigil.alerts")


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
    runtime: Core,
    alert: Alert,
    *,
    assigned_to: str | None = None,
    withdraw: tuple[str, ...] = (),
    withdraw_reason: str = "",
) -> list[Staged]:
    """Stage ``alert_updated`` for dispatchers and officers who have the alert, an
    ``alert_assigned`` for a newly assigned officer and ``alert_withdrawn`` for those it no
    longer concerns.

    A withdrawn officer also loses their ``AlertRecipient`` row: no later ``alert_updated``
    reaches them, and they can no longer read the alert, its probe crop or reference photo
    over REST.
    """
    now = runtime.clock()
    view = await alert_view(session, alert)
    staged: list[Staged] = []
    officers = set(await officer_recipients(session, alert.id))
    if assigned_to is not None:
        if assigned_to not in officers:
            session.add(AlertRecipient(alert_id=alert.id, account_id=assigned_to,
                                       route="assigned"))
            officers.add(assigned_to)
        staged += await stage(session, [assigned_to], AlertAssigned(seq=0, alert=view),
                              alert_id=alert.id, now=now)
    if withdraw:
        staged += await stage(session, withdraw,
                              AlertWithdrawn(seq=0, alert_id=alert.id, reason=withdraw_reason),
                              alert_id=alert.id, now=now)
        await session.execute(delete(AlertRecipient).where(
            AlertRecipient.alert_id == alert.id, AlertRecipient.account_id.in_(withdraw)))
    others = (await runtime.routing.dispatchers()) + sorted(
        officers - set(withdraw) - ({assigned_to} if assigned_to else set())
    )
    staged += await stage(session, others, AlertUpdated(seq=0, alert=view), alert_id=alert.id,
                          now=now)
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

    ``lat``/``lon`` are what the frame reported; they are used only for a camera registered
    as mobile and only when they are a valid position, else the registered position is.

    Returns:
        The alert id ("" when the deployment stopped, or the matched entry was removed or
        expired, while the frame was analysed).
    """
    now = runtime.clock()
    probe: list[Path] = []  # the crop written in this transaction, if any
    try:
        async with runtime.write_lock, runtime.db.sessions() as session, session.begin():
            found = await _subjects(session, deployment_id, camera_id, match.entry_id)
            if found is None:
                # The entry was removed while this frame was analysed (or, never in
                # practice, the deployment or camera row is gone): keep nothing.
                return ""
            dep, camera, entry = found
            if not dep.active:
                # Stopped, revoked or refused while this frame was analysed: keep nothing.
                return ""
            if entry.expires_at <= now:
                # Expired while this frame was analysed (the matcher's index may lag):
                # nobody is wanted any more, so keep nothing of this face.
                return ""
            if not (camera.mobile and valid_position(lat, lon)):
                # A fixed camera's place is the registered one, whatever the frame says.
                lat, lon = camera.lat, camera.lon
            alert_id, staged = await _store_match(
                session, runtime, _Subjects(dep, camera, entry), camera_id, match, captured_at,
                ingested_at, lat, lon, now, probe)
    except BaseException:
        # The transaction did not commit: the crop of a passer-by nobody will purge must
        # not outlive it. Synchronous on purpose: a tiny unlink, and it must run even while
        # this task is being cancelled.
        for path in probe:
            path.unlink(missing_ok=True)
        raise
    runtime.publisher.deliver(staged)
    log.info("alert %s camera=%s deployment=%s", alert_id, camera_id, deployment_id)
    return alert_id


class _Subjects(NamedTuple):
    """The rows an alert is about, read in one statement."""

    deployment: Deployment
    camera: Camera
    entry: Entry


async def _subjects(session: AsyncSession, deployment_id: str, camera_id: str,
                    entry_id: str) -> tuple[Deployment, Camera, Entry] | None:
    """The deployment, camera and watchlist entry of a match in one query (three ``get``
    calls were three round trips to the store's thread, in the alert's transaction)."""
    # Explicit joins on true: three primary-key lookups, not a product SQLAlchemy warns of.
    row = (await session.execute(
        select(Deployment, Camera, Entry).select_from(Deployment)
        .join(Camera, true()).join(Entry, true())
        .where(Deployment.id == deployment_id, Camera.id == camera_id, Entry.id == entry_id)
    )).first()
    return None if row is None else (row[0], row[1], row[2])


async def _store_match(
    session: AsyncSession, runtime: Runtime, subjects: _Subjects, camera_id: str,
    match: Match, captured_at: float, ingested_at: float, lat: float | None, lon: float | None,
    now: float, probe: list[Path],
) -> tuple[str, list[Staged]]:
    """A sighting of the open alert of this (camera, entry) window, or a new alert."""
    tracker = runtime.tracker
    current = tracker.current(camera_id, match.entry_id, now)
    alert = await session.get(Alert, current) if current else None
    if alert is not None and alert.state in CLOSED_STATES:
        # Closed by a human (see the module docstring): this sighting is a new lead.
        tracker.forget_alert(alert.id)
        alert = None
    if alert is None:
        alert_id, staged = await _new_alert(session, runtime, subjects, camera_id, match,
                                            captured_at, ingested_at, lat, lon, now, probe)
        tracker.seen(camera_id, match.entry_id, alert_id, now, match.crop_quality)
        return alert_id, staged
    crop_quality: float | None = None
    alert.sightings += max(1, match.sightings)
    alert.last_seen = now
    alert.similarity = max(alert.similarity, match.similarity)
    if (match.probe_jpeg and match.crop_quality
            > tracker.crop_quality(camera_id, match.entry_id)):
        # A better view of the person (a tracked face, sharper or larger): the alert
        # shows it instead. Replaced in place, so no crop outlives the alert.
        await asyncio.to_thread(_replace_probe, runtime.settings.data_path
                                / alert.probe_path, match.probe_jpeg)
        crop_quality = match.crop_quality
    await add_event(session, alert, at=now, actor="system", action="sighted",
                    detail=f"similarity={match.similarity:.3f} {_basis(match)}")
    staged = await publish_change(session, runtime, alert)
    tracker.seen(camera_id, match.entry_id, alert.id, now, crop_quality)
    if alert.pushed_at == 0.0:
        alert.pushed_at = runtime.clock()
    return alert.id, staged


async def _new_alert(
    session: AsyncSession, runtime: Runtime, subjects: _Subjects, camera_id: str,
    match: Match, captured_at: float, ingested_at: float, lat: float | None, lon: float | None,
    now: float, probe: list[Path],
) -> tuple[str, list[Staged]]:
    """Store a new alert, route it and stage ``alert_raised`` for its recipients.

    Core statements, no ORM unit of work: the alert, its first event and its recipients are
    one INSERT each, and the card pushed to recipients is built from the rows in hand (the
    deployment, camera and entry were read with the match) instead of being read back. This
    transaction holds the store's one writer while every other alert and ack waits.
    """
    dep, camera, entry = subjects
    alert_id = new_id("alr")
    incident_id = await incident_for(session, dep.id, match.entry_id) or alert_id
    probe_rel = Path("probes") / dep.id / f"{alert_id}.jpg"
    probe_abs = runtime.settings.data_path / probe_rel
    # The one image of a passer-by the system keeps, and only because it matched. Recorded
    # before writing, so a failed (even partial) write or transaction removes it again.
    probe.append(probe_abs)
    await asyncio.to_thread(_write_probe, probe_abs, match.probe_jpeg)
    # From memory (server.store.routing): never revoked or expired officers, and nothing per
    # recipient but a tuple and a row of one insert.
    officers = await runtime.routing.officers(runtime.clock())
    nearby = within_radius(
        (Candidate(*row) for row in officers), lat, lon, dep.notify_radius_m,
    )
    dispatchers = await runtime.routing.dispatchers()
    event = AlertEventRow(alert_id=alert_id, at=now, actor="system", action="raised",
                          detail=f"similarity={match.similarity:.3f} "
                                 f"threshold={dep.threshold:.3f} {_basis(match)}")
    # Version 1: the alert as raised, with its first event (every event adds one).
    alert = Alert(
        id=alert_id, version=1, deployment_id=dep.id, camera_id=camera_id,
        entry_id=match.entry_id, lat=lat, lon=lon, similarity=match.similarity,
        threshold=dep.threshold, first_seen=now, last_seen=now,
        sightings=max(1, match.sightings), state="new", outcome=None, dismiss_reason=None,
        assigned_officer_id=None, assigned_at=None, flagged=False, probe_path=str(probe_rel),
        captured_at=captured_at, ingested_at=ingested_at, matched_at=match.matched_at,
        pushed_at=runtime.clock(), acked_at=None, created_at=now, incident_id=incident_id,
    )  # transient: its values are inserted below, the object only feeds the card
    await session.execute(insert(_table(Alert)), [_row(alert, Alert)])
    await session.execute(insert(_table(AlertEventRow)), [
        {"alert_id": alert_id, "at": event.at, "actor": event.actor, "action": event.action,
         "detail": event.detail}])
    if nearby:
        await session.execute(insert(_table(AlertRecipient)), [
            {"alert_id": alert_id, "account_id": officer_id, "route": "nearby"}
            for officer_id in nearby])
    view = alert_card(alert, entry, camera, dep, None, [event])
    staged = await stage(session, [*dispatchers, *nearby],
                         AlertRaised(seq=0, alert=view, route="nearby"),
                         alert_id=alert_id, now=runtime.clock())
    await runtime.audit.record(
        session, actor="system", action="alert_raised", at=now, alert_id=alert_id,
        deployment_id=dep.id, camera_id=camera_id, entry_id=match.entry_id,
    )
    return alert_id, staged


def _table(model: type[Alert] | type[AlertEventRow] | type[AlertRecipient]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _row(obj: Alert, model: type[Alert]) -> dict[str, object]:
    """Every column of a transient ORM object, as an insert's parameters."""
    return {c.key: getattr(obj, c.key) for c in _table(model).columns}


def _basis(match: Match) -> str:
    """What the decision was made on, for the alert's history (counts only)."""
    if match.basis == "track":
        return f"basis=track templates={match.templates} sightings={match.sightings}"
    return "basis=frame"


def _write_probe(path: Path, jpeg: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(jpeg)


def _replace_probe(path: Path, jpeg: bytes) -> None:
    """Swap an alert's crop for a better one atomically (the old file is replaced whole)."""
    tmp = path.with_suffix(".tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_bytes(jpeg)
    tmp.replace(path)


def count_frame(runtime: Runtime, deployment_id: str, *, faces: int, refused: bool) -> None:
    """Counters only: frames and faces processed (the trace a non-match leaves). Kept in
    memory and written once a second (:mod:`server.store.frame_counts`): no SQL here."""
    if refused:
        runtime.frame_counts.refused(deployment_id)
    else:
        runtime.frame_counts.processed(deployment_id, faces)


async def reopen_windows(runtime: Runtime) -> int:
    """Seed the cooldown tracker from the store at start-up, so that a restart does not raise
    a second alert for a person whose alert is still open within its cooldown window.

    Only alerts are read (open ones, of active deployments, seen within ``cooldown_s``): the
    tracker holds alert ids, never anything about faces that did not match.

    Returns:
        The number of windows reopened.
    """
    tracker = runtime.tracker
    assert tracker is not None
    now = runtime.clock()
    async with runtime.db.sessions() as session:
        rows = (await session.execute(
            select(Alert.id, Alert.camera_id, Alert.entry_id, Alert.last_seen)
            .join(Deployment, Deployment.id == Alert.deployment_id)
            .where(Deployment.active.is_(True),
                   Alert.state.not_in(tuple(CLOSED_STATES)),
                   Alert.last_seen >= now - tracker.cooldown_s)
            .order_by(Alert.last_seen))).all()
    for alert_id, camera_id, entry_id, last_seen in rows:
        tracker.seen(camera_id, entry_id, alert_id, float(last_seen))
    return len(rows)
