"""Alert commands over a socket: the one place that turns a decision's outcome into the
``command_result`` the client correlates by ``ref`` (dispatchers and officers alike)."""

from __future__ import annotations

from server.auth import Principal
from server.errors import VigilError
from server.services.alerts import AlertCommand, AlertService
from server.ws.connection import Connection
from shared.protocol.common import CommandResult


async def alert_command(
    alerts: AlertService, conn: Connection, me: Principal, message: AlertCommand
) -> None:
    """Apply ``message`` and answer ``command_result`` (ok, or the refusal's code)."""
    try:
        await alerts.handle(message, me)
    except VigilError as exc:
        conn.send(CommandResult(ref=message.ref, ok=False, code=exc.code, message=exc.message,
                                alert_id=message.alert_id))
        return
    conn.send(CommandResult(ref=message.ref, ok=True, alert_id=message.alert_id))
