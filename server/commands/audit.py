"""``vigil audit verify`` and ``vigil audit export``: check and copy the hash-chained log.

``verify`` exits 0 when the chain is intact and prints its head hash (record it elsewhere: a
later verify must reach it again); it exits 1 and names the first bad record otherwise.
``export`` writes the log as JSON lines to ``--out`` (default: standard output).
"""

from __future__ import annotations

import argparse


def seq_argument(text: str) -> int:
    """A record seq for ``--after-seq``: 0 to 2^63 - 1 (what the store's integers hold)."""
    from shared.protocol.limits import MAX_INT64

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= MAX_INT64:
        raise argparse.ArgumentTypeError(f"must be 0 to {MAX_INT64}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    subs = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = subs.add_parser("verify", help="check the hash chain; exit 1 at the first bad "
                             "record")
    export = subs.add_parser("export", help="write the log as JSON lines")
    export.add_argument("--out", default=None, help="file to write (default: stdout)")
    export.add_argument("--after-seq", type=seq_argument, default=0,
                        help="only records after this seq (incremental copies)")
    for sub in (verify, export):
        sub.add_argument("--data-dir", default=None, help="data folder (./data)")
        sub.add_argument("--db-url", default=None, help="SQLAlchemy async URL")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import sys
    from typing import BinaryIO

    from server.settings import load_settings
    from server.store.audit import export_lines, verify
    from server.store.db import Database

    settings = load_settings(data_dir=args.data_dir, db_url=args.db_url)

    async def main(out: BinaryIO) -> int:
        db = Database(settings.database_url)
        try:
            await db.migrate()
            async with db.sessions() as session:
                if args.action == "verify":
                    report = await verify(session)
                    if report.ok:
                        print(f"audit log intact: {report.records} records, head "
                              f"{report.head_seq} {report.head_hash}")
                        return 0
                    print(f"AUDIT LOG BROKEN at record {report.bad_seq} ({report.problem}): "
                          f"{report.message}", file=sys.stderr)
                    return 1
                n = 0
                async for line in export_lines(session, after_seq=args.after_seq):
                    out.write(line)
                    n += 1
                print(f"exported {n} records", file=sys.stderr)
                return 0
        finally:
            await db.close()

    if args.action == "export" and args.out:
        with open(args.out, "wb") as out:
            return asyncio.run(main(out))
    return asyncio.run(main(sys.stdout.buffer))
