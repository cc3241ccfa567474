"""The officer companion web app: static files at ``/officer/``, pairing, Web Push.

``create_app`` registers :data:`ROUTES` and :func:`lifespan` (the app's only hook here).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.types import ControllerRouterHandler

from server.officer_app.push import Pusher, VapidKeys
from server.officer_app.routes import (
    OfficerPairingController,
    PairingController,
    PushController,
)
from server.officer_app.static_files import officer_file, officer_root
from server.runtime import Runtime
from server.ws.hub import Hub

ROUTES: list[ControllerRouterHandler] = [
    officer_root, officer_file, OfficerPairingController, PairingController, PushController,
]


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    """Load (or create) the VAPID keys and hook Web Push onto committed deliveries; runs
    after the server's own lifespan has put the runtime on ``app.state``."""
    runtime: Runtime = app.state.runtime
    hub: Hub = app.state.hub
    keys = VapidKeys(runtime.settings.data_path)
    app.state.vapid = keys
    pusher = Pusher(runtime, keys)
    app.state.pusher = pusher
    hub.listeners.append(pusher.on_deliver)
    try:
        yield
    finally:
        hub.listeners.remove(pusher.on_deliver)


__all__ = ["ROUTES", "lifespan"]
