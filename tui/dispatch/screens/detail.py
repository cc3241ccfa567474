"""Alert detail: probe and reference side by side, the facts, the notice and the timeline."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Static

from shared.protocol.alerts import AlertEvent, AlertView
from tui.dispatch import format as fmt
from tui.dispatch.config import ImageMode
from tui.dispatch.messages import StateChanged
from tui.dispatch.screens.base import AlertScreen
from tui.dispatch.state import DispatchState, incident_key
from tui.dispatch.widgets.photo import PhotoPanel
from tui.dispatch.widgets.status_bar import StatusBar

ImageFetcher = Callable[[str], Awaitable[bytes]]
"""Downloads a photo by its REST path; raises on failure (the message is shown)."""


def similarity_bar(similarity: float, threshold: float, width: int = 20) -> Text:
    """A bar of the score with the threshold marked, so the margin is seen, not computed."""
    filled = round(max(0.0, min(1.0, similarity)) * width)
    mark = min(width - 1, round(max(0.0, min(1.0, threshold)) * width))
    text = Text()
    for i in range(width):
        if i == mark:
            text.append("┃", style="bold red")
        else:
            text.append("█" if i < filled else "░", style="cyan" if i < filled else "dim")
    return text


def _state_line(state: DispatchState, alert: AlertView, now: float) -> Text:
    line = Text(alert.state, style="bold")
    if alert.outcome:
        line.append(f" ({alert.outcome})")
    if alert.dismiss_reason:
        line.append(f" ({alert.dismiss_reason})")
    if alert.flagged:
        line.append(" ⚑ assignment not accepted in time", style="bold red")
    pending = state.pending.get(alert.id)
    if pending:
        line.append(f"  ⧗ {pending}: waiting for the server", style="bold magenta")
    deadline = state.ack_deadline(alert)
    if deadline is not None:
        left = deadline - now
        line.append(f"  {fmt.countdown(left)} left to accept" if left > 0
                    else "  time to accept is up", style="bold red" if left < 30 else "cyan")
        line.append(", then back to the queue, flagged ⚑", style="dim")
    return line


def _officer_line(state: DispatchState, alert: AlertView, now: float) -> Text:
    """This alert's officer; else the officer on another alert of its incident, with the
    time left to accept while that assignment waits (the row's timer, seen here too)."""
    if alert.assigned_call_sign:
        return Text(alert.assigned_call_sign)
    for other in state.incident_of(alert).alerts:
        if other.id == alert.id or other.state not in ("assigned", "accepted"):
            continue
        line = Text(other.assigned_call_sign or "?")
        line.append(" (incident)", style="dim")
        deadline = state.ack_deadline(other)
        if deadline is not None:
            left = deadline - now
            line.append(f" {fmt.countdown(left)} to accept" if left > 0 else " time is up",
                        style="bold red" if left < 30 else "cyan")
        else:
            line.append(f" {other.state}")
        return line
    return Text("-")


def facts_table(alert: AlertView, state: DispatchState | None = None) -> Table:
    """The facts, most needed first: at 80x24 the subject, score, state, officer and camera
    show without scrolling; the watchlist entry's reason and basis follow."""
    state = state or DispatchState()
    now = state.now()
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    margin = alert.similarity - alert.threshold
    table.add_row("Subject", f"{alert.display_name} ({alert.subject_ref})")
    table.add_row("Similarity", Text.assemble(
        fmt.similarity(alert.similarity, alert.threshold), f"  (+{margin:.2f}) ",
        similarity_bar(alert.similarity, alert.threshold, width=12)))
    table.add_row("State", _state_line(state, alert, now))
    table.add_row("Officer", _officer_line(state, alert, now))
    camera = alert.camera_name + (f" · {alert.camera_place}" if alert.camera_place else "")
    table.add_row("Camera", camera)
    table.add_row("Seen", f"{alert.sightings}x, first {fmt.when(alert.first_seen, now)}, "
                          f"last {fmt.when(alert.last_seen, now)}")
    incident = state.incident_of(alert)
    if len(incident.alerts) > 1:
        others = Text()
        for other in sorted(incident.alerts, key=lambda a: a.first_seen):
            mark = "▸ " if other.id == alert.id else "  "
            opened = fmt.when(other.first_seen, now)
            opened = opened[:5] if len(opened) == 8 else opened  # today: HH:MM
            others.append(f"{mark}{opened} {other.camera_name} {other.sightings}x "
                          f"{other.state}\n")
        others.rstrip()
        table.add_row("Incident", Text(f"{len(incident.alerts)} alerts, "
                                       f"{incident.sightings} sightings, opened "
                                       f"{fmt.when(incident.first_seen, now)}\n") + others)
    table.add_row("Category", fmt.category(alert.category))
    table.add_row("Reason", alert.reason)
    table.add_row("Legal basis", alert.legal_basis)
    table.add_row("Ref. image", alert.reference_image_date)
    table.add_row("Alert id", Text(alert.id, style="dim"))
    return table


OFFICER_REF = re.compile(r"officer=(\S+)")


def timeline(alert: AlertView, state: DispatchState | None = None) -> Text:
    """Who did what, by name or call sign (ids only in the detail's facts).

    The incident's other alerts add what people did on them (assignments, notes, outcomes;
    not their sightings), marked with their camera: a note put on the alert the officer has
    is seen here too, whichever alert of the incident the detail shows.
    """
    state = state or DispatchState()
    entries: list[tuple[AlertEvent, str]] = [(e, "") for e in alert.events]
    for other in state.incident_of(alert).alerts:
        if other.id != alert.id:
            entries += [(e, other.camera_name) for e in other.events if e.action != "sighted"]
    text = Text()
    for event, camera in sorted(entries, key=lambda entry: entry[0].at):
        text.append(f"{fmt.when(event.at, state.now())} ", style="dim")
        text.append(f"{event.action:<11}", style="bold")
        text.append(f" {state.actor_name(event.actor, event.actor_name)}")
        if event.detail:
            detail = OFFICER_REF.sub(lambda m: state.actor_name(m.group(1)), event.detail)
            text.append(f": {detail}", style="italic")
        if camera:
            text.append(f"  · {camera} alert", style="dim")
        text.append("\n")
    return text or Text("no events", style="dim")


class DetailScreen(AlertScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("a", "app.assign", "Assign"),
        Binding("d", "app.dismiss_alert", "Dismiss"),
        Binding("n", "app.note", "Note"),
        Binding("r", "app.reopen", "Reopen"),
        Binding("question_mark", "app.help", "Help", key_display="?"),
    ]

    def __init__(
        self, state: DispatchState, alert_id: str, fetch: ImageFetcher, images: ImageMode
    ) -> None:
        super().__init__(id="detail")
        self.state = state
        self.alert_id = alert_id
        self.fetch = fetch
        self.images = images
        self._loaded: tuple[str, str] | None = None

    @property
    def current_alert_id(self) -> str | None:
        return self.alert_id

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Horizontal(id="detail-top"):
            yield PhotoPanel("Probe (camera)", self.images, id="probe")
            yield PhotoPanel("Reference photo", self.images, id="reference")
            with VerticalScroll(id="facts-box"):
                yield Static(id="facts")
        yield Static(id="notice")
        timeline_box = VerticalScroll(Static(id="timeline"), id="timeline-box")
        timeline_box.border_title = "Timeline"
        yield timeline_box
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#facts-box").focus()
        self._render_alert()

    def on_state_changed(self, message: StateChanged) -> None:
        change = message.change
        alert = self.state.alerts.get(self.alert_id)
        changed = self.state.alerts.get(change.alert_id) if change.alert_id else None
        same_incident = (alert is not None and changed is not None
                         and incident_key(alert) == incident_key(changed))
        if change.kind == "reset" or change.alert_id == self.alert_id or same_incident:
            self._render_alert()

    def tick(self) -> None:
        alert = self.state.alerts.get(self.alert_id)
        if alert is not None and any(self.state.ack_deadline(a) is not None
                                     for a in self.state.incident_of(alert).alerts):
            self.query_one("#facts", Static).update(facts_table(alert, self.state))

    def _render_alert(self) -> None:
        alert = self.state.alerts.get(self.alert_id)
        if alert is None:
            self.query_one("#facts", Static).update(
                Text("This alert is no longer available (withdrawn or purged).", style="bold")
            )
            return
        self.state.mark_seen(alert.id)
        self.query_one("#facts", Static).update(facts_table(alert, self.state))
        self.query_one("#notice", Static).update(Text(f"⚠ {alert.notice}", style="bold"))
        self.query_one("#timeline", Static).update(timeline(alert, self.state))
        self.query_one("#probe", PhotoPanel).set_caption(
            f"Probe {fmt.when(alert.last_seen, self.state.now())}")
        self.query_one("#reference", PhotoPanel).set_caption(
            f"Ref. {alert.reference_image_date}")
        urls = (alert.probe_url, alert.reference_url)
        if urls != self._loaded:
            self._loaded = urls
            self.run_worker(self._load_photos(*urls), group="photos", exclusive=True,
                            exit_on_error=False)

    async def _load_photos(self, probe_url: str, reference_url: str) -> None:
        for panel_id, url in (("#probe", probe_url), ("#reference", reference_url)):
            panel = self.query_one(panel_id, PhotoPanel)
            if self.images == "none":
                await panel.show_message("photos off (--images none)")
                continue
            if not url:
                await panel.show_message("no photo")
                continue
            try:
                data = await self.fetch(url)
            except Exception as exc:  # any failure is shown where the photo would be
                await panel.show_message(f"photo unavailable: {exc}")
                continue
            await panel.show_image(data)
