"""Photos on the officer's alert card: the probe crop and the reference photo side by side.

Drawn with textual-image, the library behind the dispatcher console's photo widget, as rich
renderables (the officer client is a plain rich console): Kitty or Sixel graphics where the
terminal supports them, coloured half-blocks elsewhere. Photos stay in memory, never on disk.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from shared.protocol.alerts import AlertView

Fetch = Callable[[str], Awaitable[bytes]]
"""Downloads a photo by its REST path; raises on failure (the reason is shown instead)."""

PHOTO_CELLS = (24, 12)
"""Width and height of each photo, in terminal cells."""


def photo(data: bytes | None, problem: str = "") -> RenderableType:
    """One photo as a renderable, or the reason it is missing."""
    if data is None:
        return Text(problem or "no photo", style="dim")
    from PIL import Image as PILImage
    from textual_image.renderable import Image

    try:
        picture = PILImage.open(io.BytesIO(data))
        picture.load()
    except Exception as exc:  # a photo that does not decode is shown as such
        return Text(f"photo unreadable: {exc}", style="dim")
    width, height = PHOTO_CELLS
    return Image(picture, width=width, height=height)


def side_by_side(probe: RenderableType, reference: RenderableType) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column()
    grid.add_column()
    grid.add_row(Text("probe (camera)", style="bold"), Text("reference photo", style="bold"))
    grid.add_row(probe, reference)
    return grid


async def alert_photos(alert: AlertView, fetch: Fetch) -> Table:
    """Fetch both photos of an alert and lay them out side by side."""

    async def one(url: str) -> RenderableType:
        if not url:
            return photo(None)
        try:
            return photo(await fetch(url))
        except Exception as exc:  # any failure is shown where the photo would be
            return photo(None, f"photo unavailable: {exc}")

    probe, reference = await asyncio.gather(one(alert.probe_url), one(alert.reference_url))
    return side_by_side(probe, reference)


def http_fetcher(server: str, token: str, timeout_s: float = 10.0) -> Fetch:
    """Photos over REST with the officer's own token (officers see only their alerts)."""

    async def fetch(url: str) -> bytes:
        import httpx

        from tui.connection import http_url

        full = url if url.startswith(("http://", "https://")) else (
            http_url(server) + "/" + url.lstrip("/"))
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            response = await client.get(full, headers={"Authorization": f"Bearer {token}"})
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")
        return response.content

    return fetch
