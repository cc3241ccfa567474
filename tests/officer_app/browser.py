"""Debian's Chromium driven by Playwright for Python (never Playwright's own browser build,
which cannot be downloaded here), and a phone: a browser context paired from a link, with what
its page sent and received over the websocket and every URL it requested."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, WebSocket, expect

from server.store.models import Officer
from tests.server.conftest import World

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artefacts" / "officer_app"
"""Screenshots of the alert card (gitignored), kept for a person to look at."""
PHONE = {"width": 360, "height": 740}
UI_WAIT_MS = 60_000
STORAGE_KEY = "vigil.officer.v1"


def require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing (make test installs Debian's chromium)")


@dataclass
class Phone:
    """One paired browser context at 360x740 and what went over its wire."""

    context: BrowserContext
    page: Page
    sent: list[dict[str, Any]] = field(default_factory=list)
    """Messages the app sent on its websocket(s)."""
    received: list[dict[str, Any]] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    """Every URL the page asked for (documents, scripts, REST, photos, websocket)."""
    errors: list[str] = field(default_factory=list)
    """Uncaught page errors and console errors."""

    async def stored(self) -> Any:
        """What the app keeps in localStorage (None when nothing)."""
        raw = await self.page.evaluate(f"localStorage.getItem('{STORAGE_KEY}')")
        return None if raw is None else json.loads(raw)

    def sent_of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m.get("type") == kind]


def _decode(frame: str | bytes) -> dict[str, Any] | None:
    if not isinstance(frame, str):
        return None
    value = json.loads(frame)
    return value if isinstance(value, dict) else None


WATCH_COUNTER = """
(() => {
  const geo = navigator.geolocation;
  const watch = geo.watchPosition.bind(geo), clear = geo.clearWatch.bind(geo);
  window.watches = new Set();
  geo.watchPosition = (...a) => { const id = watch(...a); window.watches.add(id); return id; };
  geo.clearWatch = (id) => { window.watches.delete(id); clear(id); };
  const ask = geo.getCurrentPosition.bind(geo);
  window.asked = 0;
  geo.getCurrentPosition = (...a) => { window.asked += 1; return ask(...a); };
})();
"""
"""Counts the page's live geolocation watches in ``window.watches`` (the browser has no API to
list them), installed before any of the app's scripts runs."""


async def pair_phone(browser: Browser, link: str, **context: Any) -> Phone:
    """Open a pairing link in a new phone-sized context and wait until the app is online."""
    ctx = await browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True,
                                    has_touch=True, **context)
    await ctx.add_init_script(WATCH_COUNTER)
    page = await ctx.new_page()
    phone = Phone(ctx, page)
    page.on("pageerror", lambda e: phone.errors.append(str(e)))
    page.on("console", lambda m: phone.errors.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: phone.urls.append(r.url))

    def watch(ws: WebSocket) -> None:
        phone.urls.append(ws.url)
        ws.on("framesent", lambda f: phone.sent.extend(m for m in [_decode(f)] if m))
        ws.on("framereceived", lambda f: phone.received.extend(m for m in [_decode(f)] if m))

    page.on("websocket", watch)
    await page.goto(link)
    await expect(page.locator("#conn")).to_have_text("Online", timeout=UI_WAIT_MS)
    return phone


async def officer_row(world: World, officer_id: str) -> Officer:
    """The officer's row as the server stored it (status, last position)."""
    rt = world.server.runtime  # type: ignore[attr-defined]
    async with rt.db.sessions() as session:
        row = await session.get(Officer, officer_id)
        assert row is not None
        return row
