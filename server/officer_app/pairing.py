"""Pairing a phone with an officer account: one-time codes, the exchange, unpairing.

An admin or dispatcher asks for a pairing code for an officer; the server keeps only its
sha256, for ``PAIRING_TTL_S`` seconds, single use. The pairing link carries the code in the
URL *fragment* (``/officer/#pair=CODE``), which browsers never send to a server, so the code
never reaches an access log. The phone posts the code to ``/api/pairing/exchange`` and gets a
freshly issued token for the officer's account: the account's previous token stops working
(one paired device per officer) and any socket it held is closed with 4001. Unpairing
replaces the token with one nobody holds, so the phone loses access at once.
"""

from __future__ import annotations

import secrets

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import TOKEN_PREFIX, hash_token
from server.errors import NotFound, VigilError
from server.officer_app.models import PairingCode
from server.store.models import Account, Officer

PAIRING_TTL_S = 600.0
"""A pairing code is refused ten minutes after it was issued."""

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
"""No 0/O, 1/I/L, U: a code read aloud or typed from a screen survives."""
CODE_GROUPS = 3
CODE_GROUP_LEN = 4
"""Three groups of four: 30^12 (about 2^59) codes, each valid once for ten minutes."""


def new_code() -> str:
    """A random pairing code such as ``K7QD-M2XA-9PRT``."""
    groups = ("".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_GROUP_LEN))
              for _ in range(CODE_GROUPS))
    return "-".join(groups)


def normalise_code(code: str) -> str:
    """Upper-case, separators and spaces dropped, regrouped: what the user typed, canonical."""
    raw = "".join(c for c in code.upper() if c.isalnum())
    return "-".join(raw[i:i + CODE_GROUP_LEN] for i in range(0, len(raw), CODE_GROUP_LEN))


def pairing_link(base_url: str, code: str) -> str:
    """The link a phone opens (the code sits in the fragment, never sent to the server)."""
    return f"{base_url.rstrip('/')}/officer/#pair={code}"


async def issue_code(
    session: AsyncSession, *, officer_id: str, created_by: str, now: float
) -> tuple[str, float]:
    """Create a one-time pairing code for an officer account.

    Earlier unused codes of the same officer are dropped: only the newest code works.

    Returns:
        The clear-text code (shown once) and its expiry (epoch seconds).

    Raises:
        NotFound: no such officer, or its account is revoked.
    """
    account = await session.get(Account, officer_id)
    if account is None or account.role != "officer" or account.revoked:
        raise NotFound("no such officer (or its account is revoked)")
    await session.execute(delete(PairingCode).where(PairingCode.account_id == officer_id))
    code = new_code()
    expires = now + PAIRING_TTL_S
    session.add(PairingCode(code_hash=hash_token(code), account_id=officer_id, created_at=now,
                            expires_at=expires, used_at=None, created_by=created_by))
    return code, expires


async def exchange_code(session: AsyncSession, code: str, now: float) -> tuple[Account, str]:
    """Spend a pairing code: the officer's account gets a new token, returned in clear once.

    Raises:
        VigilError: ``pairing_invalid`` (unknown, used or expired code, or a revoked account;
            one code for all so that a guesser learns nothing).
    """
    row = (await session.execute(
        select(PairingCode).where(PairingCode.code_hash == hash_token(normalise_code(code)))
    )).scalar_one_or_none()
    account = await session.get(Account, row.account_id) if row is not None else None
    if (row is None or row.used_at is not None or row.expires_at <= now or account is None
            or account.revoked):
        raise VigilError("pairing_invalid", "this pairing code is unknown, used or expired",
                         status=400)
    row.used_at = now
    token = rotate_token(account)
    return account, token


def rotate_token(account: Account) -> str:
    """Give the account a new random token and return it (the old one stops working)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    account.token_hash = hash_token(token)
    return token


async def unpair(session: AsyncSession, officer_id: str) -> Officer:
    """Replace the officer's token with one nobody holds and mark them off duty.

    Raises:
        NotFound: no such officer.
    """
    account = await session.get(Account, officer_id)
    officer = await session.get(Officer, officer_id)
    if account is None or officer is None:
        raise NotFound("no such officer")
    rotate_token(account)  # the new token is dropped here: no device holds it
    await session.execute(delete(PairingCode).where(PairingCode.account_id == officer_id))
    officer.status = "off_duty"
    return officer
