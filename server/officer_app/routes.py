"""REST of the officer web app: pairing codes (with QR), the exchange, unpairing, push
subscriptions."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import delete as sql_delete

from server.api.deps import PrincipalDep
from server.auth import roles
from server.errors import VigilError
from server.officer_app.models import PushSubscription
from server.officer_app.pairing import exchange_code, issue_code, pairing_link, unpair
from server.officer_app.qr import qr_svg
from server.runtime import Runtime


class PairingCreated(msgspec.Struct, frozen=True, kw_only=True):
    officer_id: str
    code: str
    """One-time code (also typed by hand in the app); only its hash is stored."""
    link: str
    """Open on the phone: ``/officer/#pair=CODE`` (the fragment never reaches a server)."""
    expires_at: float
    qr_svg: str
    """The link as a QR code (SVG document)."""


class PairingExchange(msgspec.Struct, frozen=True, kw_only=True):
    code: str


class PairedCredential(msgspec.Struct, frozen=True, kw_only=True):
    officer_id: str
    call_sign: str
    token: str
    """The officer's new token, for this phone only (earlier ones stop working)."""


class Unpaired(msgspec.Struct, frozen=True, kw_only=True):
    officer_id: str
    sessions_closed: int


class UnpairSelf(msgspec.Struct, frozen=True, kw_only=True):
    officer_id: str
    """The caller's own id: a confirmation that this call means to end the pairing."""


class PushKey(msgspec.Struct, frozen=True, kw_only=True):
    public_key: str
    """VAPID application server key (uncompressed P-256 point, base64url)."""


class PushKeys(msgspec.Struct, frozen=True, kw_only=True):
    p256dh: str
    auth: str


class PushSubscriptionIn(msgspec.Struct, frozen=True, kw_only=True):
    """The browser's ``PushSubscription.toJSON()`` (other fields are ignored)."""

    endpoint: str
    keys: PushKeys


def runtime_of(request: Request[Any, Any, Any]) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def base_url(request: Request[Any, Any, Any]) -> str:
    return str(request.base_url).rstrip("/")


async def end_pairing(rt: Runtime, officer_id: FromPath[str], actor: str, why: str) -> Unpaired:
    """Unpair an officer's phone and close its socket at once (4001)."""
    now = rt.clock()
    async with rt.write_lock, rt.db.sessions() as session, session.begin():
        await unpair(session, officer_id)
        await session.execute(sql_delete(PushSubscription).where(
            PushSubscription.account_id == officer_id))
        await rt.audit.record(session, actor=actor, action="officer_unpaired", at=now,
                              account_id=officer_id)
    closed = rt.publisher.close_account(officer_id, why)
    return Unpaired(officer_id=officer_id, sessions_closed=closed)


class OfficerPairingController(Controller):
    """Pairing codes, issued by an admin or a dispatcher for an officer."""

    path = "/api/officers"
    tags = ("officer app",)
    guards = (roles("admin", "dispatcher"),)

    @post("/{officer_id:str}/pairing", operation_id="createPairingCode", status_code=201)
    async def create_code(self, request: Request[Any, Any, Any], officer_id: FromPath[str],
                          principal: PrincipalDep) -> PairingCreated:
        """Issue a one-time pairing code (valid ten minutes) with its link and QR code."""
        rt = runtime_of(request)
        now = rt.clock()
        async with rt.write_lock, rt.db.sessions() as session, session.begin():
            code, expires = await issue_code(session, officer_id=officer_id,
                                             created_by=principal.account_id, now=now)
            await rt.audit.record(session, actor=principal.account_id,
                                  action="pairing_code_issued", at=now, account_id=officer_id)
        link = pairing_link(base_url(request), code)
        return PairingCreated(officer_id=officer_id, code=code, link=link, expires_at=expires,
                              qr_svg=qr_svg(link))

    @post("/{officer_id:str}/unpair", operation_id="unpairOfficer", status_code=200)
    async def unpair_officer(self, request: Request[Any, Any, Any], officer_id: FromPath[str],
                             principal: PrincipalDep) -> Unpaired:
        """End the officer's paired phone's access at once (its socket closes with 4001)."""
        return await end_pairing(runtime_of(request), officer_id, principal.account_id,
                                 "this phone was unpaired")


class PairingController(Controller):
    """The phone's side: spend a code, unpair itself."""

    path = "/api/pairing"
    tags = ("officer app",)

    @post("/exchange", operation_id="exchangePairingCode", status_code=200)
    async def exchange(self, request: Request[Any, Any, Any],
                       data: JSONBody[PairingExchange]) -> PairedCredential:
        """Trade a one-time pairing code for the officer's credential (no token needed)."""
        rt = runtime_of(request)
        if len(data.code) > 64:
            raise VigilError("pairing_invalid", "this pairing code is unknown, used or expired",
                             status=400)
        now = rt.clock()
        async with rt.write_lock, rt.db.sessions() as session, session.begin():
            account, token = await exchange_code(session, data.code, now)
            officer_id, call_sign = account.id, account.name
            await rt.audit.record(session, actor=officer_id, action="officer_paired", at=now,
                                  account_id=officer_id)
        # A phone paired earlier with this account loses it now.
        rt.publisher.close_account(officer_id, "paired on another device")
        return PairedCredential(officer_id=officer_id, call_sign=call_sign, token=token)

    @post("/unpair", operation_id="unpairSelf", status_code=200,
          guards=[roles("officer")])
    async def unpair_self(self, request: Request[Any, Any, Any], data: JSONBody[UnpairSelf],
                          principal: PrincipalDep) -> Unpaired:
        """The officer unpairs this phone (the credential stops working everywhere)."""
        if data.officer_id != principal.account_id:
            raise VigilError("bad_request", "officer_id must be your own id")
        return await end_pairing(runtime_of(request), principal.account_id,
                                 principal.account_id, "this phone was unpaired")


class PushController(Controller):
    """Web Push subscriptions of the calling officer."""

    path = "/api/push"
    tags = ("officer app",)
    guards = (roles("officer"),)

    @get("/key", operation_id="pushKey")
    async def key(self, request: Request[Any, Any, Any]) -> PushKey:
        """The server's VAPID public key, to subscribe with."""
        return PushKey(public_key=request.app.state.vapid.public_key)

    @post("/subscriptions", operation_id="addPushSubscription", status_code=201)
    async def subscribe(self, request: Request[Any, Any, Any], data: JSONBody[PushSubscriptionIn],
                        principal: PrincipalDep) -> None:
        """Store (or move to this officer) a browser's push subscription."""
        if not data.endpoint.startswith(("https://", "http://")) or len(data.endpoint) > 2000:
            raise VigilError("bad_subscription", "endpoint must be an http(s) URL")
        if len(data.keys.p256dh) > 200 or len(data.keys.auth) > 64:
            raise VigilError("bad_subscription", "subscription keys too long")
        rt = runtime_of(request)
        async with rt.write_lock, rt.db.sessions() as session, session.begin():
            row = await session.get(PushSubscription, data.endpoint)
            if row is None:
                session.add(PushSubscription(endpoint=data.endpoint,
                                             account_id=principal.account_id,
                                             p256dh=data.keys.p256dh, auth=data.keys.auth,
                                             created_at=rt.clock()))
            else:
                row.account_id = principal.account_id
                row.p256dh, row.auth = data.keys.p256dh, data.keys.auth

    @delete("/subscriptions", operation_id="removePushSubscription", status_code=204)
    async def unsubscribe(self, request: Request[Any, Any, Any], endpoint: FromQuery[str],
                          principal: PrincipalDep) -> None:
        """Forget one of the caller's push subscriptions (query parameter ``endpoint``)."""
        rt = runtime_of(request)
        async with rt.write_lock, rt.db.sessions() as session, session.begin():
            await session.execute(sql_delete(PushSubscription).where(
                PushSubscription.endpoint == endpoint,
                PushSubscription.account_id == principal.account_id))
