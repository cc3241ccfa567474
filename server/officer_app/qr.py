"""QR codes of pairing links: SVG for the REST API, block characters for a terminal."""

from __future__ import annotations

import io

import segno

TERMINAL_COLOURS = "\x1b[97;40m"
"""Bright white characters on black (ANSI SGR). segno's compact drawing paints the *light*
modules with block characters and leaves the dark ones as the terminal's background, so it
reads only on a dark terminal; fixing both colours makes it read on a light one too (an
inverted code is one many phone cameras refuse)."""
TERMINAL_RESET = "\x1b[0m"


def qr_svg(link: str) -> str:
    """The link as a standalone SVG document (black on white, quiet zone included)."""
    out = io.BytesIO()
    segno.make(link, error="m").save(out, kind="svg", scale=6, border=4, xmldecl=False,
                                      dark="#000", light="#fff")
    return out.getvalue().decode("utf-8")


def qr_terminal(link: str) -> str:
    """The link as a QR code drawn with half-block characters (two modules per character
    row), dark on light whatever the terminal's own colours, for a phone camera to read."""
    out = io.StringIO()
    segno.make(link, error="m").terminal(out=out, compact=True, border=2)
    return "".join(f"{TERMINAL_COLOURS}{line}{TERMINAL_RESET}\n"
                   for line in out.getvalue().splitlines())
