"""Who a new alert can be routed to, kept in memory: the dispatchers not revoked, and every
officer with its status, position and its account's expiry and revocation.

Every new alert needs them, and reading them cost two queries inside the alert's transaction,
while the store's one writer was held (for 1,000 officers a few milliseconds and a thousand
tuples each time). They change when an account is created, revoked or expires, or an officer
reports a position or status. Here they are read once and forgotten whenever a transaction of
this database that wrote the ``accounts`` or ``officers`` table commits
(:class:`~server.store.commit_watch.CommitWatch`); the next alert reads them again.
Expiry is a time, not a write: it is checked against ``now``
at every use, so an account stops receiving alerts the second it expires.

A load that began before an invalidation is not kept (a generation counter): it may have read
the store as it was before the change.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Table, select

from server.store.commit_watch import CommitWatch
from server.store.db import Database
from server.store.models import Account, Officer

WATCHED = frozenset({"accounts", "officers"})


class OfficerRoute(NamedTuple):
    """An officer as routing needs it (``Candidate`` fields first)."""

    id: str
    status: str
    lat: float | None
    lon: float | None
    expires_at: float | None


class Routes(NamedTuple):
    dispatchers: tuple[str, ...]
    """Every dispatcher whose account is not revoked (as ``dispatcher_ids`` reads them)."""
    officers: tuple[OfficerRoute, ...]
    """Every officer whose account is not revoked (expiry is checked at use)."""


class Routing:
    """The in-memory routing data (see module docstring). One per process; the loop's."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._routes: Routes | None = None
        self._generation = 0
        self.loads = 0
        """Store reads made (tests see the cache work through it)."""
        self._watch = CommitWatch(db.session_class, WATCHED, self.invalidate)

    async def dispatchers(self) -> list[str]:
        """Dispatchers whose account is not revoked."""
        return list((await self._current()).dispatchers)

    async def officers(self, now: float) -> list[tuple[str, str, float | None, float | None]]:
        """``(id, status, lat, lon)`` of every officer active at ``now``: not revoked, not
        expired (as :func:`server.store.active_officers.active_officers`)."""
        return [(o.id, o.status, o.lat, o.lon) for o in (await self._current()).officers
                if o.expires_at is None or o.expires_at > now]

    def invalidate(self) -> None:
        """Forget everything (the next use reads the store again)."""
        self._generation += 1
        self._routes = None

    async def _current(self) -> Routes:
        routes = self._routes
        if routes is None:
            generation = self._generation
            routes = await self._load()
            if generation == self._generation:
                self._routes = routes
        return routes

    async def _load(self) -> Routes:
        self.loads += 1
        # Core columns, not ORM entities: rows skip the ORM's loading machinery.
        accounts, officers = _table(Account), _table(Officer)
        async with self._db.sessions() as session:
            dispatchers = (await session.execute(
                select(accounts.c.id).where(accounts.c.role == "dispatcher",
                                            accounts.c.revoked.is_(False))
            )).scalars().all()
            rows = (await session.execute(
                select(officers.c.id, officers.c.status, officers.c.lat, officers.c.lon,
                       accounts.c.expires_at)
                .join(accounts, accounts.c.id == officers.c.id)
                .where(accounts.c.revoked.is_(False))
            )).all()
        return Routes(tuple(str(d) for d in dispatchers),
                      tuple(OfficerRoute(str(i), str(s), lat, lon, exp)
                            for i, s, lat, lon, exp in rows))


def _table(model: type[Account] | type[Officer]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table
