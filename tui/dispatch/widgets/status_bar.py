"""One-line status: connection (with reconnect countdown), server time, deployments, name."""

from __future__ import annotations

import math

from rich.text import Text
from textual.widget import Widget

from tui.connection import ConnectionStatus
from tui.dispatch.format import clock
from tui.dispatch.state import DispatchState


def _short(reason: str, limit: int = 40) -> str:
    """Reasons can be long; the status line keeps room for the clock and deployments (the
    full reason is also shown as a notification)."""
    return reason if len(reason) <= limit else reason[: limit - 1] + "…"


def status_text(
    status: ConnectionStatus, state: DispatchState, name: str, bell: bool
) -> Text:
    """The status line as styled text (pure, so it can be tested without an app)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if status.state == "connected":
        text.append(" ● connected ", style="bold green")
    elif status.state == "connecting":
        text.append(" ◌ connecting… ", style="bold yellow")
    elif status.state == "reconnecting":
        wait = max(0, math.ceil(status.retry_in))
        text.append(f" ◌ reconnecting in {wait}s ", style="bold yellow")
        if status.reason:
            text.append(f"({_short(status.reason)}) ", style="yellow")
    else:
        text.append(" ✖ offline ", style="bold red")
        if status.reason:
            text.append(f"({_short(status.reason)}) ", style="red")
    text.append("│ ")
    text.append(clock(state.now()), style="bold")
    deployments = ", ".join(d.name for d in state.active_deployments()) or "no active deployment"
    text.append(" │ ")
    text.append(deployments)
    text.append(" │ ")
    text.append(name or "dispatcher", style="italic")
    text.append(" │ bell on" if bell else " │ bell off", style="dim")
    return text


class StatusBar(Widget):
    """Shows :func:`status_text`; the app calls :meth:`show` on every change and tick."""

    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._text = Text("")

    def show(self, text: Text) -> None:
        self._text = text
        self.refresh()

    def render(self) -> Text:
        return self._text
