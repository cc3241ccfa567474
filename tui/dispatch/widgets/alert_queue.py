"""The queue: one row per incident (the alerts of one watchlist entry in one deployment while
open), over the state's filtered, prioritised alerts.

The rows are keyed by incident, so the cursor stays on the incident it is on whatever arrives;
the order changes only when a state changes (new -> assigned -> accepted -> closed) or when
the dispatcher sorts by a column, never because of a new sighting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import events
from textual.widgets import DataTable

from tui.dispatch import format as fmt
from tui.dispatch.state import DispatchState, Incident, QueueFilter, incident_rank

STATE_STYLE = {
    "new": "bold yellow",
    "assigned": "bold cyan",
    "accepted": "green",
    "resolved": "dim",
    "dismissed": "dim",
}

WIDE = 110
"""From this width on, the queue also shows the category and the similarity."""

Column = tuple[str, str, int]
"""(key, label, width); width 0: whatever is left (the camera)."""

NARROW: tuple[Column, ...] = (
    ("mark", " ", 1),
    ("age", "Age", 3),
    ("subject", "Subject", 14),
    ("state", "State", 13),
    ("officer", "Officer", 7),
    ("sightings", "Seen", 4),
    ("camera", "Camera", 0),
)
"""80 columns: what triage needs, the camera last with the room that is left (the time the
incident opened is in the detail; its age is here)."""

WIDE_COLUMNS: tuple[Column, ...] = (
    ("mark", " ", 1),
    ("time", "Opened", 12),
    ("age", "Age", 3),
    ("subject", "Subject", 18),
    ("category", "Category", 8),
    ("similarity", "Sim/Thr", 9),
    ("state", "State", 13),
    ("officer", "Officer", 8),
    ("sightings", "Seen", 4),
    ("camera", "Camera", 0),
)

SORT_KEYS: dict[str, Callable[[Incident], Any]] = {
    "time": lambda i: i.first_seen,
    "age": lambda i: -i.first_seen,
    "subject": lambda i: (i.lead.display_name or i.lead.subject_ref).casefold(),
    "category": lambda i: i.lead.category,
    "similarity": lambda i: i.best.similarity - i.best.threshold,
    "state": incident_rank,
    "officer": lambda i: (i.lead.assigned_call_sign or "~").casefold(),
    "sightings": lambda i: i.sightings,
    "camera": lambda i: i.camera_names,
}
"""Clicking a column header sorts by it (again: reversed; a third time: back to the queue's
own priority order). Similarity sorts by the best margin over the threshold."""


def state_cell(state: DispatchState, incident: Incident, now: float) -> Text:
    """The lead alert's state; a command in flight; the time left to accept an assignment,
    also when a newer sighting of the same incident leads the row."""
    lead = incident.lead
    pending = state.pending.get(lead.id)
    if pending:
        # The verb only (``assign``, not ``assign PC 2217``): the column is narrow, and the
        # detail and the officer column say who.
        return Text(f"⧗ {pending.split(' ', 1)[0]}…", style="bold magenta")
    deadline = state.ack_deadline(lead)
    if deadline is not None:
        return Text(f"assigned {fmt.countdown(deadline - now)}",
                    style="bold red" if deadline - now < 30 else STATE_STYLE["assigned"])
    cell = Text(lead.state, style=STATE_STYLE.get(lead.state, ""))
    # A new sighting leads an incident an officer already has: say so, or the row would
    # read as if nobody were on it; an assignment still waiting shows its time to accept.
    handled = [a for a in incident.alerts[1:] if a.state in ("assigned", "accepted")]
    if lead.state == "new" and handled:
        waiting = [d for d in (state.ack_deadline(a) for a in handled) if d is not None]
        if waiting:
            left = min(waiting) - now
            cell.append(f"+ack {fmt.countdown(left)}",
                        style="bold red" if left < 30 else STATE_STYLE["assigned"])
        else:
            cell.append(f"+{handled[0].state}", style=STATE_STYLE[handled[0].state])
    return cell


def officer_cell(incident: Incident) -> str:
    """The lead's officer, else the officer already on another alert of the incident."""
    for alert in incident.alerts:
        if alert.assigned_call_sign:
            return alert.assigned_call_sign
    return "-"


class AlertQueue(DataTable[Text | str]):
    """Rows keyed by incident id; :meth:`show` rebuilds them and keeps the cursor on its
    incident. :attr:`selected_id` is the selected incident's lead alert."""

    DEFAULT_CSS = """
    AlertQueue { height: 1fr; }
    """

    def __init__(self, state: DispatchState, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.state = state
        self.filter = QueueFilter()
        self.ids: list[str] = []
        """Incident ids, in row order."""
        self.incidents: dict[str, Incident] = {}
        self.sort_by: str | None = None
        self.sort_reverse = False
        self._columns: tuple[Column, ...] = ()
        self._camera_width = 0

    def on_mount(self) -> None:
        self._layout_columns(self.size.width)
        self.show()

    def on_resize(self, event: events.Resize) -> None:
        if self._layout_columns(event.size.width):
            self.show()

    def _layout_columns(self, width: int) -> bool:
        """Columns for this width; True when they changed."""
        columns = WIDE_COLUMNS if width >= WIDE else NARROW
        # Every cell has one space of padding each side; keep room for the scrollbar.
        used = sum(w + 2 for _, _, w in columns if w) + 2
        camera = max(8, width - used - 2)
        if columns == self._columns and camera == self._camera_width:
            return False
        self._columns, self._camera_width = columns, camera
        self.clear(columns=True)
        for key, label, w in columns:
            self.add_column(label, key=key, width=w or camera)
        return True

    @property
    def selected_incident(self) -> Incident | None:
        if not self.ids or not 0 <= self.cursor_row < len(self.ids):
            return None
        return self.incidents.get(self.ids[self.cursor_row])

    @property
    def selected_id(self) -> str | None:
        incident = self.selected_incident
        return incident.lead.id if incident is not None else None

    def show(self) -> None:
        """Rebuild the rows from the state, the cursor staying on its incident."""
        if not self._columns:
            return
        keep = self.ids[self.cursor_row] if 0 <= self.cursor_row < len(self.ids) else None
        incidents = self.state.incidents(self.filter)
        if self.sort_by in SORT_KEYS:
            incidents.sort(key=SORT_KEYS[self.sort_by], reverse=self.sort_reverse)
        self.clear()
        self.ids = [i.id for i in incidents]
        self.incidents = {i.id: i for i in incidents}
        now = self.state.now()
        for incident in incidents:
            self.add_row(*self._cells(incident, now), key=incident.id)
        if keep in self.ids:
            self.move_cursor(row=self.ids.index(keep), animate=False)
        elif self.ids:
            self.move_cursor(row=0, animate=False)

    def select_incident(self, incident_id: str) -> None:
        if incident_id in self.ids:
            self.move_cursor(row=self.ids.index(incident_id), animate=False)

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
        """Refresh the age and the time left to accept (called every second)."""
        now = self.state.now()
        for incident_id in self.ids:
            incident = self.incidents.get(incident_id)
            if incident is not None:
                self.update_cell(incident_id, "age", fmt.age(now - incident.first_seen))
                self.update_cell(incident_id, "state", state_cell(self.state, incident, now))

    def _cells(self, incident: Incident, now: float) -> list[Text | str]:
        lead = incident.lead
        unseen = any(a.id in self.state.unseen for a in incident.alerts)
        if lead.flagged and lead.state == "new":
            mark = Text("⚑", style="bold red")
        elif unseen:
            mark = Text("●", style="bold yellow")
        else:
            mark = Text(" ")
        cameras = incident.camera_names
        camera = cameras[0] + (f" +{len(cameras) - 1}" if len(cameras) > 1 else "")
        cells: dict[str, Text | str] = {
            "mark": mark,
            "time": fmt.when(incident.first_seen, now),
            "age": fmt.age(now - incident.first_seen),
            "subject": Text(lead.display_name or lead.subject_ref,
                            style="bold reverse" if unseen else ""),
            "category": fmt.category(lead.category, short=True),
            "similarity": f"{incident.best.similarity:.2f}/{incident.best.threshold:.2f}",
            "state": state_cell(self.state, incident, now),
            "officer": officer_cell(incident),
            "sightings": f"{incident.sightings}x",
            "camera": camera,
        }
        return [cells[key] for key, _, _ in self._columns]
