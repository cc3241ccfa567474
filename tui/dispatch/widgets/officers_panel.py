"""Officers panel: call sign, status, distance to the selected alert, last seen."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from shared.protocol.alerts import AlertView
from tui.dispatch import format as fmt
from tui.dispatch.state import DispatchState

STATUS_STYLE = {"available": "green", "busy": "yellow", "off_duty": "dim"}


class OfficersPanel(DataTable[Text | str]):
    DEFAULT_CSS = """
    OfficersPanel { height: 1fr; }
    """

    def __init__(self, state: DispatchState, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", show_cursor=False)
        self.state = state
        self.alert: AlertView | None = None

    def on_mount(self) -> None:
        # Distance before status: at 80 columns the panel is narrow and distance is what
        # the dispatcher scans for.
        self.add_column("", key="mark")  # the officer's letter on the map
        self.add_column("Officer", key="call_sign")
        self.add_column("Dist", key="distance")
        self.add_column("Status", key="status")
        self.add_column("Seen", key="seen")
        self.show(None)

    def show(self, alert: AlertView | None) -> None:
        self.alert = alert
        self.clear()
        now = self.state.now()
        letters = self.state.officer_marks()
        for row in self.state.officers_near(alert):
            officer = row.officer
            status = officer.status.replace("_", " ") if officer.connected else "offline"
            style = STATUS_STYLE.get(officer.status, "") if officer.connected else "dim"
            seen = None if officer.last_seen is None else now - officer.last_seen
            self.add_row(
                Text(letters.get(officer.id, ""), style=style or "bold"),
                Text(officer.call_sign, style="" if officer.connected else "dim"),
                fmt.distance(row.distance_m),
                Text(status, style=style),
                fmt.age(seen),
                key=officer.id,
            )
