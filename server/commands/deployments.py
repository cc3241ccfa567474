"""``vigil deployments list``: every deployment's id, window and state (``vigil stats`` needs
the id)."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    subs = parser.add_subparsers(dest="action", required=True)
    listing = subs.add_parser("list", help="deployments, newest first: id, state, window, name")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.add_argument("--data-dir", default=None, help="data folder (./data)")
    listing.add_argument("--db-url", default=None, help="SQLAlchemy async URL")


def _state(active: bool, starts_at: float, ends_at: float, now: float) -> str:
    """``active`` (matching now), ``ended`` (past its window) or ``inactive``."""
    if now >= ends_at:
        return "ended"
    return "active" if active and starts_at <= now else "inactive"


def run(args: argparse.Namespace) -> int:
    import asyncio
    import sys
    import time
    from datetime import UTC, datetime

    import msgspec
    from sqlalchemy import select

    from server.settings import load_settings
    from server.store.db import Database
    from server.store.models import Deployment

    settings = load_settings(data_dir=args.data_dir, db_url=args.db_url)

    class Row(msgspec.Struct, frozen=True, kw_only=True):
        id: str
        name: str
        place: str
        purpose: str
        state: str
        starts_at: float
        ends_at: float

    def when(t: float) -> str:
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")

    async def main() -> list[Row]:
        db = Database(settings.database_url)
        try:
            await db.migrate()
            async with db.sessions() as session:
                rows = (await session.execute(
                    select(Deployment).order_by(Deployment.created_at.desc()))).scalars().all()
        finally:
            await db.close()
        now = time.time()
        return [Row(id=d.id, name=d.name, place=d.place, purpose=d.purpose,
                    state=_state(d.active, d.starts_at, d.ends_at, now),
                    starts_at=d.starts_at, ends_at=d.ends_at) for d in rows]

    rows = asyncio.run(main())
    if args.json:
        sys.stdout.write(msgspec.json.encode(rows).decode() + "\n")
        return 0
    if not rows:
        print("no deployments")
        return 0
    for r in rows:
        print(f"{r.id}  {r.state:<8}  {when(r.starts_at)} - {when(r.ends_at)} UTC  "
              f"{r.name} ({r.place})")
    return 0
