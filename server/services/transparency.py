"""Building a deployment's transparency record from the store (the record and its Markdown
rendering: :mod:`server.domain.transparency`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.transparency import TransparencyRecord
from server.services.watchlists import watchlist_fingerprint
from server.store.authorisation import DeploymentAuthorisation
from server.store.models import Deployment
from server.store.views import deployment_stats, deployment_view


async def transparency_record(
    session: AsyncSession, dep: Deployment, now: float
) -> TransparencyRecord:
    """Build the record from the store."""
    auth = await session.get(DeploymentAuthorisation, dep.id)
    if auth is not None and auth.watchlist_hash:
        digest, size = auth.watchlist_hash, auth.watchlist_size
    else:
        digest, size = await watchlist_fingerprint(session, dep.watchlist_id)
    return TransparencyRecord(
        deployment=await deployment_view(session, dep),
        authorisation=auth.state if auth else "none",
        authorised_by=auth.authoriser_name if auth else "",
        authority_ref=auth.authority_ref if auth else "",
        urgent=bool(auth and auth.urgent),
        ended_at=auth.ended_at if auth else None,
        watchlist_size=size, watchlist_hash=digest,
        stats=await deployment_stats(session, dep),
        generated_at=now,
    )
