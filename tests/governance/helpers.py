"""Helpers for the governance tests against the live server."""

from __future__ import annotations

import time
from typing import Any

from server.runtime import Runtime
from tests.server.conftest import Api, World, make_token, open_ws

AUTH = {"authority_ref": "MAG-2026-0042", "purpose": "locate_serious_crime_suspect"}


async def new_deployment(world: World, *, hours: float = 1.0, threshold: float | None = None,
                         api: str = "authoriser", expect: int = 201,
                         watchlist_id: str | None = None) -> Any:
    """Create another deployment of the world's camera (not authorised, not started)."""
    now = time.time()
    body: dict[str, Any] = {
        "name": "extra", "purpose": "locate_serious_crime_suspect", "place": "Soho",
        "lat": world.lat, "lon": world.lon, "camera_ids": [world.camera_id],
        "watchlist_id": watchlist_id or world.watchlist_id, "starts_at": now - 60,
        "ends_at": now + hours * 3600, "notify_radius_m": 500}
    if threshold is not None:
        body["threshold"] = threshold
    return await world.api[api].call("POST", "/api/deployments", expect, json=body)


async def authorise(api: Api, deployment_id: str, expect: int = 201, **body: Any) -> Any:
    return await api.call("POST", f"/api/deployments/{deployment_id}/authorisation", expect,
                          json={**AUTH, **body})


async def send_frame(world: World, jpeg: bytes, seq: int = 1) -> dict[str, Any]:
    """Stream one frame from the world's camera and return its ``frame_result``."""
    camera, _ = await open_ws(world.server, "/ws/camera", world.tokens["camera"],
                              camera_id=world.camera_id)
    try:
        await camera.send({"type": "frame", "seq": seq, "captured_at": time.time(),
                           "jpeg": jpeg})
        return await camera.recv_type("frame_result")
    finally:
        await camera.close()


def runtime_of(world: World) -> Runtime:
    runtime: Runtime = world.server.runtime  # type: ignore[attr-defined]
    return runtime


async def add_auditor(world: World) -> None:
    """``build_world`` makes no auditor: add one."""
    world.ids["auditor"], world.tokens["auditor"] = await make_token(
        world.server.settings, "auditor", "aud")
    world.api["auditor"] = Api(world.server.http, world.tokens["auditor"])
