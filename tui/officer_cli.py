"""The terminal side of ``vigil officer``: options, output, and the officer's typed commands."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from rich.console import Console

from tui.officer import Officer, OfficerOptions
from tui.officer_photos import http_fetcher
from tui.officer_view import (
    HELP,
    Accept,
    CardOutput,
    JsonLinesOutput,
    Resolve,
    SetStatus,
    Simple,
    parse_command,
)
from tui.signals import stop_on_signals


def parse_point(text: str) -> tuple[float, float]:
    """``LAT,LON`` -> (lat, lon).

    Raises:
        ValueError: not two numbers in range.
    """
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError(f"expected LAT,LON, got {text!r}")
    lat, lon = float(parts[0]), float(parts[1])
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"position out of range: {text!r}")
    return lat, lon


def options_from_args(args: argparse.Namespace) -> OfficerOptions:
    """Build validated options from ``vigil officer`` arguments.

    Raises:
        ValueError: inconsistent or out-of-range position arguments.
    """
    if (args.lat is None) != (args.lon is None):
        raise ValueError("--lat and --lon go together")
    if args.walk and args.lat is not None:
        raise ValueError("use either --lat/--lon or --walk")
    if args.lat is not None:
        parse_point(f"{args.lat},{args.lon}")
    return OfficerOptions(
        server=args.server, token=args.token, lat=args.lat, lon=args.lon,
        walk=parse_point(args.walk) if args.walk else None,
        status=args.status, exit_after=args.exit_after, auto_accept=args.auto_accept,
        auto_resolve=args.auto_resolve,
    )


async def _stdin_lines() -> asyncio.StreamReader | None:
    """A reader over stdin, or None when stdin cannot be read asynchronously."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    except (ValueError, OSError, NotImplementedError):
        return None
    return reader


async def _commands(officer: Officer, out: CardOutput, stop: asyncio.Event) -> None:
    reader = await _stdin_lines()
    if reader is None:
        return
    out.console.print(HELP)
    while not stop.is_set():
        raw = await reader.readline()
        if not raw:
            return  # stdin closed: keep running without commands
        command = parse_command(raw.decode(errors="replace"), officer.state)
        match command:
            case str():
                out.console.print(command)
            case Accept(alert_id=alert_id):
                await officer.accept(alert_id)
            case Resolve(alert_id=alert_id, outcome=outcome, note=note):
                await officer.resolve(alert_id, outcome, note)
            case SetStatus(status=status):
                try:
                    await officer.set_status(status)
                    out.console.print(f"status: {status}")
                except Exception as exc:  # not connected: say so, keep the client running
                    out.console.print(f"[red]status not sent[/]: {exc}")
            case Simple(name="list"):
                out.listing(officer.state)
            case Simple(name="quit"):
                stop.set()
            case _:
                out.console.print(HELP)


async def main(args: argparse.Namespace) -> int:
    """Run ``vigil officer``; 0 on a clean stop or ``--exit-after``, 1 when refused."""
    err = Console(stderr=True)
    try:
        options = options_from_args(args)
    except ValueError as exc:
        err.print(f"vigil officer: {exc}")
        return 2
    stop = stop_on_signals()
    console = Console()
    card: CardOutput | None = None
    if args.json:
        officer = Officer(options, JsonLinesOutput(quiet=args.quiet))
    else:
        photos = (None if args.images == "none"
                  else http_fetcher(options.server, options.token))
        card = CardOutput(console, lambda: officer.position, photos)
        officer = Officer(options, card)
    reader = (asyncio.create_task(_commands(officer, card, stop))
              if card is not None and not args.no_input else None)
    try:
        summary = await officer.run(stop)
    finally:
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    if not args.quiet:
        err.print(f"{summary.alerts} alert(s), {summary.accepted} accepted, "
                  f"{summary.resolved} resolved; last seq {summary.last_seq}; "
                  f"stopped: {summary.reason}", highlight=False)
    return 0 if summary.reason in ("stopped", "exit_after") else 1
