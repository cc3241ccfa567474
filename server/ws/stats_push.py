"""Live statistics for dispatcher consoles.

Counters (faces processed, frames refused) change with every frame, far too often to send as
durable messages; instead, every few seconds, each active deployment whose figures changed is
sent to the connected dispatchers as a non-durable ``stats_updated``. A dispatcher that
reconnects gets the current figures in its snapshot, so nothing needs replaying.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from server.runtime import Runtime
from server.store.models import Deployment
from server.store.views import deployments_stats
from server.ws.hub import Hub
from shared.protocol.alerts import DeploymentStats
from shared.protocol.dispatch import StatsUpdated

log = logging.getLogger(__name__)

STATS_PERIOD_S = 5.0


async def push_changed_stats(
    runtime: Runtime, hub: Hub, last: dict[str, DeploymentStats]
) -> int:
    """Send the stats of every active deployment that changed since ``last``; returns how many."""
    if not any(s.role == "dispatcher" for s in hub.sessions.values()):
        return 0
    await runtime.frame_counts.flush()
    async with runtime.db.sessions() as session:
        deployments = (
            await session.execute(select(Deployment).where(Deployment.active.is_(True)))
        ).scalars().all()
        current = await deployments_stats(session, deployments)
    sent = 0
    for stats in current:
        if last.get(stats.deployment_id) != stats:
            last[stats.deployment_id] = stats
            hub.broadcast("dispatcher", StatsUpdated(stats=stats))
            sent += 1
    return sent
