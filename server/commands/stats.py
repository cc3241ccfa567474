"""``vigil stats DEPLOYMENT [--json|--markdown]``: figures and transparency record.

Without a format flag it prints the counts with both figures side by side: the false alert
rate per face processed and the precision of alerts.
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("deployment", help="deployment id")
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="transparency record as JSON")
    fmt.add_argument("--markdown", action="store_true",
                     help="transparency record as Markdown")
    parser.add_argument("--data-dir", default=None, help="data folder (./data)")
    parser.add_argument("--db-url", default=None, help="SQLAlchemy async URL")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import sys
    import time

    import msgspec

    from server.domain.stats import one_in, percent
    from server.domain.transparency import to_markdown
    from server.services.transparency import transparency_record
    from server.settings import load_settings
    from server.store.db import Database
    from server.store.models import Deployment

    settings = load_settings(data_dir=args.data_dir, db_url=args.db_url)

    async def main() -> int:
        db = Database(settings.database_url)
        try:
            await db.migrate()
            async with db.sessions() as session:
                dep = await session.get(Deployment, args.deployment)
                if dep is None:
                    print(f"no such deployment: {args.deployment}", file=sys.stderr)
                    return 2
                record = await transparency_record(session, dep, time.time())
        finally:
            await db.close()
        if args.json:
            sys.stdout.write(msgspec.json.format(msgspec.json.encode(record).decode()) + "\n")
        elif args.markdown:
            sys.stdout.write(to_markdown(record))
        else:
            s = record.stats
            print(f"deployment {dep.id} ({record.deployment.name}), {record.deployment.place}")
            for label, value in [
                ("faces processed", s.faces_processed), ("frames refused", s.frames_refused),
                ("alerts", s.alerts), ("dismissed", s.dismissed),
                ("not located", s.not_located), ("confirmed", s.confirmed),
                ("not the person", s.not_the_person), ("outdated entry", s.outdated_entry),
                ("open", s.open),
            ]:
                print(f"  {label:<16} {value:>10,}")
            print(f"  false alert rate {percent(s.false_alert_rate, 4):>10} "
                  f"({s.false_alerts} / {s.faces_processed:,} faces, "
                  f"{one_in(s.false_alert_rate)})")
            print(f"  precision        {percent(s.precision):>10} "
                  f"({s.confirmed} / {s.adjudicated} adjudicated alerts)")
        return 0

    return asyncio.run(main())
