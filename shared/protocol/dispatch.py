"""Dispatcher <-> server messages (JSON text frames)."""

from __future__ import annotations

from shared.protocol.alerts import (
    AlertView,
    CameraView,
    DeploymentStats,
    DeploymentView,
    OfficerView,
)
from shared.protocol.base import DismissReason, WireMessage
from shared.protocol.common import (
    Ack,
    AlertCommand,
    CommandResult,
    Error,
    Hello,
    Ping,
    Pong,
    Resume,
    Welcome,
)
from shared.protocol.limits import Id, Text
from shared.protocol.officer import AlertRaised, AlertUpdated, AlertWithdrawn


class AssignAlert(AlertCommand, tag="assign"):
    officer_id: Id


class DismissAlert(AlertCommand, tag="dismiss"):
    """The dispatcher judges the comparison a non-match (a reason is required)."""

    reason: DismissReason
    text: Text = ""


class AddNote(AlertCommand, tag="note"):
    text: Text


class ReopenAlert(AlertCommand, tag="reopen"):
    """The dispatcher puts a closed alert back in the queue."""


class Snapshot(WireMessage, tag="snapshot"):
    """Sent after ``resume``: the current picture, then deltas follow."""

    server_time: float
    alerts: tuple[AlertView, ...]
    """Open alerts (new, assigned, accepted) and those closed in the last hour."""
    officers: tuple[OfficerView, ...]
    cameras: tuple[CameraView, ...]
    deployments: tuple[DeploymentView, ...]
    stats: tuple[DeploymentStats, ...]
    last_seq: int
    ack_timeout_s: float = 0.0
    """How long an officer has to accept an assignment before it returns to the queue,
    flagged (0: unknown, from older servers). Consoles show the time left on assigned
    alerts."""


class OfficerUpdated(WireMessage, tag="officer_updated"):
    """An officer's position, status or connection changed (not durable)."""

    officer: OfficerView


class StatsUpdated(WireMessage, tag="stats_updated"):
    stats: DeploymentStats


class DeploymentUpdated(WireMessage, tag="deployment_updated"):
    deployment: DeploymentView


DispatchIn = Hello | Resume | Ack | Ping | AssignAlert | DismissAlert | AddNote | ReopenAlert
DispatchOut = (
    Welcome | Error | Pong | CommandResult | Snapshot | AlertRaised | AlertUpdated
    | AlertWithdrawn | OfficerUpdated | StatsUpdated | DeploymentUpdated
)
