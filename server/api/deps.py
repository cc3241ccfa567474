"""Dependencies every REST handler may ask for by name (registered once on the app).

- ``rt``: the server's :class:`server.runtime.Runtime` (built by the lifespan).
- ``principal``: the signed-in account, put in the request state by the role guard
  (``server.auth.roles``).
- ``alerts``: the alert use cases (:class:`server.services.alerts.AlertService`).
"""

from __future__ import annotations

from typing import Any, TypeAlias

from litestar import Request
from litestar.di import NamedDependency, Provide

from server.auth import Principal, principal_of
from server.runtime import Runtime
from server.services.alerts import AlertService

RuntimeDep: TypeAlias = NamedDependency[Runtime]
"""A handler parameter ``rt: RuntimeDep`` receives the runtime."""
PrincipalDep: TypeAlias = NamedDependency[Principal]
"""A handler parameter ``principal: PrincipalDep`` receives the signed-in account."""


def provide_runtime(request: Request[Any, Any, Any]) -> Runtime:
    """The app's runtime (``app.state.runtime``, set by the lifespan)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def provide_alerts(rt: RuntimeDep) -> AlertService:
    """The alert use cases on this app's runtime."""
    return AlertService(rt)


DEPENDENCIES = {
    "alerts": Provide(provide_alerts, sync_to_thread=False),
    "rt": Provide(provide_runtime, sync_to_thread=False),
    "principal": Provide(principal_of, sync_to_thread=False),
}
