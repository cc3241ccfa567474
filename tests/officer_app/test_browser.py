"""The officer app in a real browser (Debian's Chromium via Playwright) against the real
server: pair from the link, get an alert raised by streaming a real face, see both photos,
accept, resolve while offline and see it reach the server once back online, reload without a
duplicate, and lose access at once on revocation."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.governance.helpers import send_frame
from tests.officer_app.browser import ARTEFACTS, PHONE, officer_row
from tests.server.conftest import LiveServer, Photos, World, build_world, open_ws

UI_WAIT_MS = 60_000

# The scenario streams a real face and the card shows real photos: the dlib engine.
pytestmark = pytest.mark.real_engine


async def alert_state(world: World, alert_id: str) -> str:
    alert = await world.api["dispatcher"].call("GET", f"/api/alerts/{alert_id}")
    return str(alert["state"])


async def wait_state(world: World, alert_id: str, state: str) -> None:
    seen = ""
    for _ in range(600):
        seen = await alert_state(world, alert_id)
        if seen == state:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"alert stayed {seen}, wanted {state}")


async def photos_loaded(page: Page, alert_id: str) -> list[int]:
    widths: list[int] = await page.eval_on_selector_all(
        f'#alert-{alert_id} img.photo', "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
    return widths


async def test_officer_app_end_to_end(app_live: LiveServer, photos: Photos,
                                      browser: Browser) -> None:
    world = await build_world(app_live, photos)
    pc1 = world.ids["pc1"]
    made = await world.api["dispatcher"].call("POST", f"/api/officers/{pc1}/pairing", 201)
    context = await browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
        color_scheme="light", permissions=["geolocation"],
        geolocation={"latitude": world.lat + 0.002, "longitude": world.lon + 0.001})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    frames: list[dict[str, Any]] = []
    page.on("websocket", lambda ws: ws.on(
        "framereceived", lambda f: frames.append(json.loads(f)) if isinstance(f, str) else None))

    # Pair from the link; the code leaves the address bar at once.
    await page.goto(made["link"])
    await expect(page.locator("#conn")).to_have_text("Online", timeout=UI_WAIT_MS)
    assert "#pair" not in page.url
    assert made["code"] not in page.url
    stored = await page.evaluate("localStorage.getItem('vigil.officer.v1')")
    assert json.loads(stored)["credential"]["officer_id"] == pc1

    # Location is asked on a tap, with what is shared said plainly.
    await expect(page.locator("#share-text")).to_contain_text("latitude, longitude")
    await page.get_by_role("button", name="Share my location on duty").click()
    await expect(page.locator("#share-msg")).to_contain_text("Sharing while on duty",
                                                             timeout=UI_WAIT_MS)
    for _ in range(300):
        if (await officer_row(world, pc1)).lat is not None:
            break
        await asyncio.sleep(0.1)
    assert (await officer_row(world, pc1)).lat == pytest.approx(world.lat + 0.002)

    # A real face streamed by the camera raises an alert routed to this officer.
    assert (await send_frame(world, photos.frame_subject))["status"] == "processed"
    card = page.locator("article.card")
    await expect(card).to_have_count(1, timeout=UI_WAIT_MS)
    alert_id = await card.get_attribute("data-alert")
    assert alert_id
    await expect(card).to_contain_text("not by itself grounds for arrest")
    await expect(card).to_contain_text("Subject A")

    # The dispatcher assigns it with a note.
    dispatcher, _ = await open_ws(app_live, "/ws/dispatch", world.tokens["dispatcher"])
    await dispatcher.send({"type": "assign", "ref": 1, "alert_id": alert_id, "officer_id": pc1})
    await dispatcher.send({"type": "note", "ref": 2, "alert_id": alert_id,
                           "text": "Grey jacket, walking towards the station"})
    await expect(card).to_contain_text("Grey jacket", timeout=UI_WAIT_MS)
    await expect(card.get_by_role("button", name="Accept")).to_be_visible()
    await page.wait_for_function(
        "() => [...document.querySelectorAll('img.photo')].every(i => i.naturalWidth > 0)",
        timeout=UI_WAIT_MS)
    assert all(w > 0 for w in await photos_loaded(page, alert_id))
    # The camera is 222 m south and 69 m west of the officer: 230 m, bearing 197 degrees.
    await expect(card).to_contain_text("230 m S")

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        await page.screenshot(path=str(ARTEFACTS / f"card-{scheme}.png"))
        # The whole page in a window as tall as it, so that the sticky Accept/Decline bar sits
        # where it ends up after scrolling instead of over the card's middle.
        height = await page.evaluate("document.documentElement.scrollHeight")
        await page.set_viewport_size({"width": PHONE["width"], "height": height})
        await page.screenshot(path=str(ARTEFACTS / f"card-{scheme}-page.png"))
        await page.set_viewport_size({"width": PHONE["width"], "height": PHONE["height"]})
    await page.emulate_media(color_scheme="light")

    # Reload: the card comes back once, and the server replays nothing already handled.
    last_seq = json.loads(await page.evaluate(
        "localStorage.getItem('vigil.officer.v1')"))["lastSeq"]
    assert last_seq >= 3
    frames.clear()
    await page.reload()
    await expect(page.locator("#conn")).to_have_text("Online", timeout=UI_WAIT_MS)
    await expect(page.locator("article.card")).to_have_count(1)
    replayed = [f for f in frames if isinstance(f.get("seq"), int) and f["seq"] <= last_seq]
    assert replayed == []

    # Offline a while: what the dispatcher adds meanwhile waits on the server and arrives once
    # when the phone is back.
    await context.set_offline(True)
    # Drop the live socket as a lost network would (offline emulation keeps open sockets).
    app_live.app.state.hub.sessions[pc1].close(1001, "network lost")
    await expect(page.locator("#conn")).not_to_have_text("Online", timeout=UI_WAIT_MS)
    await dispatcher.send({"type": "note", "ref": 3, "alert_id": alert_id,
                           "text": "Now wearing a red cap"})
    while (await dispatcher.recv_type("result"))["ref"] != 3:
        pass
    frames.clear()
    await context.set_offline(False)
    await expect(card.locator(".notes li")).to_have_text(
        ["Grey jacket, walking towards the station", "Now wearing a red cap"],
        timeout=UI_WAIT_MS)
    noted = [f for f in frames if f.get("type") == "alert_updated"
             and f["alert"]["events"][-1]["detail"] == "Now wearing a red cap"]
    assert len(noted) == 1

    # Accept: the officer becomes busy.
    await page.get_by_role("button", name="Accept").click()
    await wait_state(world, alert_id, "accepted")
    assert (await officer_row(world, pc1)).status == "busy"
    await expect(page.get_by_role("button", name="Resolve")).to_be_visible(timeout=UI_WAIT_MS)

    # Offline: the resolution is kept on the phone, then reaches the server on reconnect.
    await context.set_offline(True)
    # Drop the live socket as a lost network would (offline emulation keeps open sockets).
    app_live.app.state.hub.sessions[pc1].close(1001, "network lost")
    await expect(page.locator("#conn")).not_to_have_text("Online", timeout=UI_WAIT_MS)
    await page.get_by_role("button", name="Not the person").click()
    await page.get_by_label("Note (optional)").fill("Similar build, different face")
    await page.get_by_role("button", name="Resolve").click()
    await expect(card).to_contain_text("sent when back online")
    assert await alert_state(world, alert_id) == "accepted"
    # Still offline, the app opens again from the service worker's cache, the queued action
    # kept on the phone.
    await page.reload()
    await expect(page.locator("article.card")).to_contain_text("sent when back online",
                                                               timeout=UI_WAIT_MS)
    await context.set_offline(False)
    await wait_state(world, alert_id, "resolved")
    resolved = await world.api["dispatcher"].call("GET", f"/api/alerts/{alert_id}")
    assert resolved["outcome"] == "not_the_person"
    # Sent once, though the queue survived a reload and a reconnection.
    assert [e["detail"] for e in resolved["events"] if e["action"] == "resolved"] == [
        "outcome=not_the_person Similar build, different face"]
    await expect(page.locator("article.card")).to_have_count(0, timeout=UI_WAIT_MS)
    assert (await officer_row(world, pc1)).status == "available"

    # Revocation ends the app's access at once and leaves nothing on the phone.
    await world.api["admin"].call("POST", f"/api/accounts/{pc1}/revoke")
    await expect(page.locator("#ended")).to_be_visible(timeout=UI_WAIT_MS)
    assert await page.evaluate("localStorage.getItem('vigil.officer.v1')") is None
    await dispatcher.close()
    await context.close()
    # The only console errors allowed: reconnection attempts while the phone was offline.
    assert [e for e in errors if "ERR_INTERNET_DISCONNECTED" not in e] == []


async def test_openapi_page_renders_with_no_request_leaving_the_server(
    app_live: LiveServer, browser: Browser
) -> None:
    page = await browser.new_page()
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    await page.goto(f"{app_live.http}/schema")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text(
        "Vigil", timeout=UI_WAIT_MS)
    await expect(page.locator(".opblock-tag-section").first).to_be_visible()
    assert requested
    assert [u for u in requested if not u.startswith(app_live.http)] == []
    await page.close()


async def test_app_shell_has_a_strict_content_security_policy(app_live: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=app_live.http) as client:
        page = await client.get("/officer/")
        assert page.status_code == 200
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "http" not in csp  # no third-party host
        assert (await client.get("/officer")).headers["location"] == "/officer/"
        assert (await client.get("/officer/../server/app.py")).status_code == 404
        assert (await client.get("/officer/sw.js")).headers["service-worker-allowed"] == (
            "/officer/")
        manifest = (await client.get("/officer/manifest.webmanifest")).json()
        for icon in manifest["icons"]:
            got = await client.get(f"/officer/{icon['src']}")
            assert got.status_code == 200
            assert got.content.startswith(b"\x89PNG")


async def test_service_worker_shows_a_push_as_a_notification_without_name_or_photo(
    app_live: LiveServer, photos: Photos, browser: Browser
) -> None:
    world = await build_world(app_live, photos)
    made = await world.api["dispatcher"].call(
        "POST", f"/api/officers/{world.ids['pc2']}/pairing", 201)
    context = await browser.new_context(viewport=PHONE, permissions=["notifications"])
    page = await context.new_page()
    await page.goto(made["link"])
    await expect(page.locator("#conn")).to_have_text("Online", timeout=UI_WAIT_MS)
    await page.evaluate("navigator.serviceWorker.ready")
    cdp = await context.new_cdp_session(page)
    registrations: list[str] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: registrations.extend(
        r["registrationId"] for r in e["registrations"] if r["scopeURL"].endswith("/officer/")))
    await cdp.send("ServiceWorker.enable")
    for _ in range(100):
        if registrations:
            break
        await asyncio.sleep(0.1)
    assert registrations
    # With the app closed (no visible window), a push becomes a notification.
    await page.goto("about:blank")
    await cdp.send("ServiceWorker.deliverPushMessage", {
        "origin": app_live.http, "registrationId": registrations[0],
        "data": json.dumps({"type": "alert_waiting", "seq": 7})})
    await page.goto(f"{app_live.http}/officer/")
    shown: list[dict[str, str]] = []
    for _ in range(100):
        shown = await page.evaluate(
            "navigator.serviceWorker.ready.then(r => r.getNotifications())"
            ".then(ns => ns.map(n => ({title: n.title, body: n.body, tag: n.tag})))")
        if shown:
            break
        await asyncio.sleep(0.1)
    assert shown == [{"title": "Vigil: an alert is waiting", "body": "Open Vigil to see it.",
                      "tag": "vigil-alert"}]
    await context.close()
