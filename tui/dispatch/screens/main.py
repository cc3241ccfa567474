"""The main screen: status, filters, the alert queue, and officers / map / statistics."""

from __future__ import annotations

from typing import ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.widgets import DataTable, Footer, Input, Select

from shared.protocol.alerts import AlertView
from shared.protocol.base import CATEGORIES
from tui.dispatch import format as fmt
from tui.dispatch.messages import StateChanged
from tui.dispatch.screens.base import AlertScreen
from tui.dispatch.state import STATE_FILTERS, DispatchState, QueueFilter, StateFilter
from tui.dispatch.widgets.alert_queue import AlertQueue
from tui.dispatch.widgets.map_pane import MapPane
from tui.dispatch.widgets.officers_panel import OfficersPanel
from tui.dispatch.widgets.stats_panel import StatsPanel
from tui.dispatch.widgets.status_bar import StatusBar

STATE_LABELS: dict[StateFilter, str] = {
    "open": "open alerts", "all": "all alerts", "new": "new only", "assigned": "assigned only",
    "accepted": "accepted only", "closed": "closed only",
}

NARROW_WIDTH = 100
"""Below this many columns the officers panel and the map share one slot (key ``m``)."""

ALL = "*"
"""Select value meaning 'any' (Select's own blank is reserved for 'nothing chosen')."""


class MainScreen(AlertScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "app.open_detail", "Detail", show=True),
        Binding("a", "app.assign", "Assign"),
        Binding("d", "app.dismiss_alert", "Dismiss"),
        Binding("n", "app.note", "Note"),
        Binding("r", "app.reopen", "Reopen"),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("f", "cycle_state", "Filter", show=False),
        Binding("b", "app.toggle_bell", "Bell", show=False),
        Binding("t", "app.toggle_theme", "Theme", show=False),
        Binding("m", "toggle_map", "Map", show=False),
        Binding("question_mark", "app.help", "Help", key_display="?"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, state: DispatchState) -> None:
        super().__init__(id="main")
        self.state = state

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Horizontal(id="filters"):
            yield Select([(STATE_LABELS[s], s) for s in STATE_FILTERS], value="open",
                         allow_blank=False,
                         compact=True, id="f-state", tooltip="Alert state")
            yield Select([("all deployments", ALL)], value=ALL, allow_blank=False,
                         compact=True, id="f-deployment", tooltip="Deployment")
            yield Select([("all categories", ALL)]
                         + [(fmt.category(c), c) for c in CATEGORIES],
                         value=ALL, allow_blank=False, compact=True, id="f-category",
                         tooltip="Watchlist category")
            yield Input(placeholder="/ search", compact=True, id="f-search")
        queue = AlertQueue(self.state, id="queue")
        queue.border_title = "Alerts"
        yield queue
        with Horizontal(id="panels"):
            officers = OfficersPanel(self.state, id="officers")
            officers.border_title = "Officers"
            yield officers
            map_pane = MapPane(self.state, id="map")
            map_pane.border_title = "Map"
            yield map_pane
            stats = StatsPanel(self.state, id="stats")
            stats.border_title = "Statistics"
            yield stats
        yield Footer()

    @property
    def current_alert_id(self) -> str | None:
        try:
            return self.query_one(AlertQueue).selected_id
        except NoMatches:  # not composed yet
            return None

    def on_mount(self) -> None:
        self.query_one(AlertQueue).focus()
        self.set_class(self.app.size.width < NARROW_WIDTH, "narrow")
        self._refresh_all()

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < NARROW_WIDTH, "narrow")

    def action_toggle_map(self) -> None:
        """Below 100 columns: show the map in the officers' place, or back."""
        self.toggle_class("show-map")
        self._refresh_panels()

    # -- state -> widgets -----------------------------------------------------------------

    def on_state_changed(self, message: StateChanged) -> None:
        kind = message.change.kind
        if kind in ("reset", "deployment"):
            self._sync_deployment_options()
        if kind in ("reset", "alert_raised", "alert_updated", "alert_withdrawn", "deployment",
                    "pending"):
            self.query_one(AlertQueue).show()
        self._refresh_panels()

    def tick(self) -> None:
        self.query_one(AlertQueue).tick()
        self.query_one(OfficersPanel).show(self._selected())

    def _refresh_all(self) -> None:
        self._sync_deployment_options()
        self.query_one(AlertQueue).show()
        self._refresh_panels()

    def _selected(self) -> AlertView | None:
        alert_id = self.current_alert_id
        return self.state.alerts.get(alert_id) if alert_id else None

    def _refresh_panels(self) -> None:
        alert = self._selected()
        self.query_one(OfficersPanel).show(alert)
        self.query_one(MapPane).show(alert)
        dep_filter = self.query_one(AlertQueue).filter.deployment_id
        dep = alert.deployment_id if alert is not None else dep_filter
        if dep is None and len(self.state.deployments) == 1:
            dep = next(iter(self.state.deployments))
        self.query_one(StatsPanel).show(dep)

    def _sync_deployment_options(self) -> None:
        select: Select[str] = self.query_one("#f-deployment", Select)
        options = [("all deployments", ALL)] + [
            (d.name, d.id) for d in sorted(self.state.deployments.values(), key=lambda d: d.name)
        ]
        value = select.value
        select.set_options(options)
        if value in {v for _, v in options}:
            select.value = value

    # -- user -> filters ------------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#queue")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._refresh_panels()

    @on(DataTable.RowSelected, "#queue")
    async def _selected_row(self, event: DataTable.RowSelected) -> None:
        await self.app.run_action("open_detail")

    @on(Select.Changed)
    def _filter_changed(self, event: Select.Changed) -> None:
        self._apply_filters()

    @on(Input.Changed, "#f-search")
    def _search_changed(self, event: Input.Changed) -> None:
        self._apply_filters()

    @on(Input.Submitted, "#f-search")
    def _search_done(self, event: Input.Submitted) -> None:
        self.query_one(AlertQueue).focus()

    def _apply_filters(self) -> None:
        state_value = self.query_one("#f-state", Select).value
        dep = self.query_one("#f-deployment", Select).value
        cat = self.query_one("#f-category", Select).value
        queue = self.query_one(AlertQueue)
        queue.filter = QueueFilter(
            state=state_value if isinstance(state_value, str) else "open",  # type: ignore[arg-type]
            deployment_id=dep if isinstance(dep, str) and dep != ALL else None,
            category=cat if isinstance(cat, str) and cat != ALL else None,  # type: ignore[arg-type]
            text=self.query_one("#f-search", Input).value.strip(),
        )
        queue.show()
        self._refresh_panels()

    def action_search(self) -> None:
        self.query_one("#f-search", Input).focus()

    def action_cycle_state(self) -> None:
        select: Select[StateFilter] = self.query_one("#f-state", Select)
        current = select.value if select.value in STATE_FILTERS else "open"
        index = STATE_FILTERS.index(current)  # type: ignore[arg-type]
        select.value = STATE_FILTERS[(index + 1) % len(STATE_FILTERS)]

    def key_escape(self) -> None:
        # Leaving the search box (or any filter) returns to the queue.
        self.query_one(AlertQueue).focus()
