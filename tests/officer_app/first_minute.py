"""An officer's first minute with the app, recorded in Debian's Chromium against ``vigil demo``.

Runs the demo headless, opens the pairing link it prints on a 360x740 phone standing 140 m
south of the demo's first camera, taps *Share my location on duty* and waits for the first
alert card. Screenshots (and the seconds since the link was opened) go to
``test-artefacts/officer_app/first-minute/``; ``--readme`` also replaces the README's card
screenshot, ``docs/officer-card.png``, with the first card in the light scheme.

    PYTHONPATH=. python -m tests.officer_app.first_minute [--readme]

Not a test (a person looks at the pictures); the browser tests assert what the card shows.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import sys
import time
from pathlib import Path

from playwright.async_api import Page, async_playwright, expect

from server.demo.provision import PLACES
from tests.officer_app.browser import ARGS, ARTEFACTS, CHROMIUM, PHONE
from tests.support.live import free_socket

OUT = ARTEFACTS / "first-minute"
README_CARD = Path(__file__).resolve().parents[2] / "docs" / "officer-card.png"
WAIT_MS = 120_000
DEMO_S = 240
"""The demo's run; alerts come as its scenes cycle (the phone sees only those raised after it
shared its location), within a minute or so on an idle machine."""


async def pairing_link(proc: asyncio.subprocess.Process, log: list[str]) -> str:
    """Read the demo's progress lines until the officer app's link."""
    assert proc.stderr is not None
    while True:
        raw = await asyncio.wait_for(proc.stderr.readline(), 300)
        if not raw:
            raise RuntimeError("the demo ended before printing a pairing link:\n" + "".join(log))
        line = raw.decode()
        log.append(line)
        found = re.search(r"officer app (\S+)", line)
        if found:
            return found.group(1)


async def shot(page: Page, name: str, started: float, notes: list[str]) -> None:
    await page.screenshot(path=str(OUT / f"{name}.png"))
    notes.append(f"{time.monotonic() - started:5.1f} s  {name}.png")


async def run(readme: bool) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with free_socket() as sock:
        port = sock.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server.cli", "demo", "--duration", str(DEMO_S), "--port", str(port),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    log: list[str] = []
    notes: list[str] = []
    try:
        link = await pairing_link(proc, log)
        camera = PLACES[0]
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            context = await browser.new_context(
                viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                color_scheme="light", permissions=["geolocation"],
                geolocation={"latitude": camera.lat - 0.00126, "longitude": camera.lon})
            page = await context.new_page()
            started = time.monotonic()
            await page.goto(link)
            await expect(page.locator("#conn")).to_have_text("Online", timeout=WAIT_MS)
            await shot(page, "1-paired", started, notes)
            await page.get_by_role("button", name="Share my location on duty").click()
            await expect(page.locator("#share-msg")).to_contain_text("Sharing while on duty",
                                                                     timeout=WAIT_MS)
            await shot(page, "2-sharing-location", started, notes)
            card = page.locator("article.card").first
            await expect(card).to_be_visible(timeout=1000 * DEMO_S)
            await page.wait_for_function(
                "() => [...document.querySelectorAll('article.card')[0]"
                ".querySelectorAll('img.photo')].every(i => i.naturalWidth > 0)",
                timeout=WAIT_MS)
            await shot(page, "3-first-alert", started, notes)
            await card.screenshot(path=str(OUT / "card-light.png"))
            await page.emulate_media(color_scheme="dark")
            await card.screenshot(path=str(OUT / "card-dark.png"))
            await page.emulate_media(color_scheme="light")
            await page.screenshot(path=str(OUT / "4-full-page.png"), full_page=True)
            notes.append(f"cards on screen: {await page.locator('article.card').count()}")
            await browser.close()
        if readme:
            shutil.copyfile(OUT / "card-light.png", README_CARD)
            notes.append(f"copied card-light.png to {README_CARD}")
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()
    print("\n".join(notes))
    print(f"screenshots in {OUT}")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readme", action="store_true",
                        help="also replace docs/officer-card.png with the first card")
    sys.exit(asyncio.run(run(parser.parse_args().readme)))


if __name__ == "__main__":
    main()
