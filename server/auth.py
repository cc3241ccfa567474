"""Accounts, bearer tokens and role guards.

Tokens are random (``secrets.token_urlsafe``), shown once when created and stored only as
their sha256. Every REST call names the roles allowed to make it with :func:`roles`; websockets
authenticate the token of their ``hello`` with :func:`authenticate`.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.errors import Forbidden, Unauthorised, VigilError
from server.store.models import Account, Cursor, Officer
from shared.protocol.base import ROLES, Role
from shared.protocol.limits import MAX_EPOCH

TOKEN_PREFIX = "vgl_"
NAME_MAX = 200
"""Longest account name (characters)."""
CALL_SIGN_MAX = 64
"""Longest officer call sign (characters)."""


class Principal(msgspec.Struct, frozen=True):
    """The authenticated caller."""

    account_id: str
    name: str
    role: Role
    expires_at: float | None = None
    """When the token stops being valid (epoch seconds); open sockets close then (4001)."""


def hash_token(token: str) -> str:
    """sha256 of a token, hex (what the store keeps)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_id(prefix: str) -> str:
    """A random, URL-safe identifier with a readable prefix (``alr-3f2a...``)."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


async def create_account(
    session: AsyncSession,
    *,
    role: str,
    name: str,
    now: float,
    expires_at: float | None = None,
    call_sign: str | None = None,
) -> tuple[Account, str]:
    """Create an account and its token; the caller shows the token once and forgets it.

    Returns:
        The account row (added to the session, not committed) and the clear-text token.

    Raises:
        VigilError: ``bad_role`` for a role outside the closed list, ``bad_name`` for an
            empty name or one over 200 characters, ``call_sign_too_long`` for an officer's
            call sign (the name when none is given) over 64 characters, ``bad_expiry`` for
            an ``expires_at`` that is not a time up to the end of year 9999 (NaN included).
    """
    if role not in ROLES:
        raise VigilError("bad_role", f"role must be one of {', '.join(ROLES)}")
    # The same bounds as the REST body's and the store's columns (the CLI comes here too; on
    # PostgreSQL a longer value would fail the insert instead).
    if not 1 <= len(name) <= NAME_MAX:
        raise VigilError("bad_name", f"name must be 1 to {NAME_MAX} characters")
    if expires_at is not None and not 0.0 <= expires_at <= MAX_EPOCH:  # also refuses NaN
        raise VigilError("bad_expiry", "expires_at must be epoch seconds, at most the end of "
                         "year 9999")
    if role == "officer" and len(call_sign or name) > CALL_SIGN_MAX:
        raise VigilError("call_sign_too_long",
                         f"an officer's call sign (default: the name) holds at most "
                         f"{CALL_SIGN_MAX} characters")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    account = Account(
        id=new_id(role[:3]),
        name=name,
        role=role,
        token_hash=hash_token(token),
        created_at=now,
        expires_at=expires_at,
        revoked=False,
    )
    session.add(account)
    session.add(Cursor(account_id=account.id, last_seq=0, acked_seq=0))
    if role == "officer":
        await session.flush()
        session.add(Officer(id=account.id, call_sign=call_sign or name, status="available"))
    return account, token


async def authenticate(session: AsyncSession, token: str | None, now: float) -> Principal:
    """Look a bearer token up.

    Raises:
        Unauthorised: no token, unknown, revoked or expired token.
    """
    if not token:
        raise Unauthorised()
    row = (
        await session.execute(select(Account).where(Account.token_hash == hash_token(token)))
    ).scalar_one_or_none()
    if row is None or row.revoked:
        raise Unauthorised("unknown or revoked token")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthorised("token expired")
    return Principal(row.id, row.name, row.role, expires_at=row.expires_at)


def bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header, if any."""
    header = connection.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


Guard = Callable[
    [ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Coroutine[Any, Any, None]
]


def roles(*allowed: Role) -> Guard:
    """A Litestar guard admitting only the given roles; it leaves the caller's
    :class:`Principal` in ``connection.state.principal`` for the handler."""

    async def guard(
        connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler
    ) -> None:
        runtime = connection.app.state.runtime
        async with runtime.db.sessions() as session:
            principal = await authenticate(session, bearer(connection), runtime.clock())
        if principal.role not in allowed:
            raise Forbidden(f"role {principal.role} may not do that")
        connection.state.principal = principal

    return guard


def principal_of(request: Request[Any, Any, Any]) -> Principal:
    """The caller admitted by the guard (dependency provider)."""
    principal: Principal = request.state.principal
    return principal
