"""Base of the screens that show an alert and the status bar (main and detail)."""

from __future__ import annotations

import contextlib

from rich.text import Text
from textual.css.query import NoMatches
from textual.screen import Screen

from tui.dispatch.widgets.status_bar import StatusBar


class AlertScreen(Screen[None]):
    """A screen with a current alert (the target of the action keys) and a status bar."""

    @property
    def current_alert_id(self) -> str | None:
        return None

    def tick(self) -> None:
        """Called every second: refresh what ages (clocks, 'seen 12s ago')."""

    def show_status(self, text: Text) -> None:
        with contextlib.suppress(NoMatches):  # not composed yet
            self.query_one(StatusBar).show(text)
