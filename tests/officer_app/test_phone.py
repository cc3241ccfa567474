"""The officer app in Debian's Chromium at 360x740, on the fake engine (the face is not the
point here; ``test_browser.py`` streams a real one): what the card shows, how it reads (size,
contrast, names, focus order) in both schemes, decline with a reason, off duty, unpairing from
the phone, installability, and the pairing QR code as a phone camera would read it."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from server.officer_app.demo import PHONE_CALL_SIGN, phone_pairing_line
from server.officer_app.static_files import FILES, STATIC
from shared.protocol.base import MATCH_NOTICE, OUTCOMES
from tests.governance.helpers import send_frame
from tests.officer_app.browser import (
    ARGS,
    CHROMIUM,
    PHONE,
    UI_WAIT_MS,
    Phone,
    officer_row,
    pair_phone,
    require_chromium,
)
from tests.officer_app.qr_read import read_qr
from tests.server.conftest import (
    Api,
    LiveServer,
    Photos,
    World,
    build_world,
    make_token,
    open_ws,
)
from tests.support.ws import WsClient

MIN_CONTRAST = 7.0
"""WCAG 2 level AAA for text (1.4.6): what "readable in sunlight" asks of every word shown."""
MIN_TARGET_PX = 44
"""WCAG 2.5.5 (AAA) touch target size, CSS pixels."""
MIN_PHOTO_SHARE = 0.4
"""Each photo at least 40 % of the screen's width, the two side by side: on a 360 px phone
about 2.3 cm each, the size of a passport photo."""

# For every element showing text of its own: its colour's contrast with the first opaque
# background behind it (WCAG relative luminance). Disabled controls are exempt (WCAG 1.4.3).
CONTRASTS_JS = """
() => {
  const rgba = (c) => {
    const p = c.match(/[\\d.]+/g).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const lum = ({ r, g, b }) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const behind = (el) => {
    for (let n = el; n; n = n.parentElement) {
      const c = rgba(getComputedStyle(n).backgroundColor);
      if (c.a > 0.5) return c;
    }
    return rgba(getComputedStyle(document.documentElement).backgroundColor);
  };
  const out = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].filter((n) => n.nodeType === 3)
      .map((n) => n.textContent.trim()).join(" ").trim();
    if (!own || !el.getClientRects().length || el.closest("[hidden]")) continue;
    if (el.closest("button:disabled")) continue;
    const style = getComputedStyle(el);
    if (style.visibility === "hidden" || style.opacity === "0") continue;
    const a = lum(rgba(style.color));
    const b = lum(behind(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    out.push({ text: own.slice(0, 40), ratio: Math.round(ratio * 100) / 100 });
  }
  return out;
}
"""

# Every visible control and image: its accessible name as a screen reader gets it (simplified:
# aria-label, associated label, text, alt) and its size.
CONTROLS_JS = """
() => [...document.querySelectorAll("button, input, a[href], img")]
  .filter((el) => el.getClientRects().length && !el.closest("[hidden]"))
  .map((el) => {
    const r = el.getBoundingClientRect();
    const label = el.getAttribute("aria-label") ||
      (el.labels && [...el.labels].map((l) => l.textContent).join(" ")) ||
      (el.tagName === "IMG" ? el.alt : el.textContent);
    return { tag: el.tagName, name: (label || "").trim(), w: r.width, h: r.height,
             skip: el.classList.contains("skip") };
  })
"""

FOCUSED_JS = """
() => {
  const el = document.activeElement;
  return el && el !== document.body ?
    (el.getAttribute("aria-label") || el.textContent || el.id).trim() : null;
}
"""


async def until(check: Any, what: str) -> None:
    """Poll an async check every 0.1 s for up to a minute."""
    for _ in range(600):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def paired(world: World, browser: Browser, key: str = "pc1", *,
                 near: bool = True, **context: Any) -> Phone:
    """Officer ``key``'s phone, paired from a dispatcher's link; with ``near`` it stands 230 m
    from the camera and shares its location (tapped, as an officer would)."""
    made = await world.api["dispatcher"].call(
        "POST", f"/api/officers/{world.ids[key]}/pairing", 201)
    if near:
        context.update(permissions=["geolocation"], geolocation={
            "latitude": world.lat + 0.002, "longitude": world.lon + 0.001})
    phone = await pair_phone(browser, made["link"], color_scheme="light", **context)
    assert made["code"] not in phone.page.url
    if near:
        await phone.page.get_by_role("button", name="Share my location on duty").click()
        await expect(phone.page.locator("#share-msg")).to_contain_text(
            "Sharing while on duty", timeout=UI_WAIT_MS)

        async def located() -> bool:
            return (await officer_row(world, world.ids[key])).lat is not None
        await until(located, "the officer's position on the server")
    return phone


async def assigned_alert(world: World, photos: Photos, phone: Phone, key: str = "pc1",
                         note: str = "Grey jacket, walking towards the station"
                         ) -> tuple[str, WsClient]:
    """A frame of the subject raises an alert; a dispatcher assigns it to ``key`` with a note.
    Returns the alert id and the dispatcher's socket."""
    assert (await send_frame(world, photos.frame_subject))["status"] == "processed"
    card = phone.page.locator("article.card")
    await expect(card).to_have_count(1, timeout=UI_WAIT_MS)
    alert_id = await card.get_attribute("data-alert")
    assert alert_id
    dispatcher, _ = await open_ws(world.server, "/ws/dispatch", world.tokens["dispatcher"])
    await dispatcher.send({"type": "assign", "ref": 1, "alert_id": alert_id,
                           "officer_id": world.ids[key]})
    await dispatcher.send({"type": "note", "ref": 2, "alert_id": alert_id, "text": note})
    await expect(card).to_contain_text(note, timeout=UI_WAIT_MS)
    await expect(card.get_by_role("button", name="Accept")).to_be_visible()
    return alert_id, dispatcher


async def reads_well(page: Page, scheme: str) -> None:
    """Size, contrast, names and touch targets of what is on the page in one scheme."""
    await page.emulate_media(color_scheme=scheme)
    width = await page.evaluate("window.innerWidth")
    assert width == PHONE["width"]
    assert await page.evaluate("document.documentElement.scrollWidth") <= width, (
        f"{scheme}: the page scrolls sideways")
    low = [c for c in await page.evaluate(CONTRASTS_JS) if c["ratio"] < MIN_CONTRAST]
    assert low == [], f"{scheme}: text under {MIN_CONTRAST}:1"
    for control in await page.evaluate(CONTROLS_JS):
        assert control["name"], f"{scheme}: a {control['tag']} without an accessible name"
        if control["tag"] in ("BUTTON", "INPUT") and not control["skip"]:
            assert control["h"] >= MIN_TARGET_PX, f"{scheme}: {control} is too small to tap"
            assert control["w"] >= MIN_TARGET_PX, f"{scheme}: {control} is too small to tap"


async def test_card_shows_everything_and_reads_at_360x740_in_both_schemes(
    app_live: LiveServer, photos: Photos, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    world = await build_world(app_live, photos)
    phone = await paired(world, browser)
    page = phone.page
    alert_id, dispatcher = await assigned_alert(world, photos, phone)
    alert = await world.api["dispatcher"].call("GET", f"/api/alerts/{alert_id}")
    card = page.locator(f"#alert-{alert_id}")

    # Everything the issue lists, with the server's own values.
    await expect(card.locator(".badge")).to_have_text("Assigned to you")
    await expect(card.locator(".cat")).to_have_text("Wanted: serious crime")
    await expect(card.locator(".name")).to_have_text("Subject A")
    await expect(card.locator(".sim")).to_contain_text(
        f"Similarity {alert['similarity']:.2f} (threshold {alert['threshold']:.2f})")
    facts = {k.strip(): v.strip() for k, v in zip(
        await card.locator(".facts dt").all_inner_texts(),
        await card.locator(".facts dd").all_inner_texts(), strict=True)}
    assert facts["Reason"] == "warrant 123"
    assert facts["Where"] == "Oxford Circus N — Oxford Circus"
    assert facts["From you"] == "230 m S"  # 222 m south, 69 m west: 230 m at 197 degrees
    assert facts["First seen"].endswith("s ago · 1 sighting")
    assert facts["Reference"] == "REF-Subject A · photo 2024-01-02"
    await expect(card.locator(".notice")).to_have_text(MATCH_NOTICE)
    await expect(card.locator(".notes li")).to_have_text(
        ["Grey jacket, walking towards the station"])
    # An assignment is answered, never waved away: no Hide on it.
    await expect(card.get_by_role("button", name="Hide")).to_have_count(0)

    # Both photos loaded, side by side, each at least 40 % of the screen's width.
    await page.wait_for_function(
        "() => [...document.querySelectorAll('img.photo')].every(i => i.naturalWidth > 0)",
        timeout=UI_WAIT_MS)
    boxes = [await img.bounding_box() for img in await card.locator("img.photo").all()]
    probe, reference = (box for box in boxes if box is not None)
    for box in (probe, reference):
        assert box["width"] >= MIN_PHOTO_SHARE * PHONE["width"], box
    assert probe["y"] == reference["y"]
    assert probe["x"] + probe["width"] <= reference["x"]

    for scheme in ("light", "dark"):
        await reads_well(page, scheme)
    await page.emulate_media(color_scheme="light")

    # One-handed: with the card's top on screen, Accept and Decline are already in reach at
    # the bottom, no scrolling needed.
    await page.evaluate("window.scrollTo(0, 0)")
    for name in ("Accept", "Decline…"):
        box = await card.get_by_role("button", name=name).bounding_box()
        assert box is not None
        assert box["y"] + box["height"] <= PHONE["height"], f"{name} is below the screen"
        assert box["y"] >= PHONE["height"] / 2, f"{name} is out of a thumb's reach"

    # Keyboard focus follows the screen from top to bottom (from a fresh load, so that no
    # earlier tap sets where it starts).
    await page.reload()
    await expect(card.get_by_role("button", name="Accept")).to_be_visible(timeout=UI_WAIT_MS)
    order: list[str] = []
    for _ in range(12):
        await page.keyboard.press("Tab")
        label = await page.evaluate(FOCUSED_JS)
        order.append(label)
        if label == "Unpair this phone":
            break
    assert order == ["Skip to alerts", "Available", "Busy", "Off duty", "Accept", "Decline…",
                     "Stop sharing my location", "Turn on notifications", "Unpair this phone"]

    # Accept: the dispatcher sees when, and who; the resolve form offers the protocol's outcomes.
    await card.get_by_role("button", name="Accept").click()
    updated = await dispatcher.recv_type("alert_updated")
    while updated["alert"]["state"] != "accepted":
        updated = await dispatcher.recv_type("alert_updated")
    accepted = [e for e in updated["alert"]["events"] if e["action"] == "accepted"]
    assert [e["actor"] for e in accepted] == [world.ids["pc1"]]
    assert accepted[0]["at"] >= alert["first_seen"]
    await expect(card.get_by_role("button", name="Resolve")).to_be_visible(timeout=UI_WAIT_MS)
    assert await card.locator("[data-outcome]").evaluate_all(
        "bs => bs.map(b => b.dataset.outcome)") == list(OUTCOMES)
    await expect(card.get_by_role("button", name="Resolve")).to_be_disabled()
    for scheme in ("light", "dark"):
        await reads_well(page, scheme)

    # Neither the pairing code nor the token ever travels in a URL.
    token = (await phone.stored())["credential"]["token"]
    assert [u for u in phone.urls if token in u or "pair=" in u] == []
    assert token not in caplog.text  # nor in the server's logs
    await dispatcher.close()
    await phone.context.close()
    assert phone.errors == []


async def test_decline_from_the_phone_needs_a_reason_and_returns_the_alert(
    app_live: LiveServer, photos: Photos, browser: Browser
) -> None:
    world = await build_world(app_live, photos)
    phone = await paired(world, browser)
    alert_id, dispatcher = await assigned_alert(world, photos, phone)
    card = phone.page.locator(f"#alert-{alert_id}")
    await card.get_by_role("button", name="Decline…").click()
    # "Decline" with an empty reason goes nowhere: the reason field gets the focus.
    await card.get_by_role("button", name="Decline", exact=True).click()
    await expect(card.get_by_label("Other reason")).to_be_focused()
    assert phone.sent_of("decline") == []
    await card.get_by_role("button", name="Too far away").click()

    back = await dispatcher.recv_type("alert_updated")
    while back["alert"]["state"] != "new":
        back = await dispatcher.recv_type("alert_updated")
    assert back["alert"]["assigned_officer_id"] is None
    assert back["alert"]["events"][-1]["action"] == "declined"
    assert back["alert"]["events"][-1]["detail"] == "Too far away"
    await expect(phone.page.locator("article.card")).to_have_count(0, timeout=UI_WAIT_MS)
    await dispatcher.close()
    await phone.context.close()
    assert phone.errors == []


async def test_off_duty_stops_location_and_alerts_and_available_resumes_them(
    app_live: LiveServer, photos: Photos, browser: Browser
) -> None:
    world = await build_world(app_live, photos)
    pc1 = world.ids["pc1"]
    phone = await paired(world, browser, near=False, permissions=["geolocation"],
                         geolocation={"latitude": world.lat + 0.002,
                                      "longitude": world.lon + 0.001})
    page = phone.page
    # Nothing asks for the location until the officer taps the button.
    assert await page.evaluate("[window.watches.size, window.asked]") == [0, 0]
    assert phone.sent_of("position") == []
    await page.get_by_role("button", name="Share my location on duty").click()
    await expect(page.locator("#share-msg")).to_contain_text("Sharing while on duty",
                                                             timeout=UI_WAIT_MS)
    assert await page.evaluate("window.watches.size") == 1

    await page.get_by_role("button", name="Off duty").click()
    await expect(page.get_by_role("button", name="Off duty")).to_have_attribute(
        "aria-pressed", "true")

    async def off() -> bool:
        return (await officer_row(world, pc1)).status == "off_duty"
    await until(off, "the server to see the officer off duty")
    assert await page.evaluate("window.watches.size") == 0
    await expect(page.locator("#share-msg")).to_have_text(
        "Off duty: your location is not shared.")
    positions = len(phone.sent_of("position"))

    # An alert at the camera 230 m away is not routed to an officer off duty.
    dispatcher, _ = await open_ws(app_live, "/ws/dispatch", world.tokens["dispatcher"])
    assert (await send_frame(world, photos.frame_subject))["status"] == "processed"
    raised = await dispatcher.recv_type("alert_raised")
    token = (await phone.stored())["credential"]["token"]
    officer_api = Api(app_live.http, token)
    assert (await officer_api.call("GET", f"/api/alerts/{raised['alert']['id']}", 404))
    await expect(page.locator("article.card")).to_have_count(0)
    assert len(phone.sent_of("position")) == positions

    # Back on duty: location again (the choice to share was kept), status on the server.
    await page.get_by_role("button", name="Available").click()

    async def available() -> bool:
        return (await officer_row(world, pc1)).status == "available"
    await until(available, "the server to see the officer available")
    await expect(page.locator("#share-msg")).to_contain_text("Sharing while on duty",
                                                             timeout=UI_WAIT_MS)
    assert await page.evaluate("window.watches.size") == 1
    await officer_api.close()
    await dispatcher.close()
    await phone.context.close()
    assert phone.errors == []


async def test_unpairing_from_the_phone_ends_its_access_and_wipes_it(
    app_live: LiveServer, photos: Photos, browser: Browser
) -> None:
    world = await build_world(app_live, photos)
    phone = await paired(world, browser, near=False)
    page = phone.page
    token = (await phone.stored())["credential"]["token"]
    page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
    await page.get_by_role("button", name="Unpair this phone").click()
    await expect(page.locator("#ended-title")).to_be_visible(timeout=UI_WAIT_MS)
    await expect(page.locator("#ended-why")).to_have_text("You unpaired this phone.")
    for scheme in ("light", "dark"):
        await reads_well(page, scheme)
    assert await phone.stored() is None
    # The service worker's cache holds the app's own files only (no alert, no photo).
    cached = await page.evaluate("""async () => {
      const out = [];
      for (const name of await caches.keys()) {
        for (const r of await (await caches.open(name)).keys()) out.push(new URL(r.url).pathname);
      }
      return out;
    }""")
    assert cached
    assert {path.removeprefix("/officer/") or "index.html" for path in cached} <= set(FILES)
    await Api(app_live.http, token).call("GET", "/api/push/key", 401)
    # A reload finds nothing: the pairing screen.
    await page.reload()
    await expect(page.locator("#pair-title")).to_be_visible(timeout=UI_WAIT_MS)
    for scheme in ("light", "dark"):
        await reads_well(page, scheme)
    await phone.context.close()
    assert phone.errors == []


async def test_app_is_installable(app_live: LiveServer, photos: Photos,
                                  tmp_path: Path) -> None:
    require_chromium()
    world = await build_world(app_live, photos)
    made = await world.api["dispatcher"].call(
        "POST", f"/api/officers/{world.ids['pc1']}/pairing", 201)
    # A profile on disk: Chromium offers no installation in a private (incognito) context,
    # which is what a plain new context is.
    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), args=ARGS,
            viewport=PHONE)
        page = context.pages[0] if context.pages else await context.new_page()
        await page.goto(made["link"])
        await expect(page.locator("#conn")).to_have_text("Online", timeout=UI_WAIT_MS)
        await page.evaluate("navigator.serviceWorker.ready")
        cdp = await context.new_cdp_session(page)
        manifest = await cdp.send("Page.getAppManifest")
        installable = await cdp.send("Page.getInstallabilityErrors")
        # Each icon is the size the manifest says.
        sizes = []
        for icon in (await (await page.request.get(
                f"{app_live.http}/officer/manifest.webmanifest")).json())["icons"]:
            body = await (await page.request.get(f"{app_live.http}/officer/{icon['src']}")).body()
            image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_UNCHANGED)
            sizes.append((f"{image.shape[1]}x{image.shape[0]}", icon["sizes"]))
        await context.close()
    assert manifest["errors"] == []
    assert installable["installabilityErrors"] == []
    assert [got for got, said in sizes if got != said] == []


async def test_rest_pairing_qr_code_reads_as_the_link(
    app_live: LiveServer, photos: Photos, browser: Browser
) -> None:
    world = await build_world(app_live, photos)
    made = await world.api["dispatcher"].call(
        "POST", f"/api/officers/{world.ids['pc1']}/pairing", 201)
    page = await browser.new_page()
    await page.set_content(made["qr_svg"])
    shot = await page.locator("svg").screenshot()
    await page.close()
    image = cv2.imdecode(np.frombuffer(shot, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert read_qr(image) == made["link"]


def test_service_worker_keeps_every_file_of_the_shell() -> None:
    """Each file the server serves at /officer/ is in the service worker's offline list (a file
    left out breaks the app offline), and nothing else is."""
    listed = re.search(r"const SHELL = \[(.*?)\];", (STATIC / "sw.js").read_text(), re.S)
    assert listed is not None
    shell = {name.replace("./", "") or "index.html"
             for name in re.findall(r'"([^"]*)"', listed.group(1))}
    assert shell == set(FILES) - {"sw.js"}


async def test_demo_pairing_line_pairs_a_browser_as_the_demo_officer(
    app_live: LiveServer, browser: Browser
) -> None:
    """What ``vigil demo`` prints for a phone: a working one-time link for PC 4512."""
    _, admin = await make_token(app_live.settings, "admin", "root")
    _, dispatcher = await make_token(app_live.settings, "dispatcher", "disp")
    async with httpx.AsyncClient(base_url=app_live.http, timeout=60) as client:
        line = await phone_pairing_line(client, admin, dispatcher)
    found = re.search(r"officer app (\S+)", line)
    assert found is not None, line
    assert re.fullmatch(re.escape(app_live.http) + r"/officer/#pair=\w{4}-\w{4}-\w{4}",
                        found.group(1))
    phone = await pair_phone(browser, found.group(1))
    await expect(phone.page.locator("#callsign")).to_have_text(PHONE_CALL_SIGN)
    await phone.context.close()


async def axe_violations(page: Page, axe: str) -> list[str]:
    """axe-core's violations on the page as it is, in both colour schemes."""
    found = []
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        await page.evaluate(axe)  # by the devtools protocol: the page's CSP does not apply
        result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        found += [f"{scheme}: {v['id']} ({v['impact']}) at {[n['target'] for n in v['nodes']]}"
                  for v in result["violations"]]
    await page.emulate_media(color_scheme="light")
    return found


async def test_every_screen_passes_axe_core(
    app_live: LiveServer, photos: Photos, browser: Browser
) -> None:
    """Deque's axe-core rules (WCAG 2 A/AA and best practices) on each screen an officer
    meets: pairing, alerts, an assignment, its decline form, the resolve form, unpaired."""
    axe_package = pytest.importorskip(
        "axe_playwright_python", reason="axe-playwright-python is a test dependency: make install")
    axe = (Path(axe_package.__file__).parent / "axe.min.js").read_text()
    world = await build_world(app_live, photos)
    phone = await paired(world, browser)
    page = phone.page
    seen = {"alerts": await axe_violations(page, axe)}
    _, dispatcher = await assigned_alert(world, photos, phone)
    await page.wait_for_function(
        "() => [...document.querySelectorAll('img.photo')].every(i => i.naturalWidth > 0)",
        timeout=UI_WAIT_MS)
    seen["assignment"] = await axe_violations(page, axe)
    await page.get_by_role("button", name="Decline…").click()
    seen["decline form"] = await axe_violations(page, axe)
    await page.get_by_role("button", name="Decline…").click()
    await page.get_by_role("button", name="Accept").click()
    await expect(page.get_by_role("button", name="Resolve")).to_be_visible(timeout=UI_WAIT_MS)
    seen["resolve form"] = await axe_violations(page, axe)
    page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
    await page.get_by_role("button", name="Unpair this phone").click()
    await expect(page.locator("#ended-title")).to_be_visible(timeout=UI_WAIT_MS)
    seen["unpaired"] = await axe_violations(page, axe)
    await page.get_by_role("button", name="Pair again").click()
    await expect(page.locator("#pair-title")).to_be_visible()
    seen["pairing"] = await axe_violations(page, axe)
    await dispatcher.close()
    await phone.context.close()
    assert {screen: v for screen, v in seen.items() if v} == {}
