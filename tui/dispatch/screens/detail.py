"""Alert detail: probe and reference side by side, the facts, the notice and the timeline."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Static

from shared.protocol.alerts import AlertView
from tui.dispatch import format as fmt
from tui.dispatch.config import ImageMode
from tui.dispatch.messages import StateChanged
from tui.dispatch.screens.base import AlertScreen
from tui.dispatch.state import DispatchState
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


def facts_table(alert: AlertView) -> Table:
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    margin = alert.similarity - alert.threshold
    table.add_row("Subject", f"{alert.display_name} ({alert.subject_ref})")
    table.add_row("Similarity", Text.assemble(
        fmt.similarity(alert.similarity, alert.threshold), f"  (+{margin:.2f})\n",
        similarity_bar(alert.similarity, alert.threshold)))
    table.add_row("Category", fmt.category(alert.category))
    table.add_row("Reason", alert.reason)
    table.add_row("Legal basis", alert.legal_basis)
    table.add_row("Ref. image", alert.reference_image_date)
    table.add_row("Camera", f"{alert.camera_name} · {alert.place}")
    table.add_row("Seen", f"{fmt.stamp(alert.first_seen)} UTC, {alert.sightings}x, "
                          f"last {fmt.clock(alert.last_seen)}")
    state: str = alert.state
    if alert.outcome:
        state += f" ({alert.outcome})"
    if alert.dismiss_reason:
        state += f" ({alert.dismiss_reason})"
    if alert.flagged:
        state += " ⚑ assignment not accepted in time"
    table.add_row("State", state)
    table.add_row("Officer", alert.assigned_call_sign or "-")
    return table


def timeline(alert: AlertView) -> Text:
    text = Text()
    for event in sorted(alert.events, key=lambda e: e.at):
        text.append(f"{fmt.clock(event.at)} ", style="dim")
        text.append(f"{event.action:<11}", style="bold")
        text.append(f" {event.actor}")
        if event.detail:
            text.append(f": {event.detail}", style="italic")
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
        if message.change.kind == "reset" or message.change.alert_id == self.alert_id:
            self._render_alert()

    def _render_alert(self) -> None:
        alert = self.state.alerts.get(self.alert_id)
        if alert is None:
            self.query_one("#facts", Static).update(
                Text("This alert is no longer available (withdrawn or purged).", style="bold")
            )
            return
        self.state.mark_seen(alert.id)
        self.query_one("#facts", Static).update(facts_table(alert))
        self.query_one("#notice", Static).update(Text(f"⚠ {alert.notice}", style="bold"))
        self.query_one("#timeline", Static).update(timeline(alert))
        self.query_one("#probe", PhotoPanel).set_caption(
            f"Probe {fmt.clock(alert.last_seen)}")
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
