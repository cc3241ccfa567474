"""Officer <-> server messages (JSON text frames)."""

from __future__ import annotations

from typing import Literal

from shared.protocol.alerts import AlertView
from shared.protocol.base import OfficerStatus, Outcome, WireMessage
from shared.protocol.common import (
    Ack,
    AlertCommand,
    CommandResult,
    Durable,
    Error,
    Hello,
    Ping,
    Pong,
    Resume,
    Welcome,
)
from shared.protocol.limits import Latitude, Longitude, Metres, Text


class UpdatePosition(WireMessage, tag="position"):
    lat: Latitude
    lon: Longitude
    accuracy_m: Metres | None = None


class UpdateStatus(WireMessage, tag="status"):
    status: OfficerStatus


class AcceptAlert(AlertCommand, tag="accept"):
    """The officer takes the assignment and goes to check in person."""


class DeclineAlert(AlertCommand, tag="decline"):
    """The officer cannot take the assignment; it goes back to the dispatchers' queue."""

    reason: Text
    """Why, in a few words (required; shown to the dispatcher, kept in the alert's events)."""


class ResolveAlert(AlertCommand, tag="resolve"):
    """The officer closes the alert with what they found."""

    outcome: Outcome
    note: Text = ""


RouteReason = Literal["nearby", "assigned"]


class AlertRaised(Durable, tag="alert_raised"):
    """A new alert (durable; officers receive it when within the notify radius)."""

    alert: AlertView
    route: RouteReason = "nearby"


class AlertUpdated(Durable, tag="alert_updated"):
    """A change to an alert the recipient already has (durable)."""

    alert: AlertView


class AlertAssigned(Durable, tag="alert_assigned"):
    """The dispatcher assigned this alert to the recipient officer (durable)."""

    alert: AlertView


class AlertWithdrawn(Durable, tag="alert_withdrawn"):
    """The alert no longer concerns the recipient (reassigned, dismissed, purged)."""

    alert_id: str
    reason: str


OfficerIn = (
    Hello | Resume | Ack | Ping | UpdatePosition | UpdateStatus | AcceptAlert | ResolveAlert
    | DeclineAlert
)
OfficerOut = (
    Welcome | Error | Pong | CommandResult | AlertRaised | AlertUpdated | AlertAssigned
    | AlertWithdrawn
)
