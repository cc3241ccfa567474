"""Officers whose account is still valid: the only ones alerts may be routed or assigned to."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.store.models import Account, Officer


async def active_officers(session: AsyncSession) -> Sequence[Officer]:
    """Every officer whose account is not revoked (revocation takes effect at once)."""
    return (await session.execute(
        select(Officer).join(Account, Account.id == Officer.id).where(
            Account.revoked.is_(False))
    )).scalars().all()


async def active_officer_positions(
    session: AsyncSession,
) -> Sequence[tuple[str, str, float | None, float | None]]:
    """``(id, status, lat, lon)`` of every active officer, as plain rows (routing one alert to
    a thousand officers needs no ORM object per officer)."""
    rows = await session.execute(
        select(Officer.id, Officer.status, Officer.lat, Officer.lon)
        .join(Account, Account.id == Officer.id).where(Account.revoked.is_(False))
    )
    return [(str(i), str(s), lat, lon) for i, s, lat, lon in rows.all()]


async def active_officer(session: AsyncSession, officer_id: str) -> Officer | None:
    """The officer of this id, or None when unknown or its account is revoked."""
    officer = await session.get(Officer, officer_id)
    if officer is None:
        return None
    account = await session.get(Account, officer_id)
    return officer if account is not None and not account.revoked else None
