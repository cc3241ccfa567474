"""``vigil token create --role ROLE --name NAME``: bootstrap accounts; the token is shown once."""

from __future__ import annotations

import argparse

from shared.protocol.base import ROLES


def configure(parser: argparse.ArgumentParser) -> None:
    subs = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = subs.add_parser("create", help="create an account and print its token once")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", required=True)
    create.add_argument("--call-sign", default=None, help="officers: call sign (= name)")
    create.add_argument("--expires-days", type=float, default=None,
                        help="token refused after this many days (default: no expiry)")
    listing = subs.add_parser("list", help="list accounts (never tokens)")
    for sub in (create, listing):
        sub.add_argument("--data-dir", default=None)
        sub.add_argument("--db-url", default=None)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import time

    from sqlalchemy import select

    from server.auth import create_account
    from server.settings import load_settings
    from server.store.audit import ChainAudit
    from server.store.db import Database
    from server.store.models import Account

    settings = load_settings(data_dir=args.data_dir, db_url=args.db_url)

    async def main() -> int:
        db = Database(settings.database_url)
        try:
            await db.migrate()
            now = time.time()
            if args.action == "create":
                expires = now + args.expires_days * 86400 if args.expires_days else None
                async with db.sessions() as session, session.begin():
                    account, token = await create_account(
                        session, role=args.role, name=args.name, now=now, expires_at=expires,
                        call_sign=args.call_sign,
                    )
                    # Bootstrap tokens are audited like those issued over REST.
                    await ChainAudit().record(session, actor="cli", action="token_issued",
                                              at=now, account_id=account.id, role=args.role)
                print(f"account {account.id} role {account.role} name {account.name}")
                print(f"token {token}")
                print("The token is shown once; only its hash is stored.")
            else:
                async with db.sessions() as session:
                    for a in (await session.execute(select(Account))).scalars():
                        state = "revoked" if a.revoked else "active"
                        print(f"{a.id}\t{a.role}\t{a.name}\t{state}")
        finally:
            await db.close()
        return 0

    return asyncio.run(main())
