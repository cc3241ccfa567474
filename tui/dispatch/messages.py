"""Application-wide Textual messages of the console.

The connection's callbacks run on the app's event loop: they apply server messages to the
state at once (so an ``ack`` follows only a handled message) and post these to refresh widgets.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from tui.connection import ConnectionStatus
from tui.dispatch.state import Change


@dataclass
class StateChanged(Message):
    """The state changed; widgets re-render what ``change`` concerns."""

    change: Change


@dataclass
class StatusChanged(Message):
    """The connection's status changed (connected, reconnecting with a countdown, ...)."""

    status: ConnectionStatus
