"""The world builder: accounts and tokens, a camera, a watchlist with entries and a deployment
on a running server, and a small REST client per role."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from server.auth import create_account
from server.settings import Settings
from server.store.db import Database
from tests.support.live import ServerInfo
from tests.support.photos import Photos


async def make_token(settings: Settings, role: str, name: str,
                     expires_at: float | None = None) -> tuple[str, str]:
    """Create an account directly in the store (like ``vigil token create``)."""
    db = Database(settings.database_url)
    await db.migrate()
    async with db.sessions() as session, session.begin():
        account, token = await create_account(session, role=role, name=name, now=time.time(),
                                              expires_at=expires_at)
    await db.close()
    return account.id, token


class Api:
    """A tiny REST client with one token."""

    def __init__(self, base: str, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.AsyncClient(base_url=base, headers=headers, timeout=120)

    async def call(self, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        r = await self.client.request(method, path, **kw)
        assert r.status_code == expect, f"{method} {path}: {r.status_code} {r.text}"
        ctype = r.headers.get("content-type", "")
        return r.json() if ctype.startswith("application/json") else r.content

    async def close(self) -> None:
        await self.client.aclose()


@dataclass
class World:
    """A running server with accounts, a camera, a watchlist with one subject enrolled and
    an active deployment around the camera."""

    server: ServerInfo
    tokens: dict[str, str]
    ids: dict[str, str]
    api: dict[str, Api]
    camera_id: str
    watchlist_id: str
    entry_id: str
    deployment_id: str
    lat: float = 51.5074
    lon: float = -0.1278


async def build_world(server: ServerInfo, photos: Photos, *, start: bool = True,
                      second: bool = False, extra_cameras: int = 0) -> World:
    settings = server.settings
    tokens: dict[str, str] = {}
    ids: dict[str, str] = {}
    for role, name in [("admin", "root"), ("watchlist_manager", "wm"), ("authoriser", "supt"),
                       ("dispatcher", "disp"), ("officer", "pc1"), ("officer", "pc2"),
                       ("camera", "cam")]:
        key = name if role == "officer" else role
        ids[key], tokens[key] = await make_token(settings, role, name)
    api = {k: Api(server.http, t) for k, t in tokens.items()}
    cam = await api["admin"].call("POST", "/api/cameras", 201, json={
        "id": "cam-1", "name": "Oxford Circus N", "lat": 51.5074, "lon": -0.1278,
        "account_id": ids["camera"]})
    cameras = [cam["id"]]
    for i in range(extra_cameras):
        extra = await api["admin"].call("POST", "/api/cameras", 201, json={
            "id": f"cam-{i + 2}", "name": f"camera {i + 2}", "lat": 51.5074, "lon": -0.1278,
            "account_id": ids["camera"]})
        cameras.append(extra["id"])
    wl = await api["watchlist_manager"].call("POST", "/api/watchlists", 201,
                                             json={"name": "op-test"})
    entry = await enrol(api["watchlist_manager"], wl["id"], photos.subject, "Subject A")
    if second:
        await enrol(api["watchlist_manager"], wl["id"], photos.second_subject, "Subject B")
    now = time.time()
    dep = await api["authoriser"].call("POST", "/api/deployments", 201, json={
        "name": "test", "purpose": "locate_serious_crime_suspect", "place": "Oxford Circus",
        "lat": 51.5074, "lon": -0.1278, "camera_ids": cameras, "watchlist_id": wl["id"],
        "starts_at": now - 60, "ends_at": now + 3600, "notify_radius_m": 500})
    if start:
        # Governance (issue 4): no start without an authoriser's authorisation.
        await api["authoriser"].call("POST", f"/api/deployments/{dep['id']}/authorisation", 201,
                                     json={"authority_ref": "TEST-AUTH-1",
                                           "purpose": "locate_serious_crime_suspect"})
        await api["authoriser"].call("POST", f"/api/deployments/{dep['id']}/start")
    return World(server, tokens, ids, api, cam["id"], wl["id"], entry["id"], dep["id"])


async def authorise_and_start(authoriser: Api, deployment_id: str, purpose: str) -> None:
    """Record an authorisation (the governance layer requires one) and start."""
    await authoriser.call("POST", f"/api/deployments/{deployment_id}/authorisation", 201,
                          json={"authority_ref": "ORDER-1", "purpose": purpose})
    await authoriser.call("POST", f"/api/deployments/{deployment_id}/start")


async def enrol(api: Api, watchlist_id: str, photo: bytes, name: str,
                expect: int = 201, **fields: Any) -> Any:
    data = {"subject_ref": f"REF-{name}", "display_name": name,
            "category": "wanted_serious_crime", "justification": "warrant 123",
            "legal_basis": "PACE s.24", "image_source": "custody record",
            "image_date": "2024-01-02", "expires_at": str(time.time() + 86400)}
    data.update({k: str(v) for k, v in fields.items()})
    return await api.call("POST", f"/api/watchlists/{watchlist_id}/entries", expect,
                          data=data, files={"photo": ("photo.jpg", photo, "image/jpeg")})
