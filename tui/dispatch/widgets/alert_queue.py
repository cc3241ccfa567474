"""The alert queue: a DataTable over the state's filtered, prioritised alerts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from shared.protocol.alerts import AlertView
from tui.dispatch import format as fmt
from tui.dispatch.state import DispatchState, QueueFilter, queue_rank

STATE_STYLE = {
    "new": "bold yellow",
    "assigned": "bold cyan",
    "accepted": "green",
    "resolved": "dim",
    "dismissed": "dim",
}

COLUMNS = (
    ("mark", " "),
    ("time", "Time"),
    ("age", "Age"),
    ("subject", "Subject"),
    ("category", "Cat"),
    ("similarity", "Sim/Thr"),
    ("state", "State"),
    ("officer", "Officer"),
    ("sightings", "Seen"),
    ("camera", "Camera · place"),
)
"""Most important first, so an 80-column terminal shows what triage needs without scrolling."""


SORT_KEYS: dict[str, Callable[[AlertView], Any]] = {
    "time": lambda a: a.first_seen,
    "age": lambda a: -a.last_seen,
    "subject": lambda a: (a.display_name or a.subject_ref).casefold(),
    "category": lambda a: a.category,
    "similarity": lambda a: a.similarity - a.threshold,
    "state": queue_rank,
    "officer": lambda a: (a.assigned_call_sign or "~").casefold(),
    "sightings": lambda a: a.sightings,
    "camera": lambda a: (a.camera_name, a.place),
}
"""Clicking a column header sorts by it (again: reversed; a third time: back to the queue's
own priority order). Similarity sorts by the margin over the threshold."""


class AlertQueue(DataTable[Text | str]):
    """Rows keyed by alert id; :meth:`show` rebuilds them and keeps the cursor on its alert."""

    DEFAULT_CSS = """
    AlertQueue { height: 1fr; }
    """

    def __init__(self, state: DispatchState, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.state = state
        self.filter = QueueFilter()
        self.ids: list[str] = []
        self.sort_by: str | None = None
        self.sort_reverse = False

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)
        self.show()

    @property
    def selected_id(self) -> str | None:
        if not self.ids or not 0 <= self.cursor_row < len(self.ids):
            return None
        return self.ids[self.cursor_row]

    def show(self) -> None:
        """Rebuild the rows from the state."""
        keep = self.selected_id
        alerts = self.state.queue(self.filter)
        if self.sort_by in SORT_KEYS:
            alerts.sort(key=SORT_KEYS[self.sort_by], reverse=self.sort_reverse)
        self.clear()
        self.ids = [a.id for a in alerts]
        now = self.state.now()
        for alert in alerts:
            self.add_row(*self._cells(alert, now), key=alert.id)
        if keep in self.ids:
            self.move_cursor(row=self.ids.index(keep), animate=False)
        elif self.ids:
            self.move_cursor(row=0, animate=False)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        if key not in SORT_KEYS:
            return
        if self.sort_by != key:
            self.sort_by, self.sort_reverse = key, False
        elif not self.sort_reverse:
            self.sort_reverse = True
        else:
            self.sort_by, self.sort_reverse = None, False
        self.show()

    def tick(self) -> None:
        """Refresh the age column only (called every few seconds)."""
        now = self.state.now()
        for alert_id in self.ids:
            alert = self.state.alerts.get(alert_id)
            if alert is not None:
                self.update_cell(alert_id, "age", fmt.age(now - alert.last_seen))

    def _cells(self, alert: AlertView, now: float) -> list[Text | str]:
        unseen = alert.id in self.state.unseen
        if alert.flagged and alert.state == "new":
            mark = Text("⚑", style="bold red")
        elif unseen:
            mark = Text("●", style="bold yellow")
        else:
            mark = Text(" ")
        subject_style = "bold reverse" if unseen else ""
        return [
            mark,
            fmt.clock(alert.first_seen),
            fmt.age(now - alert.last_seen),
            Text(alert.display_name or alert.subject_ref, style=subject_style),
            fmt.category(alert.category, short=True),
            f"{alert.similarity:.2f}/{alert.threshold:.2f}",
            Text(alert.state, style=STATE_STYLE.get(alert.state, "")),
            alert.assigned_call_sign or "-",
            f"{alert.sightings}x",
            f"{alert.camera_name} · {alert.place}",
        ]
