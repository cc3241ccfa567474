"""Modal dialogs: assign (officers by distance), dismiss (reason required), note, help."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, RadioButton, RadioSet, Static

from shared.protocol.alerts import AlertView
from shared.protocol.base import DISMISS_REASONS, DismissReason
from tui.dispatch import format as fmt
from tui.dispatch.state import DispatchState

STATUS_STYLE = {"available": "green", "busy": "yellow", "off_duty": "dim"}

REASON_LABELS: dict[DismissReason, str] = {
    "different_person": "Different person (the comparison does not hold)",
    "poor_image": "Probe too poor to judge",
    "outdated_entry": "Watchlist entry outdated",
    "duplicate": "Duplicate of another alert",
    "other": "Other (explain below)",
}


class AssignScreen(ModalScreen[str | None]):
    """Officers sorted by distance to the camera; preselected: the officer already on
    another alert of the same incident (a new sighting of the person they are looking for),
    else the nearest available one.

    Returns the chosen officer's id, or None when cancelled.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, state: DispatchState, alert: AlertView) -> None:
        super().__init__(id="assign")
        self.state = state
        self.alert = alert
        self.rows = state.officers_near(alert)
        on_it = next((a.assigned_officer_id for a in state.incident_of(alert).alerts
                      if a.id != alert.id and a.state in ("assigned", "accepted")
                      and a.assigned_officer_id in state.officers), None)
        suggestion = state.suggest_officer(alert)
        self.on_incident = on_it is not None
        self.suggested = on_it or (suggestion.id if suggestion else None)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Assign {self.alert.display_name} · {self.alert.camera_name}",
                        classes="dialog-title")
            yield DataTable(id="assign-officers", cursor_type="row")
            hint = ("the officer already on this incident preselected" if self.on_incident
                    else "nearest available officer preselected" if self.suggested
                    else "no available officer with a known position")
            yield Label(hint, classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Assign", variant="primary", id="assign-ok")
                yield Button("Cancel", id="assign-cancel")

    def on_mount(self) -> None:
        table: DataTable[Any] = self.query_one(DataTable)
        table.add_columns("Officer", "Status", "Distance", "Seen")
        now = self.state.now()
        cursor = 0
        for index, row in enumerate(self.rows):
            officer = row.officer
            status = officer.status if officer.connected else f"{officer.status} (offline)"
            seen = None if officer.last_seen is None else now - officer.last_seen
            table.add_row(officer.call_sign,
                          Text(status, style=STATUS_STYLE.get(officer.status, "")),
                          fmt.distance(row.distance_m), fmt.age(seen), key=officer.id)
            if officer.id == self.suggested:
                cursor = index
        table.move_cursor(row=cursor, animate=False)
        table.focus()

    def _chosen(self) -> str | None:
        table: DataTable[Any] = self.query_one(DataTable)
        if not self.rows or not 0 <= table.cursor_row < len(self.rows):
            return None
        return self.rows[table.cursor_row].officer.id

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.dismiss(self._chosen())

    @on(Button.Pressed, "#assign-ok")
    def _ok(self) -> None:
        self.dismiss(self._chosen())

    @on(Button.Pressed, "#assign-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class DismissScreen(ModalScreen[tuple[DismissReason, str] | None]):
    """A reason is required (from the closed list); ``other`` also needs a text."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, alert: AlertView) -> None:
        super().__init__(id="dismiss")
        self.alert = alert

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Dismiss {self.alert.display_name}: why is this not a match?",
                        classes="dialog-title")
            with RadioSet(id="dismiss-reason"):
                for reason in DISMISS_REASONS:
                    yield RadioButton(REASON_LABELS[reason], name=reason)
            yield Input(placeholder="details (required for Other)", id="dismiss-text")
            yield Label("", id="dismiss-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Dismiss", variant="error", id="dismiss-ok")
                yield Button("Cancel", id="dismiss-cancel")

    def on_mount(self) -> None:
        self.query_one(RadioSet).focus()

    def _reason(self) -> DismissReason | None:
        pressed = self.query_one(RadioSet).pressed_button
        if pressed is None or pressed.name not in DISMISS_REASONS:
            return None
        return pressed.name  # type: ignore[return-value]

    @on(Button.Pressed, "#dismiss-ok")
    @on(Input.Submitted, "#dismiss-text")
    def submit(self) -> None:
        reason = self._reason()
        text = self.query_one("#dismiss-text", Input).value.strip()
        error = self.query_one("#dismiss-error", Label)
        if reason is None:
            error.update("Choose a reason: an alert is never dismissed without one.")
            return
        if reason == "other" and not text:
            error.update("Say why in the details box.")
            self.query_one("#dismiss-text", Input).focus()
            return
        self.dismiss((reason, text))

    @on(Button.Pressed, "#dismiss-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class NoteScreen(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, alert: AlertView) -> None:
        super().__init__(id="note")
        self.alert = alert

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Note on {self.alert.display_name}", classes="dialog-title")
            yield Input(placeholder="note for the alert's timeline", id="note-text")
            yield Label("", id="note-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Add note", variant="primary", id="note-ok")
                yield Button("Cancel", id="note-cancel")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Button.Pressed, "#note-ok")
    @on(Input.Submitted)
    def submit(self) -> None:
        text = self.query_one(Input).value.strip()
        if not text:
            self.query_one("#note-error", Label).update("A note cannot be empty.")
            return
        self.dismiss(text)

    @on(Button.Pressed, "#note-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


HELP = """\
[b]Vigil dispatcher console[/b]

An alert is a possible match: a lead for an officer to check, never a verdict. \
Compare the probe with the reference photo before assigning.

[b]Queue[/b]
  ↑ ↓        move            Enter   open the incident's alert
  /          search          f       cycle the state filter
  a          assign          d       dismiss (reason required)
  n          add a note      r       reopen
  b          bell on/off     t       dark / light theme
  m          map / officers (below 100 columns)
  ?          this help       q       quit

[b]Detail[/b]  a d n r as above, Esc back.
[b]Dialogs[/b] Enter confirms, Esc cancels. The mouse works everywhere.

One row per incident: every alert of one watchlist entry in one deployment while any is \
open (its cameras and sightings inside; actions apply to its most urgent alert). Order: \
flagged ⚑ (assignment not accepted in time), new, assigned, accepted, closed; newest \
incident first. A new sighting never moves a row; ● marks what you have not opened, \
⧗ a command waiting for the server. Age is the incident's age; an assignment shows the \
time left to accept ("new+ack 1:30" when a newer sighting leads the row), after which it \
returns to the queue flagged ⚑ and you are told. Times are local. Similarity is \
always shown with the deployment's threshold. Statistics show false alerts per face \
processed and alert precision together: neither alone tells how well a deployment works.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close"),
        Binding("q", "close", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="help"):
            # The text scrolls inside the dialog, so Close stays on screen at 80x24.
            with VerticalScroll(id="help-body"):
                yield Static(HELP, markup=True)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", id="help-close")

    @on(Button.Pressed, "#help-close")
    def action_close(self) -> None:
        self.dismiss(None)
