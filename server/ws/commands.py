"""Alert commands over a socket: the one place that turns a decision's outcome into the
``command_result`` the client correlates by ``ref`` (dispatchers and officers alike)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from server.auth import Principal
from server.errors import VigilError
from server.services.alerts import AlertService, AnyAlertCommand
from server.ws.connection import Connection
from shared.protocol.common import CommandResult


async def alert_command(
    alerts: AlertService, conn: Connection, me: Principal, message: AnyAlertCommand, *,
    then: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Apply ``message`` and answer ``command_result`` (ok, or the refusal's code); ``then``
    runs after a successful decision and before the result is sent."""
    try:
        await alerts.handle(message, me)
    except VigilError as exc:
        conn.send(CommandResult(ref=message.ref, ok=False, code=exc.code, message=exc.message,
                                alert_id=message.alert_id))
        return
    if then is not None:
        await then()
    conn.send(CommandResult(ref=message.ref, ok=True, alert_id=message.alert_id))
