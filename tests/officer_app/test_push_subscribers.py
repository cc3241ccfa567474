"""Which officers have a push subscription is kept in memory (most deliveries then cost no
query), and every committed change to the subscriptions reaches the very next delivery."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import delete

from server.auth import create_account
from server.officer_app.models import PushSubscription
from server.officer_app.push import Pusher, PushPayload, VapidKeys
from server.runtime import open_runtime
from server.store.outbox import Staged
from tests.fakes.engine import FakeEngine
from tests.server.test_alert_card import Recording
from tests.support.live import make_settings


async def test_a_new_or_removed_subscription_counts_at_the_next_alert(tmp_path: Path) -> None:
    async with open_runtime(make_settings(tmp_path), publisher=Recording(),
                            engine=FakeEngine()) as rt:
        async with rt.db.sessions() as session, session.begin():
            officer, _ = await create_account(session, role="officer", name="pc1",
                                              now=rt.clock())
        pusher = Pusher(rt, VapidKeys(rt.settings.data_path))
        pushed: list[tuple[str, int]] = []

        async def push_one(sub: PushSubscription, payload: PushPayload) -> None:
            pushed.append((sub.endpoint, payload.seq))

        pusher.push_one = push_one  # type: ignore[method-assign]
        seq = 0

        async def deliver() -> None:
            nonlocal seq
            seq += 1
            pusher.on_deliver([Staged(officer.id, seq,
                                      b'{"type":"alert_raised","seq":%d,"alert":{}}' % seq)])
            for _ in range(50):  # the pushes run in the background
                await asyncio.sleep(0.01)

        def subscription(endpoint: str) -> Any:
            return PushSubscription(endpoint=endpoint, account_id=officer.id, p256dh="k",
                                    auth="a", created_at=rt.clock())

        await deliver()  # nobody subscribed: nothing pushed, and now it is known
        assert pushed == []
        async with rt.db.sessions() as session, session.begin():
            session.add(subscription("https://push.example/phone"))
        await deliver()
        assert pushed == [("https://push.example/phone", 2)]
        async with rt.db.sessions() as session, session.begin():
            await session.execute(delete(PushSubscription))
        await deliver()
        assert pushed == [("https://push.example/phone", 2)]
