"""``vigil demo``: one extra officer for a real phone, with a pairing link to open on it."""

from __future__ import annotations

import httpx

PHONE_CALL_SIGN = "PC 4512"


async def phone_pairing_line(client: httpx.AsyncClient, admin: str, dispatcher: str) -> str:
    """Create the phone's officer account and a one-time pairing link for it.

    Args:
        client: a client of the demo server (its ``base_url`` is the server's).
        admin: an admin token (creates the account).
        dispatcher: a dispatcher token (issues the pairing code, as on duty).

    Returns:
        The line the demo prints.
    """
    made = await client.post("/api/accounts", headers={"Authorization": f"Bearer {admin}"},
                             json={"role": "officer", "name": PHONE_CALL_SIGN,
                                   "call_sign": PHONE_CALL_SIGN})
    made.raise_for_status()
    pairing = await client.post(f"/api/officers/{made.json()['account_id']}/pairing",
                                headers={"Authorization": f"Bearer {dispatcher}"})
    pairing.raise_for_status()
    return (f"  officer app {pairing.json()['link']}  (pairs a phone or browser as "
            f"{PHONE_CALL_SIGN}; one use, 10 min)")
