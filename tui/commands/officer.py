"""``vigil officer``: terminal client for a field officer (and for scripts and tests)."""

from __future__ import annotations

import argparse

from shared.protocol.base import OUTCOMES


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", required=True, help="server URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--token", required=True, help="the officer's token (role 'officer')")
    parser.add_argument("--lat", type=float, default=None, help="fixed position: latitude")
    parser.add_argument("--lon", type=float, default=None, help="fixed position: longitude")
    parser.add_argument("--walk", metavar="LAT,LON", default=None,
                        help="simulated foot patrol around this point")
    parser.add_argument("--status", choices=("available", "busy", "off_duty"),
                        default="available", help="status to report (default available)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON line per received message (no cards, no input)")
    parser.add_argument("--exit-after", type=int, default=0, metavar="N",
                        help="exit after N distinct alerts")
    parser.add_argument("--auto-accept", action="store_true",
                        help="accept every assignment as it arrives")
    parser.add_argument("--auto-resolve", choices=OUTCOMES, default=None,
                        help="with --auto-accept: resolve with this outcome")
    parser.add_argument("--images", choices=("auto", "none"), default="auto",
                        help="photos on alert cards: auto (graphics where the terminal "
                        "supports them, else coloured half-blocks) or none")
    parser.add_argument("--no-input", action="store_true",
                        help="do not read commands from stdin")
    parser.add_argument("--quiet", action="store_true", help="no status lines or summary")


def run(args: argparse.Namespace) -> int:
    import asyncio

    from tui.officer_cli import main

    return asyncio.run(main(args))
