"""The application factory: wiring only (routes, lifespan, error mapping, OpenAPI).

``create_app(settings)`` returns a Litestar app whose lifespan owns every resource on
``app.state.runtime`` (:class:`server.runtime.Runtime`): database (migrated at start-up),
face engine, worker pool, background tasks. Shutdown stops ingest, flushes the send queues and
closes sockets with 1001, then cancels and awaits background tasks.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.exceptions import HTTPException

from server import officer_app
from server.api.admin import AccountController, CameraController, OfficerController
from server.api.alerts import AlertController
from server.api.deployments import DeploymentController
from server.api.deps import DEPENDENCIES, RuntimeDep
from server.api.governance import AuditController, AuthorisationController, ThresholdController
from server.api.openapi_schema import finish_schema
from server.api.request import VigilRequest
from server.api.watchlists import WatchlistController
from server.api_docs import openapi_config, schema_asset
from server.errors import VigilError
from server.pipeline.alerting import reopen_windows
from server.recognition.engine import FaceEngine
from server.runtime import AuditHook, Clock, Runtime, open_runtime, periodic
from server.services.alerts import AlertService
from server.services.governance import sweep
from server.settings import Settings
from server.ws.camera import camera_socket
from server.ws.dispatch import dispatch_socket
from server.ws.hub import Hub
from server.ws.officer import officer_socket
from server.ws.stats_push import STATS_PERIOD_S, push_changed_stats

log = logging.getLogger("vigil")

SHUTDOWN_FLUSH_S = 3.0
GOVERNANCE_PERIOD_S = 30.0
"""Governance sweep period: window ends, watchlist expiry, retention (matching already
ignores expired entries and ended windows between sweeps)."""


async def drain(runtime: Runtime) -> None:
    """Graceful stop of live traffic: stop ingest, flush queues, close sockets with 1001."""
    if not runtime.accepting:
        return
    runtime.stopping.set()
    await runtime.publisher.shutdown(SHUTDOWN_FLUSH_S)


def websocket_transport(settings: Settings) -> dict[str, Any]:
    """uvicorn's websocket options for these settings (every way of serving the app uses
    them, so the tests, the demo and the benchmarks run the transport ``vigil serve`` does)."""
    return {"ws_max_size": settings.max_image_bytes + 65_536,
            "ws_per_message_deflate": settings.ws_compression}


def create_app(
    settings: Settings,
    *,
    engine: FaceEngine | None = None,
    clock: Clock | None = None,
    audit: AuditHook | None = None,
    debug: bool = False,
) -> Litestar:
    """Build the Vigil ASGI app.

    Args:
        settings: server settings.
        engine: a face engine to use instead of loading the configured one (tests share a
            loaded engine this way). It is used as given; an engine the app loads itself
            runs in worker processes when it holds the GIL (``ProcessEngine``): pass a
            ``ProcessEngine`` to get that with an engine of your own.
        clock: epoch-seconds clock (injected by tests and the governance layer).
        audit: audit hook; default: the hash-chained log (``server.store.audit``).
        debug: Litestar debug mode.
    """

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        hub = Hub()
        async with open_runtime(settings, publisher=hub, engine=engine, clock=clock,
                                audit=audit) as runtime:
            # alerts still open within their cooldown absorb new sightings after a restart
            await reopen_windows(runtime)
            ack_period = max(1.0, min(10.0, settings.ack_timeout_s / 4))
            runtime.spawn(periodic(ack_period, AlertService(runtime).expire_assignments,
                                   "ack-timeout sweep"), "ack-timeout")
            runtime.spawn(periodic(GOVERNANCE_PERIOD_S, functools.partial(sweep, runtime),
                                   "governance sweep"), "governance")
            runtime.spawn(periodic(STATS_PERIOD_S, functools.partial(push_changed_stats,
                                                                     runtime, hub, {}),
                                   "stats push"), "stats-push")
            app.state.runtime = runtime
            app.state.hub = hub
            log.info("vigil ready engine=%s model=%s db=%s", runtime.engine.name,
                     runtime.engine.model_id, runtime.db.engine.dialect.name)
            try:
                yield
            finally:
                await drain(runtime)
        log.info("vigil stopped")

    app = Litestar(
        route_handlers=[
            health, AccountController, CameraController, OfficerController,
            WatchlistController, DeploymentController, AlertController,
            AuthorisationController, ThresholdController, AuditController,
            camera_socket, officer_socket, dispatch_socket, *officer_app.ROUTES, schema_asset,
        ],
        lifespan=[lifespan, officer_app.lifespan],
        dependencies=DEPENDENCIES,
        exception_handlers={VigilError: vigil_error, HTTPException: http_error,
                            Exception: internal_error},
        openapi_config=openapi_config(),
        request_class=VigilRequest,
        request_max_body_size=settings.max_image_bytes + 1_000_000,
        debug=debug,
    )
    finish_schema(app)  # the schema says what the server sends (errors, unions, media types)
    return app


@get("/api/health", operation_id="health", tags=["health"])
async def health(rt: RuntimeDep) -> dict[str, Any]:
    """Liveness: the engine in use and whether ingest is open (no authentication)."""
    return {"ok": rt.accepting, "engine": rt.engine.name, "model_id": rt.engine.model_id}


def vigil_error(_request: Request[Any, Any, Any], exc: VigilError) -> Response[dict[str, str]]:
    """Every refusal: ``{"code", "message"}`` with the error's status."""
    return Response({"code": exc.code, "message": exc.message}, status_code=exc.status)


_HTTP_CODES = {400: "bad_request", 401: "unauthorised", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "message_too_large",
               429: "rate_limited"}


def http_error(_request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    """Framework refusals (validation, routing) in the same shape as ours."""
    body: dict[str, Any] = {"code": _HTTP_CODES.get(exc.status_code, "http_error"),
                            "message": str(exc.detail)}
    if exc.extra:
        body["detail"] = exc.extra
    # Keep the framework's headers (405's Allow, 429's Retry-After): RFC 9110 requires them.
    return Response(body, status_code=exc.status_code, headers=exc.headers)


def internal_error(_request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    """A bug: logged with its traceback here, never sent to the client."""
    log.error("internal error: %s", type(exc).__name__, exc_info=exc)
    return Response({"code": "internal_error", "message": "internal error"}, status_code=500)
