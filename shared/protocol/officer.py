"""Officer <-> server messages (JSON text frames)."""

from __future__ import annotations

from typing import Literal

from shared.protocol.alerts import AlertView
from shared.protocol.base import OfficerStatus, Outcome, WireMessage
from shared.protocol.common import (
    Ack,
    CommandResult,
    Error,
    Hello,
    Ping,
    Pong,
    Resume,
    Welcome,
)
from shared.protocol.limits import Id, Latitude, Longitude, Metres, Ref, Text


class UpdatePosition(WireMessage, tag="position"):
    lat: Latitude
    lon: Longitude
    accuracy_m: Metres | None = None


class UpdateStatus(WireMessage, tag="status"):
    status: OfficerStatus


class AcceptAlert(WireMessage, tag="accept"):
    """The officer takes the assignment and goes to check in person."""

    ref: Ref
    alert_id: Id


class DeclineAlert(WireMessage, tag="decline"):
    """The officer cannot take the assignment; it goes back to the dispatchers' queue."""

    ref: Ref
    alert_id: Id
    reason: Text
    """Why, in a few words (required; shown to the dispatcher, kept in the alert's events)."""


class ResolveAlert(WireMessage, tag="resolve"):
    """The officer closes the alert with what they found."""

    ref: Ref
    alert_id: Id
    outcome: Outcome
    note: Text = ""


RouteReason = Literal["nearby", "assigned"]


class AlertRaised(WireMessage, tag="alert_raised"):
    """A new alert (durable; officers receive it when within the notify radius)."""

    seq: int
    alert: AlertView
    route: RouteReason = "nearby"


class AlertUpdated(WireMessage, tag="alert_updated"):
    """A change to an alert the recipient already has (durable)."""

    seq: int
    alert: AlertView


class AlertAssigned(WireMessage, tag="alert_assigned"):
    """The dispatcher assigned this alert to the recipient officer (durable)."""

    seq: int
    alert: AlertView


class AlertWithdrawn(WireMessage, tag="alert_withdrawn"):
    """The alert no longer concerns the recipient (reassigned, dismissed, purged)."""

    seq: int
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
