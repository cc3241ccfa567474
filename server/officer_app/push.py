"""Web Push to officers' phones (RFC 8030 delivery, RFC 8291 encryption, RFC 8292 VAPID).

The server generates its VAPID key pair once and keeps it in the data dir. A paired phone
registers its browser's push subscription; whenever a durable ``alert_raised`` or
``alert_assigned`` is committed for an officer, each of that officer's subscriptions gets a
push whose payload says only that an alert is waiting (no face image, no name, no place): the
app opens and fetches the card over its authenticated websocket. A push service answering 404
or 410 means the subscription is gone: it is deleted.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Sequence
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from py_vapid import Vapid02
from pywebpush import WebPushException, webpush_async
from sqlalchemy import delete, select

from server.officer_app.models import PushSubscription
from server.runtime import Runtime
from server.store.commit_watch import CommitWatch
from server.store.outbox import Staged

log = logging.getLogger("vigil.push")

VAPID_FILE = "vapid_private.pem"
PUSH_TTL_S = 600
"""A push the phone could not take within ten minutes is dropped by the push service: by then
the alert is on the screen anyway the next time the app connects (it resumes from the outbox)."""
PUSH_URGENCY = "high"
"""RFC 8030 section 5.3: deliver at once even on a phone saving battery."""
PUSH_TIMEOUT_S = 10.0
VAPID_SUBJECT = "mailto:vigil-operator@localhost"
"""The contact a push service may use about this server's traffic (RFC 8292 ``sub``)."""

PUSHED_TYPES = frozenset({"alert_raised", "alert_assigned"})


class PushPayload(msgspec.Struct, frozen=True, kw_only=True):
    """What the phone receives: that something is waiting, nothing about anyone."""

    type: str = "alert_waiting"
    seq: int
    """The durable message's seq (the app resumes from its own last seq anyway)."""


class _Tagged(msgspec.Struct):
    type: str


_tag = msgspec.json.Decoder(_Tagged)


def b64url(data: bytes) -> str:
    """Unpadded base64url, as the Push API writes keys."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class VapidKeys:
    """The server's VAPID key pair, created on first use in the data dir (mode 0600)."""

    def __init__(self, data_dir: Path) -> None:
        path = data_dir / VAPID_FILE
        if path.exists():
            self.vapid = Vapid02.from_file(str(path))
        else:
            data_dir.mkdir(parents=True, exist_ok=True)
            self.vapid = Vapid02()
            self.vapid.generate_keys()
            self.vapid.save_key(str(path))
            path.chmod(0o600)

    @property
    def public_key(self) -> str:
        """The application server key a browser subscribes with (uncompressed P-256)."""
        raw = self.vapid.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return b64url(raw)


def waiting_pushes(staged: Sequence[Staged]) -> list[tuple[str, PushPayload]]:
    """(account, payload) for each committed message worth waking a phone for."""
    out = []
    for item in staged:
        try:
            kind = _tag.decode(item.payload).type
        except msgspec.DecodeError:
            continue
        if kind in PUSHED_TYPES:
            out.append((item.account_id, PushPayload(seq=item.seq)))
    return out


class Pusher:
    """Sends pushes for committed deliveries (called by the hub; never blocks it).

    Which accounts have a subscription at all is kept in memory and read again after any
    committed write to the subscriptions (:class:`~server.store.commit_watch.CommitWatch`):
    most deliveries (dispatchers, officers without a paired phone) then cost no query.
    """

    def __init__(self, runtime: Runtime, keys: VapidKeys) -> None:
        self.runtime = runtime
        self.keys = keys
        self.sent = 0
        self.removed = 0
        self._subscribed: frozenset[str] | None = None
        self._generation = 0
        self._watch = CommitWatch(runtime.db.session_class, {"push_subscriptions"},
                                  self._forget_subscribed)

    def on_deliver(self, staged: Sequence[Staged]) -> None:
        """Hub listener: schedule the pushes of these deliveries in the background."""
        subscribed = self._subscribed
        if subscribed is not None:
            staged = [item for item in staged if item.account_id in subscribed]
        pushes = waiting_pushes(staged)
        if pushes:
            self.runtime.spawn(self.push_all(pushes), "web-push")

    def _forget_subscribed(self) -> None:
        self._generation += 1
        self._subscribed = None

    async def _load_subscribed(self) -> None:
        generation = self._generation
        async with self.runtime.db.sessions() as session:
            accounts = frozenset((await session.execute(
                select(PushSubscription.account_id).distinct())).scalars())
        if generation == self._generation:  # no subscription changed while reading
            self._subscribed = accounts

    async def push_all(self, pushes: list[tuple[str, PushPayload]]) -> None:
        if self._subscribed is None:
            await self._load_subscribed()
        accounts = {account for account, _ in pushes}
        async with self.runtime.db.sessions() as session:
            rows = (await session.execute(select(PushSubscription).where(
                PushSubscription.account_id.in_(accounts)))).scalars().all()
        by_account: dict[str, list[PushSubscription]] = {}
        for row in rows:
            by_account.setdefault(row.account_id, []).append(row)
        jobs = [self.push_one(sub, payload) for account, payload in pushes
                for sub in by_account.get(account, [])]
        if jobs:
            await asyncio.gather(*jobs)

    async def push_one(self, sub: PushSubscription, payload: PushPayload) -> None:
        """Encrypt and post one push; a gone subscription (404/410) is deleted."""
        info: dict[str, str | bytes | dict[str, str | bytes]] = {
            "endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}
        try:
            await webpush_async(
                info, data=msgspec.json.encode(payload).decode(),
                vapid_private_key=self.keys.vapid, vapid_claims={"sub": VAPID_SUBJECT},
                ttl=PUSH_TTL_S, headers={"Urgency": PUSH_URGENCY}, timeout=PUSH_TIMEOUT_S)
        except WebPushException as exc:
            status = exc.status_code
            if status in (404, 410):
                await self.forget(sub.endpoint)
            else:
                log.warning("push to officer %s failed: status %s", sub.account_id, status)
            return
        except (OSError, TimeoutError, ValueError) as exc:
            log.warning("push to officer %s failed: %s", sub.account_id, type(exc).__name__)
            return
        self.sent += 1

    async def forget(self, endpoint: str) -> None:
        rt = self.runtime
        async with rt.write_lock, rt.db.sessions() as session, session.begin():
            await session.execute(delete(PushSubscription).where(
                PushSubscription.endpoint == endpoint))
        self.removed += 1
        log.info("push subscription removed (expired at the push service)")
