"""Threshold governance use cases: the policy for a watchlist, and refusing a threshold
under the floor unless an authoriser sets it (the rule itself: :mod:`server.domain.thresholds`)."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select

from server.auth import Principal
from server.domain.thresholds import ThresholdPolicy, policy_for
from server.errors import NotFound, VigilError
from server.runtime import Runtime
from server.services.entry_photos import count_photos
from server.store.models import Deployment, Entry
from server.store.views import deployment_view
from shared.protocol.alerts import DeploymentView
from shared.protocol.dispatch import DeploymentUpdated

log = logging.getLogger("vigil.governance")


async def watchlist_policy(
    rt: Runtime, watchlist_id: str, fallback_default: float
) -> ThresholdPolicy:
    """The policy for the running engine's model and the watchlist's current size (its
    entries, and their reference photos as the comparisons a passer-by gets)."""
    model_id = rt.engine.model_id
    async with rt.db.sessions() as session:
        entries = [(e, p) for e, p in (await session.execute(
            select(Entry.id, Entry.photo_path).where(Entry.watchlist_id == watchlist_id))).all()]
    photos = await asyncio.to_thread(count_photos, rt.settings.data_path, watchlist_id, entries)
    return policy_for(model_id, len(entries), fallback_default, comparisons=photos)


async def check_threshold(
    rt: Runtime, principal: Principal, *, threshold: float, watchlist_id: str,
    fallback_default: float, deployment_id: str | None = None,
) -> ThresholdPolicy:
    """Refuse a threshold under the floor unless an authoriser sets it.

    A refused attempt is audited in its own transaction (the refusal must stay on record
    although the change does not happen); the caller audits an accepted one with the change.

    Returns:
        The policy in force (``threshold < policy.floor`` means an authoriser lowered it).

    Raises:
        VigilError: ``threshold_below_floor`` (403).
    """
    policy = await watchlist_policy(rt, watchlist_id, fallback_default)
    model_id, size = policy.model_id, policy.watchlist_size
    if threshold >= policy.floor or principal.role == "authoriser":
        return policy
    now = rt.clock()
    async with rt.write_lock, rt.db.sessions() as session, session.begin():
        await rt.audit.record(session, actor=principal.account_id, action="threshold_refused",
                              at=now, deployment_id=deployment_id, watchlist_id=watchlist_id,
                              threshold=threshold, floor=policy.floor, model=model_id,
                              watchlist_size=size)
    log.info("threshold %.3f under floor %.3f refused for %s", threshold, policy.floor,
             principal.account_id)
    raise VigilError("threshold_below_floor",
                     f"{threshold:.3f} is under the floor {policy.floor:.3f} for {model_id} "
                     f"with {size} entries; only an authoriser may set it", status=403)


async def set_threshold(rt: Runtime, principal: Principal, deployment_id: str, threshold: float,
                        policy: ThresholdPolicy) -> DeploymentView:
    """Change a deployment's threshold (checked with :func:`check_threshold` first); audited
    with the floor in force. The next frame of its cameras uses it.

    Raises:
        NotFound: no such deployment.
    """
    now = rt.clock()
    async with rt.write_lock, rt.db.sessions() as session, session.begin():
        dep = await session.get(Deployment, deployment_id)
        if dep is None:
            raise NotFound("no such deployment")
        previous, dep.threshold = dep.threshold, threshold
        await rt.audit.record(session, actor=principal.account_id,
                              action="threshold_changed", at=now, deployment_id=dep.id,
                              previous=previous, threshold=threshold,
                              floor=policy.floor, below_floor=threshold < policy.floor)
        view = await deployment_view(session, dep)
    rt.frame_targets.invalidate()
    rt.publisher.broadcast("dispatcher", DeploymentUpdated(deployment=view))
    return view
