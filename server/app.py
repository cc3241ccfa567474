"""The application factory: wiring only (routes, lifespan, error mapping, OpenAPI).

``create_app(settings)`` returns a Litestar app whose lifespan owns every resource on
``app.state.runtime`` (:class:`server.runtime.Runtime`): database (migrated at start-up),
face engine, worker pool, background tasks. Shutdown stops ingest, flushes the send queues and
closes sockets with 1001, then cancels and awaits background tasks.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.exceptions import HTTPException

from server import officer_app
from server.api.admin import AccountController, CameraController, OfficerController
from server.api.alerts import AlertController
from server.api.deployments import DeploymentController
from server.api.governance import AuditController, AuthorisationController, ThresholdController
from server.api.openapi_schema import finish_schema
from server.api.watchlists import WatchlistController
from server.api_docs import openapi_config, schema_asset
from server.domain.governance import governance_loop
from server.errors import VigilError
from server.pipeline.alerting import reopen_windows
from server.recognition.engine import FaceEngine
from server.recognition.process_engine import ProcessEngine, releases_gil
from server.recognition.tracker import CooldownTracker
from server.runtime import AuditHook, Clock, Runtime
from server.store.audit import ChainAudit
from server.store.db import Database
from server.store.retention import retention_seconds
from server.ws.alert_commands import ack_timeout_loop
from server.ws.camera import camera_socket
from server.ws.dispatch import dispatch_socket
from server.ws.officer import officer_socket
from server.ws.stats_push import stats_loop
from shared.protocol.base import CloseCode
from shared.settings import Settings

log = logging.getLogger("vigil")

SHUTDOWN_FLUSH_S = 3.0
GOVERNANCE_PERIOD_S = 30.0
"""Governance sweep period: window ends, watchlist expiry, retention (matching already
ignores expired entries and ended windows between sweeps)."""


def load_engine(settings: Settings) -> FaceEngine:
    """The configured engine: ``server.recognition.engines.create_engine`` when present,
    else the dlib engine (the fallback that always works)."""
    try:
        engines = importlib.import_module("server.recognition.engines")
    except ModuleNotFoundError as exc:
        if exc.name != "server.recognition.engines":
            raise
    else:
        engine: FaceEngine = engines.create_engine(settings)
        return engine
    from server.recognition.dlib_engine import DlibEngine

    return DlibEngine(upsample=settings.upsample)


async def drain(runtime: Runtime) -> None:
    """Graceful stop of live traffic: stop ingest, flush queues, close sockets with 1001."""
    if not runtime.accepting:
        return
    runtime.accepting = False
    sessions = runtime.hub.all_sessions()
    for session in list(runtime.hub.cameras.values()):
        session.close(CloseCode.GOING_AWAY, "server shutting down")
    await asyncio.gather(
        *(asyncio.wait_for(s.drained(), SHUTDOWN_FLUSH_S) for s in sessions),
        return_exceptions=True,
    )
    for session in sessions:
        session.close(CloseCode.GOING_AWAY, "server shutting down")
    await asyncio.gather(
        *(asyncio.wait_for(s.closed.wait(), SHUTDOWN_FLUSH_S) for s in sessions),
        return_exceptions=True,
    )


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
        runtime = Runtime(settings=settings, db=Database(settings.database_url))
        if clock is not None:
            runtime.clock = clock
        runtime.audit = audit if audit is not None else ChainAudit()
        retention_seconds(settings)  # refuse a retention under 24 h before serving anything
        await runtime.db.migrate()
        runtime.pool = ThreadPoolExecutor(max(1, settings.workers), thread_name_prefix="vigil")
        loaded: FaceEngine = (
            engine if engine is not None else await runtime.in_pool(load_engine, settings)
        )
        owned: ProcessEngine | None = None
        if engine is None and not releases_gil(loaded):
            # A GIL-holding engine (dlib) in threads would stall this event loop for the
            # length of every call: run it in worker processes instead.
            owned = await runtime.in_pool(ProcessEngine.wrap, loaded, settings.workers)
            log.info("engine %s runs in %d worker processes", loaded.name, owned.workers)
            loaded = owned
        runtime.engine = loaded
        runtime.tracker = CooldownTracker(settings.cooldown_s)
        # alerts still open within their cooldown absorb new sightings after a restart
        await reopen_windows(runtime)
        runtime.spawn(ack_timeout_loop(runtime, max(1.0, min(10.0, settings.ack_timeout_s / 4))),
                      "ack-timeout")
        runtime.spawn(governance_loop(runtime, GOVERNANCE_PERIOD_S), "governance")
        runtime.spawn(stats_loop(runtime), "stats-push")
        app.state.runtime = runtime
        log.info("vigil ready engine=%s model=%s db=%s", loaded.name, loaded.model_id,
                 runtime.db.engine.dialect.name)
        try:
            yield
        finally:
            await drain(runtime)
            await runtime.cancel_tasks()
            runtime.pool.shutdown(wait=True, cancel_futures=True)
            if owned is not None:
                owned.close()
            await runtime.db.close()
            log.info("vigil stopped")

    app = Litestar(
        route_handlers=[
            health, AccountController, CameraController, OfficerController,
            WatchlistController, DeploymentController, AlertController,
            AuthorisationController, ThresholdController, AuditController,
            camera_socket, officer_socket, dispatch_socket, *officer_app.ROUTES, schema_asset,
        ],
        lifespan=[lifespan, officer_app.lifespan],
        exception_handlers={VigilError: vigil_error, HTTPException: http_error,
                            Exception: internal_error},
        openapi_config=openapi_config(),
        request_max_body_size=settings.max_image_bytes + 1_000_000,
        debug=debug,
    )
    finish_schema(app)  # the schema says what the server sends (errors, unions, media types)
    return app


@get("/api/health", operation_id="health", tags=["health"])
async def health(request: Request) -> dict[str, Any]:  # type: ignore[type-arg]
    """Liveness: the engine in use and whether ingest is open (no authentication)."""
    runtime: Runtime = request.app.state.runtime
    engine = runtime.engine
    return {"ok": runtime.accepting, "engine": engine.name if engine else None,
            "model_id": engine.model_id if engine else None}


def vigil_error(_request: Request, exc: VigilError) -> Response[dict[str, str]]:  # type: ignore[type-arg]
    """Every refusal: ``{"code", "message"}`` with the error's status."""
    return Response({"code": exc.code, "message": exc.message}, status_code=exc.status)


_HTTP_CODES = {400: "bad_request", 401: "unauthorised", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "message_too_large",
               429: "rate_limited"}


def http_error(_request: Request, exc: HTTPException) -> Response[dict[str, Any]]:  # type: ignore[type-arg]
    """Framework refusals (validation, routing) in the same shape as ours."""
    body: dict[str, Any] = {"code": _HTTP_CODES.get(exc.status_code, "http_error"),
                            "message": str(exc.detail)}
    if exc.extra:
        body["detail"] = exc.extra
    # Keep the framework's headers (405's Allow, 429's Retry-After): RFC 9110 requires them.
    return Response(body, status_code=exc.status_code, headers=exc.headers)


def internal_error(_request: Request, exc: Exception) -> Response[dict[str, str]]:  # type: ignore[type-arg]
    """A bug: logged with its traceback here, never sent to the client."""
    log.error("internal error: %s", type(exc).__name__, exc_info=exc)
    return Response({"code": "internal_error", "message": "internal error"}, status_code=500)
