"""Web Push end to end: the server encrypts and signs a push for an officer's subscription
when an alert is routed to them; a push service on 127.0.0.1 checks the VAPID signature
against the server's key and decrypts the payload with the subscription's keys. The payload
carries no image and no name; TTL and Urgency are set; a gone subscription is removed."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select

from server.officer_app.models import PushSubscription
from server.officer_app.push import PUSH_TTL_S, VAPID_FILE
from tests.governance.helpers import send_frame
from tests.officer_app.push_service import PushService
from tests.server.conftest import Api, LiveServer, Photos, build_world, open_ws


async def test_alert_reaches_the_officers_push_service_encrypted_and_signed(
    app_live: LiveServer, photos: Photos
) -> None:
    world = await build_world(app_live, photos)
    pc1 = Api(app_live.http, world.tokens["pc1"])
    key = (await pc1.call("GET", "/api/push/key"))["public_key"]
    assert (app_live.settings.data_path / VAPID_FILE).stat().st_mode & 0o077 == 0

    async with PushService() as service:
        phone = service.subscriber("phone")
        old = service.subscriber("old-browser")
        service.gone.add("old-browser")
        await pc1.call("POST", "/api/push/subscriptions", 201, json=phone.subscription())
        await pc1.call("POST", "/api/push/subscriptions", 201, json=old.subscription())
        # Another officer's subscription is never pushed for pc1's alert.
        other = service.subscriber("pc2")
        await Api(app_live.http, world.tokens["pc2"]).call(
            "POST", "/api/push/subscriptions", 201, json=other.subscription())

        # pc1 stands by the camera (pc2 has no position): the alert is routed to pc1 only.
        officer, _ = await open_ws(app_live, "/ws/officer", world.tokens["pc1"])
        await officer.send({"type": "position", "lat": world.lat + 0.001, "lon": world.lon})
        await officer.send({"type": "ping", "ref": 1})
        await officer.recv_type("pong")
        sent = time.monotonic()
        assert (await send_frame(world, photos.frame_subject))["status"] == "processed"
        raised = await officer.recv_type("alert_raised")
        on_socket = time.monotonic()
        await asyncio.wait_for(service.arrived.wait(), 60)
        [push] = service.received
        # Reported, never asserted (timings belong to `make bench`).
        print(f"push arrived {1000 * (push.at - sent):.0f} ms after the frame was sent, "
              f"{1000 * (push.at - on_socket):.0f} ms after the alert reached the socket")

        assert push.path == "phone"
        assert push.payload == {"type": "alert_waiting", "seq": raised["seq"]}
        assert push.vapid_key == key
        assert push.vapid_claims["aud"] == service.base
        assert push.vapid_claims["sub"].startswith("mailto:")
        assert push.vapid_claims["exp"] > time.time()
        assert push.headers["ttl"] == str(PUSH_TTL_S)
        assert push.headers["urgency"] == "high"
        assert push.headers["content-encoding"] == "aes128gcm"
        alert = raised["alert"]
        for secret in (alert["display_name"], alert["subject_ref"], alert["camera_name"],
                       alert["id"]):
            assert secret not in str(push.payload)

        # The gone subscription (410) is removed; the live one stays.
        rt = app_live.runtime
        for _ in range(300):
            async with rt.db.sessions() as session:
                left = set((await session.execute(
                    select(PushSubscription.endpoint))).scalars())
            if old.endpoint not in left:
                break
            await asyncio.sleep(0.1)
        assert left == {phone.endpoint, other.endpoint}
        await officer.close()
    await pc1.close()
