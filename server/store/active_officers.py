"""Officers whose account is still valid: the only ones alerts may be routed or assigned to.

Valid means not revoked and not expired at ``now`` (the runtime's clock): an expired token
gets 401 on REST and loses its sockets, so routing or assigning to it would send alerts to
nobody, or to someone who should no longer see them.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.errors import NotFound, VigilError
from server.store.models import Account, Officer


class OfficerInactive(VigilError):
    """The officer exists but its account is revoked or its token expired."""

    status = 409

    def __init__(self, message: str = "this officer's account is revoked or expired") -> None:
        super().__init__("officer_inactive", message)


async def active_officers(session: AsyncSession, now: float) -> Sequence[Officer]:
    """Every officer whose account is neither revoked nor expired at ``now``."""
    return (await session.execute(
        select(Officer).join(Account, Account.id == Officer.id).where(
            Account.revoked.is_(False),
            or_(Account.expires_at.is_(None), Account.expires_at > now))
    )).scalars().all()


async def active_officer(session: AsyncSession, officer_id: str, now: float) -> Officer:
    """The officer of this id, if its account is valid at ``now``.

    Raises:
        NotFound: no such officer.
        OfficerInactive: its account is revoked or its token expired.
    """
    officer = await session.get(Officer, officer_id)
    if officer is None:
        raise NotFound("no such officer")
    account = await session.get(Account, officer_id)
    if account is None or account.revoked or (
            account.expires_at is not None and account.expires_at <= now):
        raise OfficerInactive()
    return officer
