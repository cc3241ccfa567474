"""Incidents: one per watchlist entry per deployment while it is open.

A person who walks out of view for longer than the tracker's cooldown, or past a second
camera, raises a new alert each time (the tracker keeps one alert per camera and entry). The
dispatcher should see one incident with its sightings and cameras inside, not a new row per
alert: every alert of the same entry in the same deployment joins the incident of the open
alerts already there. Once all of an incident's alerts are closed, the next alert starts a new
incident. The incident id is the id of its first alert, so it needs no table of its own.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.alerts import CLOSED_STATES
from server.store.models import Alert


async def incident_for(session: AsyncSession, deployment_id: str, entry_id: str) -> str | None:
    """The open incident of this entry in this deployment (None: the next alert starts one)."""
    rows = await session.execute(
        select(Alert.incident_id, Alert.id)
        .where(Alert.deployment_id == deployment_id, Alert.entry_id == entry_id,
               Alert.state.not_in(CLOSED_STATES))
        .order_by(Alert.created_at, Alert.id)
        .limit(1)
    )
    row = rows.first()
    if row is None:
        return None
    incident_id, alert_id = row
    return str(incident_id or alert_id)
