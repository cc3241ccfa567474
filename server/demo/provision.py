"""Setting up the demo through the server's own REST API, as an operator would.

Accounts for each role, two cameras at two street corners of one city, a watchlist enrolled
from the scene builder's reference photos, and an authorised deployment that is started.
Only the first admin account is created directly in the store (what ``vigil token create``
does); everything else goes through REST, so the demo exercises the real endpoints.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import msgspec

from server.auth import create_account
from server.demo.scenes import SceneSet
from server.runtime import Runtime


class Place(msgspec.Struct, frozen=True):
    key: str
    """Scene folder of the camera placed here."""
    camera_id: str
    name: str
    description: str
    lat: float
    lon: float


class OfficerSeat(msgspec.Struct, frozen=True):
    call_sign: str
    lat: float
    lon: float
    """Centre of the officer's simulated patrol."""
    radius_m: float


# Two street corners of one city (London's West End), about 750 m apart.
PLACES = (
    Place("a", "cam-oxford-circus", "Oxford Circus NE",
          "Oxford Street / Regent Street, north-east corner", 51.51540, -0.14160),
    Place("b", "cam-piccadilly-circus", "Piccadilly Circus",
          "Piccadilly Circus, by the Shaftesbury Memorial", 51.50995, -0.13470),
)
OFFICERS = (
    OfficerSeat("PC 1041", 51.51480, -0.14230, 180.0),  # near Oxford Circus
    OfficerSeat("PC 2217", 51.51050, -0.13540, 180.0),  # near Piccadilly Circus
    OfficerSeat("PC 3302", 51.51270, -0.13860, 120.0),  # Regent Street, between the two
)
NOTIFY_RADIUS_M = 600.0


class Tokens(msgspec.Struct, kw_only=True):
    admin: str
    watchlist_manager: str = ""
    authoriser: str = ""
    dispatcher: str = ""
    cameras: dict[str, str] = msgspec.field(default_factory=dict)
    """camera id -> token of its camera account."""
    officers: dict[str, str] = msgspec.field(default_factory=dict)
    """call sign -> token."""


class Provisioned(msgspec.Struct, kw_only=True):
    tokens: Tokens
    watchlist_id: str
    deployment_id: str
    entries: int


class ProvisionError(RuntimeError):
    """A REST call of the set-up failed (the message carries the server's code)."""


async def bootstrap_admin(runtime: Runtime) -> str:
    """Create the first admin account directly in the store; returns its token."""
    async with runtime.write_lock, runtime.db.sessions() as session, session.begin():
        _, token = await create_account(session, role="admin", name="demo admin",
                                        now=runtime.clock())
    return token


def _check(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 400:
        try:
            body = response.json()
            detail = f"{body.get('code')}: {body.get('message')}"
        except ValueError:
            detail = response.text[:200]
        raise ProvisionError(f"{what} failed (HTTP {response.status_code}) {detail}")
    return response.json()


async def _account(client: httpx.AsyncClient, admin: str, role: str, name: str,
                   call_sign: str | None = None) -> tuple[str, str]:
    body: dict[str, Any] = {"role": role, "name": name}
    if call_sign:
        body["call_sign"] = call_sign
    created = _check(await client.post("/api/accounts", json=body,
                                       headers=_auth(admin)), f"create {role} account")
    return str(created["account_id"]), str(created["token"])


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def provision(
    client: httpx.AsyncClient, admin: str, scenes: SceneSet, scene_dir: Path, *,
    duration_s: float | None,
) -> Provisioned:
    """Create accounts, cameras, the watchlist and a started deployment.

    Args:
        client: HTTP client whose ``base_url`` is the server.
        admin: the bootstrap admin token.
        scenes: the scene set (its subjects become the watchlist).
        scene_dir: folder the scene set was written to.
        duration_s: the run's length, if bounded (the deployment window covers it).

    Raises:
        ProvisionError: a call was refused (e.g. a reference photo failed enrolment).
    """
    tokens = Tokens(admin=admin)
    _, tokens.watchlist_manager = await _account(client, admin, "watchlist_manager",
                                                 "Demo watchlist manager")
    _, tokens.authoriser = await _account(client, admin, "authoriser",
                                          "Demo authorising officer")
    _, tokens.dispatcher = await _account(client, admin, "dispatcher", "Demo dispatcher")
    for place in PLACES:
        account_id, token = await _account(client, admin, "camera", f"camera {place.name}")
        _check(await client.post("/api/cameras", headers=_auth(admin), json={
            "id": place.camera_id, "name": place.name, "lat": place.lat, "lon": place.lon,
            "description": place.description, "account_id": account_id,
        }), f"register camera {place.camera_id}")
        tokens.cameras[place.camera_id] = token
    for seat in OFFICERS:
        _, tokens.officers[seat.call_sign] = await _account(
            client, admin, "officer", seat.call_sign, call_sign=seat.call_sign)

    now = time.time()
    watchlist = _check(await client.post("/api/watchlists", headers=_auth(
        tokens.watchlist_manager), json={
            "name": "Demo watchlist",
            "description": "Synthetic demo entries on public sample photos",
        }), "create watchlist")
    watchlist_id = str(watchlist["id"])
    for subject in scenes.subjects:
        photo = scene_dir / subject.enrol_photo
        form = {
            "subject_ref": subject.subject_ref, "display_name": subject.display_name,
            "category": subject.category, "justification": subject.reason,
            "legal_basis": subject.legal_basis, "image_source": subject.image_source,
            "image_date": subject.image_date, "expires_at": str(now + 7 * 86400),
        }
        files = {"photo": (photo.name, photo.read_bytes(), "application/octet-stream")}
        _check(await client.post(f"/api/watchlists/{watchlist_id}/entries", data=form,
                                 files=files, headers=_auth(tokens.watchlist_manager)),
               f"enrol {subject.display_name}")
    window = (duration_s or 8 * 3600) + 3600
    lat = sum(p.lat for p in PLACES) / len(PLACES)
    lon = sum(p.lon for p in PLACES) / len(PLACES)
    deployment = _check(await client.post("/api/deployments", headers=_auth(tokens.authoriser),
                                          json={
        "name": "Demo: West End search", "purpose": "locate_missing_or_victim",
        "place": "Oxford Circus to Piccadilly Circus, London", "lat": lat, "lon": lon,
        "camera_ids": [p.camera_id for p in PLACES], "watchlist_id": watchlist_id,
        "starts_at": now - 60, "ends_at": now + window, "notify_radius_m": NOTIFY_RADIUS_M,
    }), "create deployment")
    deployment_id = str(deployment["id"])
    _check(await client.post(f"/api/deployments/{deployment_id}/authorisation",
                             json={"authority_ref": "DEMO-AUTH-0001",
                                   "purpose": "locate_missing_or_victim"},
                             headers=_auth(tokens.authoriser)), "authorise deployment")
    _check(await client.post(f"/api/deployments/{deployment_id}/start",
                             headers=_auth(tokens.authoriser)), "start deployment")
    return Provisioned(tokens=tokens, watchlist_id=watchlist_id, deployment_id=deployment_id,
                       entries=len(scenes.subjects))
