"""A push service on 127.0.0.1 for the tests (no public one is reachable): it takes RFC 8030
pushes, checks the VAPID authorisation (RFC 8292) and decrypts the body (RFC 8291) with the
subscription's private keys, as a browser's push service and the browser would."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import http_ece
from aiohttp import web
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Subscriber:
    """A browser's side of a subscription: its ECDH key pair and auth secret."""

    endpoint: str
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(
        ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    def subscription(self) -> dict[str, Any]:
        """What ``PushSubscription.toJSON()`` gives the app to post to the server."""
        public = self.key.public_key().public_bytes(Encoding.X962,
                                                    PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "keys": {"p256dh": b64e(public),
                                                    "auth": b64e(self.auth)}}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    """Header names in lower case."""
    payload: dict[str, Any]
    vapid_claims: dict[str, Any]
    vapid_key: str
    at: float


def verify_vapid(header: str) -> tuple[dict[str, Any], str]:
    """Check ``vapid t=JWT, k=KEY``: ES256 signature by KEY. Returns the claims and KEY."""
    scheme, _, rest = header.partition(" ")
    assert scheme == "vapid", header
    parts = dict(p.strip().split("=", 1) for p in rest.split(","))
    token, key = parts["t"], parts["k"]
    head, body, sig = token.split(".")
    raw = b64d(sig)
    signature = encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                     int.from_bytes(raw[32:], "big"))
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64d(key))
    public.verify(signature, f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    assert json.loads(b64d(head))["alg"] == "ES256"
    return json.loads(b64d(body)), key


class PushService:
    """``POST /push/<name>``: 201 for a live subscription, 410 for one marked gone."""

    def __init__(self) -> None:
        self.subscribers: dict[str, Subscriber] = {}
        self.gone: set[str] = set()
        self.received: list[Received] = []
        self.arrived = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.base = ""

    def subscriber(self, name: str) -> Subscriber:
        sub = Subscriber(f"{self.base}/push/{name}")
        self.subscribers[name] = sub
        return sub

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name in self.gone:
            return web.Response(status=410)
        sub = self.subscribers[name]
        body = await request.read()
        claims, key = verify_vapid(request.headers["Authorization"])
        plain = http_ece.decrypt(body, private_key=sub.key, auth_secret=sub.auth,
                                 version="aes128gcm")
        headers = {k.lower(): v for k, v in request.headers.items()}  # names are case-blind
        self.received.append(Received(name, headers, json.loads(plain), claims,
                                      key, time.monotonic()))
        self.arrived.set()
        return web.Response(status=201)

    async def __aenter__(self) -> PushService:
        app = web.Application()
        app.router.add_post("/push/{name}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()
