"""Deployment authorisation lifecycle and the governance sweep.

A deployment runs only under a live authorisation: an authoriser's name, an authority
reference and a purpose from the closed list (equal to the deployment's). An *urgent* start
may run before the independent authority has ruled, for at most 24 h: its window is cut to the
confirmation deadline until an authoriser records the confirmation. A *refused* (urgent) or
*revoked* authorisation stops the deployment at once and purges every alert, probe crop and
outbox message it produced; the audit records the purge with counts only.

Ending (stop, revoke, refusal, or the window running out) is final, and ends the watchlist's
life too when no other deployment needs it (:mod:`server.services.watchlists`).

The sweep (:func:`sweep`) runs in a lifespan-owned task; it takes the time from the runtime's
injected clock, so tests advance a fake clock and call it directly.
"""

from __future__ import annotations

import logging

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import Principal
from server.errors import Forbidden, NotFound, VigilError
from server.runtime import Core
from server.services.watchlists import (
    destroy_if_unused,
    expire_entries,
    watchlist_fingerprint,
)
from server.store.authorisation import LIVE_STATES, DeploymentAuthorisation
from server.store.file_deletions import delete_doomed
from server.store.models import Alert, Deployment
from server.store.retention import (
    PurgeCounts,
    purge_alerts,
    retention_seconds,
    retention_sweep,
    stage_withdrawals,
)
from server.store.views import deployment_view, deployment_views
from shared.protocol.alerts import DeploymentView
from shared.protocol.base import PURPOSES
from shared.protocol.dispatch import DeploymentUpdated

log = logging.getLogger("vigil.governance")

URGENT_MAX_S = 24 * 3600.0
"""An urgent start runs at most this long unless confirmed (AI Act Art. 5(3): 24 h)."""


class NotAuthorised(VigilError):
    """The deployment has no live authorisation."""

    status = 409

    def __init__(self, message: str) -> None:
        super().__init__("not_authorised", message)


class SweepReport(msgspec.Struct, frozen=True, kw_only=True):
    """What one governance sweep did."""

    ended: tuple[str, ...] = ()
    expired_entries: int = 0
    retention: PurgeCounts = msgspec.field(default_factory=PurgeCounts)


async def _get(session: AsyncSession, deployment_id: str) -> Deployment:
    dep = await session.get(Deployment, deployment_id)
    if dep is None:
        raise NotFound("no such deployment")
    return dep


async def authorise(
    rt: Core, deployment_id: str, principal: Principal, *, authority_ref: str,
    purpose: str, urgent: bool,
) -> DeploymentAuthorisation:
    """Record an authoriser's authorisation (or an urgent start awaiting confirmation).

    Raises:
        VigilError: ``not_found``, ``forbidden`` (not an authoriser), ``bad_purpose``,
            ``purpose_mismatch``, ``authority_ref_required``, ``conflict`` (already decided).
    """
    if principal.role != "authoriser":
        raise Forbidden("only an authoriser authorises a deployment")
    if purpose not in PURPOSES:
        raise VigilError("bad_purpose", f"purpose must be one of {', '.join(PURPOSES)}")
    if not authority_ref.strip():
        raise VigilError("authority_ref_required", "an authority reference is required")
    now = rt.clock()
    async with rt.write_lock, rt.db.sessions() as session, session.begin():
        dep = await _get(session, deployment_id)
        if dep.purpose != purpose:
            raise VigilError("purpose_mismatch",
                             f"the deployment was created for {dep.purpose}", status=409)
        if await session.get(DeploymentAuthorisation, deployment_id) is not None:
            raise VigilError("conflict", "this deployment already has a decision", status=409)
        auth = DeploymentAuthorisation(
            deployment_id=dep.id, state="urgent" if urgent else "authorised",
            authoriser_id=principal.account_id, authoriser_name=principal.name,
            authority_ref=authority_ref.strip(), purpose=purpose, granted_at=now,
            urgent=urgent, confirm_by=now + URGENT_MAX_S if urgent else None,
            requested_ends_at=dep.ends_at, close_reason="", watchlist_hash="",
            watchlist_size=0,
        )
        if urgent and auth.confirm_by is not None:
            dep.ends_at = min(dep.ends_at, auth.confirm_by)
        session.add(auth)
        # The list the authoriser saw, so an auditor can compare it with the one frozen at
        # activation (``watchlist_frozen``).
        digest, size = await watchlist_fingerprint(session, dep.watchlist_id)
        await rt.audit.record(session, actor=principal.account_id,
                              action="deployment_authorised_urgent" if urgent
                              else "deployment_authorised", at=now, deployment_id=dep.id,
                              watchlist_id=dep.watchlist_id, authority_ref=auth.authority_ref,
                              purpose=purpose, confirm_by=auth.confirm_by,
                              version_hash=digest, size=size)
    rt.frame_targets.invalidate()  # an urgent start cut the window
    return auth


async def confirm(
    rt: Core, deployment_id: str, principal: Principal, *, authority_ref: str
) -> DeploymentAuthorisation:
    """Confirm an urgent start: the deployment gets back the window it asked for."""
    if principal.role != "authoriser":
        raise Forbidden("only an authoriser confirms an urgent start")
    if not authority_ref.strip():
        raise VigilError("authority_ref_required", "an authority reference is required")
    now = rt.clock()
    async with rt.write_lock, rt.db.sessions() as session, session.begin():
        dep = await _get(session, deployment_id)
        auth = await session.get(DeploymentAuthorisation, deployment_id)
        if auth is None or auth.state != "urgent" or auth.ended_at is not None:
            raise VigilError("invalid_state", "only a running urgent start can be confirmed",
                             status=409)
        assert auth.confirm_by is not None
        if now >= auth.confirm_by:
            raise VigilError("urgent_expired", "the 24 h for confirmation have passed",
                             status=409)
        auth.state = "confirmed"
        auth.confirmed_at, auth.confirmed_by = now, principal.account_id
        auth.authority_ref = f"{auth.authority_ref}; confirmed: {authority_ref.strip()}"
        dep.ends_at = auth.requested_ends_at
        await rt.audit.record(session, actor=principal.account_id,
                              action="deployment_confirmed", at=now, deployment_id=dep.id,
                              authority_ref=authority_ref.strip())
    rt.frame_targets.invalidate()  # the window is back to the one asked for
    return auth


async def withdraw(
    rt: Core, deployment_id: str, principal: Principal, *, refused: bool, reason: str
) -> PurgeCounts:
    """Refuse (an urgent start) or revoke an authorisation: stop, purge, end.

    Returns:
        What the purge removed.
    """
    if principal.role != "authoriser":
        raise Forbidden("only an authoriser refuses or revokes an authorisation")
    now = rt.clock()
    async with rt.write_lock, rt.db.sessions() as session, session.begin():
        dep = await _get(session, deployment_id)
        auth = await session.get(DeploymentAuthorisation, deployment_id)
        if auth is None or auth.state not in LIVE_STATES:
            raise VigilError("invalid_state", "no live authorisation to withdraw", status=409)
        if refused and auth.state != "urgent":
            raise VigilError("invalid_state", "only an urgent start awaiting confirmation "
                             "can be refused; revoke this one", status=409)
        dep.active = False
        auth.state = "refused" if refused else "revoked"
        auth.closed_at, auth.closed_by, auth.close_reason = now, principal.account_id, reason
        staged = await stage_withdrawals(session, Alert.deployment_id == dep.id, now)
        counts = await purge_alerts(session, rt.settings.data_path,
                                    Alert.deployment_id == dep.id)
        await rt.audit.record(session, actor=principal.account_id,
                              action="deployment_refused" if refused else "deployment_revoked",
                              at=now, deployment_id=dep.id, reason=reason[:200])
        await rt.audit.record(session, actor=principal.account_id, action="purge", at=now,
                              deployment_id=dep.id, cause=auth.state, **counts.as_details())
        await end(session, rt, dep, actor=principal.account_id, now=now)
        view = await deployment_view(session, dep)
    await delete_doomed(session)  # probe crops, and the watchlist's files if destroyed
    rt.frame_targets.invalidate()  # stopped: no frame is matched for it from now on
    rt.publisher.deliver(staged)
    rt.publisher.broadcast("dispatcher", DeploymentUpdated(deployment=view))
    return counts


async def set_active(rt: Core, deployment_id: str, active: bool,
                     principal: Principal) -> DeploymentView:
    """Start (needs a live authorisation; freezes the watchlist version) or stop a
    deployment (the kill switch: final, and the watchlist goes if nobody else needs it).

    Raises:
        VigilError: ``not_found``, ``window_ended`` (409), ``not_authorised`` (409).
    """
    now = rt.clock()
    async with rt.write_lock, rt.db.sessions() as session, session.begin():
        dep = await _get(session, deployment_id)
        if active and dep.ends_at <= now:
            raise VigilError("window_ended", "the deployment's window has ended", status=409)
        if active:
            await before_start(session, rt, dep, actor=principal.account_id, now=now)
        dep.active = active
        await rt.audit.record(session, actor=principal.account_id,
                              action="deployment_started" if active else "deployment_stopped",
                              at=now, deployment_id=dep.id)
        if not active:
            await end(session, rt, dep, actor=principal.account_id, now=now)
        view = await deployment_view(session, dep)
    await delete_doomed(session)  # the watchlist's files if a stop destroyed it
    # After the commit: the next frame of its cameras reads the new state (a stop takes
    # effect at once; the frame in flight may still finish, but raises no alert).
    rt.frame_targets.invalidate()
    rt.publisher.broadcast("dispatcher", DeploymentUpdated(deployment=view))
    return view


async def before_start(
    session: AsyncSession, rt: Core, dep: Deployment, *, actor: str, now: float
) -> None:
    """Check a deployment may start and freeze its watchlist's version (audited).

    Call inside the transaction that activates it.

    Raises:
        NotAuthorised: no live authorisation, an ended deployment or an urgent start past
            its 24 h.
    """
    auth = await session.get(DeploymentAuthorisation, dep.id)
    if auth is None or auth.state not in LIVE_STATES:
        raise NotAuthorised("an authoriser must authorise this deployment before it starts")
    if auth.ended_at is not None:
        raise NotAuthorised("this deployment has ended; create a new one")
    if auth.state == "urgent" and auth.confirm_by is not None and now >= auth.confirm_by:
        raise NotAuthorised("the urgent start was not confirmed within 24 h")
    digest, size = await watchlist_fingerprint(session, dep.watchlist_id)
    auth.watchlist_hash, auth.watchlist_size = digest, size
    await rt.audit.record(session, actor=actor, action="watchlist_frozen", at=now,
                          deployment_id=dep.id, watchlist_id=dep.watchlist_id,
                          version_hash=digest, size=size)


async def end(
    session: AsyncSession, rt: Core, dep: Deployment, *, actor: str, now: float
) -> None:
    """Mark a deployment ended for good and let its watchlist go if nobody else needs it.

    Call inside the transaction that stops it.
    """
    dep.active = False
    auth = await session.get(DeploymentAuthorisation, dep.id)
    if auth is not None:
        if auth.ended_at is not None:
            return  # ended before: its watchlist was dealt with then
        auth.ended_at = now
    await destroy_if_unused(session, rt, dep.watchlist_id, ended_id=dep.id, actor=actor,
                            now=now)


async def sweep(rt: Core) -> SweepReport:
    """One pass: end deployments past their window (urgent ones past 24 h unconfirmed),
    remove expired watchlist entries, purge alerts past retention. Each step is audited."""
    now = rt.clock()
    ended: list[str] = []
    async with rt.write_lock, rt.db.sessions() as session, session.begin():
        rows = (await session.execute(select(Deployment).where(
            Deployment.active.is_(True), Deployment.ends_at <= now))).scalars().all()
        for dep in rows:
            auth = await session.get(DeploymentAuthorisation, dep.id)
            unconfirmed = auth is not None and auth.state == "urgent"
            await rt.audit.record(session, actor="system",
                                  action="urgent_start_lapsed" if unconfirmed
                                  else "deployment_ended", at=now, deployment_id=dep.id)
            await end(session, rt, dep, actor="system", now=now)
            ended.append(dep.id)
        expired = await expire_entries(session, rt, now)
        staged = await stage_withdrawals(
            session, Alert.created_at < now - retention_seconds(rt.settings), now)
        counts = await retention_sweep(session, rt.settings, now)
        if counts.alerts:
            await rt.audit.record(session, actor="system", action="purge", at=now,
                                  cause="retention", retention_days=rt.settings.retention_days,
                                  **counts.as_details())
        views = await deployment_views(session, rows)
    await delete_doomed(session)  # expired entries' photos, purged crops, destroyed watchlists
    if ended or expired:  # windows ended, watchlists' versions bumped or destroyed
        rt.frame_targets.invalidate()
    rt.publisher.deliver(staged)
    for view in views:
        rt.publisher.broadcast("dispatcher", DeploymentUpdated(deployment=view))
    return SweepReport(ended=tuple(ended), expired_entries=len(expired), retention=counts)
