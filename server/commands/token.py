"""``vigil token create --role ROLE --name NAME``: bootstrap accounts; the token is shown once."""

from __future__ import annotations

import argparse
import sys

from shared.protocol.base import ROLES


def days_argument(text: str) -> float:
    """``--expires-days``: a number of days above 0 (a token dead on arrival, or one that
    never expires because NaN compares false with every time, is refused; one past the year
    9999 is refused by ``create_account``)."""
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < days < float("inf"):
        raise argparse.ArgumentTypeError("must be a number of days above 0")
    return days


def configure(parser: argparse.ArgumentParser) -> None:
    subs = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = subs.add_parser("create", help="create an account and print its token once")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", required=True)
    create.add_argument("--call-sign", default=None, help="officers: call sign (= name)")
    create.add_argument("--expires-days", type=days_argument, default=None,
                        help="token refused after this many days (default: no expiry)")
    create.add_argument("--qr", action="store_true",
                        help="officers: print a one-time pairing link and its QR code for the "
                             "officer app instead of the token (the phone gets its own)")
    create.add_argument("--url", default=None,
                        help="with --qr: the server's address as phones reach it "
                             "(default http://HOST:PORT from the settings)")
    listing = subs.add_parser("list", help="list accounts (never tokens)")
    for sub in (create, listing):
        sub.add_argument("--data-dir", default=None)
        sub.add_argument("--db-url", default=None)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import time

    from sqlalchemy import select

    from server.auth import create_account
    from server.errors import VigilError
    from server.officer_app.pairing import PAIRING_TTL_S, issue_code, pairing_link
    from server.officer_app.qr import qr_terminal
    from server.settings import load_settings
    from server.store.audit import ChainAudit
    from server.store.db import Database
    from server.store.models import Account

    settings = load_settings(data_dir=args.data_dir, db_url=args.db_url)
    if args.action == "create" and args.qr and args.role != "officer":
        print("--qr pairs a phone with an officer account: use it with --role officer")
        return 2

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
                    if args.qr:
                        code, expires = await issue_code(session, officer_id=account.id,
                                                         created_by="cli", now=now)
                        await ChainAudit().record(session, actor="cli",
                                                  action="pairing_code_issued", at=now,
                                                  account_id=account.id)
                print(f"account {account.id} role {account.role} name {account.name}")
                if args.qr:
                    base = args.url or f"http://{settings.host}:{settings.port}"
                    link = pairing_link(base, code)
                    print(f"pairing code {code} (one use, valid {PAIRING_TTL_S / 60:.0f} min)")
                    print(f"pairing link {link}")
                    print(qr_terminal(link))
                    print("Open the link (or scan the code) on the officer's phone; the phone "
                          "receives its own token.")
                else:
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

    try:
        return asyncio.run(main())
    except VigilError as exc:  # a refused name or call sign: nothing was written
        print(f"vigil token {args.action}: {exc.message}", file=sys.stderr)
        return 2
