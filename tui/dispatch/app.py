"""The dispatcher console application: wiring of connection, state and screens.

``DispatchApp(settings, connect=...)`` takes its connection from a factory so tests inject a
fake or point it at a real server; the state is plain Python (:mod:`tui.dispatch.state`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.worker import Worker, WorkerState

from shared.protocol.alerts import AlertView
from shared.protocol.common import CommandResult, Error
from shared.protocol.dispatch import (
    AddNote,
    AssignAlert,
    DismissAlert,
    DispatchOut,
    ReopenAlert,
)
from shared.protocol.officer import AlertUpdated
from tui.connection import ClientError, Connection, ConnectionStatus, RequestTimeout
from tui.dispatch.config import THEMES, ConsoleSettings
from tui.dispatch.messages import StateChanged, StatusChanged
from tui.dispatch.screens.base import AlertScreen
from tui.dispatch.screens.detail import DetailScreen, ImageFetcher
from tui.dispatch.screens.main import MainScreen
from tui.dispatch.screens.modals import AssignScreen, DismissScreen, HelpScreen, NoteScreen
from tui.dispatch.state import Change, DispatchState
from tui.dispatch.widgets.status_bar import status_text

Connect = Callable[[], Connection[DispatchOut]]

PHOTO_CACHE_SIZE = 32
"""Photos kept in memory (never on disk) so that going back and forth does not refetch."""


class DispatchApp(App[int]):
    """The console. Exit code 0 after a normal quit.

    Args:
        settings: what ``vigil dispatch`` was given.
        connect: builds the dispatcher connection (called once, on mount).
        clock: local wall clock; tests pass a fixed one for deterministic screens.
        fetch_image: downloads a photo by REST path; default: httpx with the bearer token.
        tick_s: period of the clock/age refresh; None disables it (snapshot tests).
    """

    CSS_PATH = "app.tcss"
    TITLE = "Vigil dispatch"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "quit", "Quit", show=False)]

    def __init__(
        self,
        settings: ConsoleSettings,
        *,
        connect: Connect,
        clock: Callable[[], float] = time.time,
        fetch_image: ImageFetcher | None = None,
        tick_s: float | None = 1.0,
    ) -> None:
        if settings.images != "none":
            # textual-image asks the terminal what it can draw when first imported; that must
            # happen before Textual takes the terminal over, i.e. here, not in a screen.
            import textual_image.widget  # noqa: F401
        super().__init__()
        self.settings = settings
        self.state = DispatchState(clock=clock)
        self.bell_on = settings.bell
        self.status = ConnectionStatus(state="connecting")
        self.account_name = ""
        self._connect = connect
        self._conn: Connection[DispatchOut] | None = None
        self._fetch = fetch_image or self._http_fetch
        self._photos: OrderedDict[str, bytes] = OrderedDict()
        self._tick_s = tick_s
        self.theme = THEMES[settings.theme]

    # -- lifecycle ------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.push_screen(MainScreen(self.state))
        self.call_after_refresh(self._show_status)
        self._conn = self._connect()
        self.run_worker(self._run_connection(), name="connection", group="connection",
                        exclusive=True, exit_on_error=False)
        if self._tick_s:
            self.set_interval(self._tick_s, self._tick)

    async def _run_connection(self) -> None:
        assert self._conn is not None
        await self._conn.run(self._on_server_message, self._on_status)

    async def action_quit(self) -> None:
        if self._conn is not None:
            await self._conn.close()
        self.exit(0)

    # -- connection callbacks (run on this loop, before the ack) -------------------------------

    def _on_server_message(self, message: DispatchOut) -> None:
        if isinstance(message, Error):
            self.notify(f"{message.code}: {message.message}", title="Server error",
                        severity="error")
            return
        before = (self.state.alerts.get(message.alert.id)
                  if isinstance(message, AlertUpdated) else None)
        change = self.state.apply(message)
        if change.kind == "none":
            return
        if change.kind == "alert_raised" and change.alert_id in self.state.alerts:
            self._announce(self.state.alerts[change.alert_id])
        if before is not None and change.alert_id in self.state.alerts:
            self._announce_expiry(before, self.state.alerts[change.alert_id])
        self._broadcast(change)

    def _broadcast(self, change: Change) -> None:
        for screen in self.screen_stack:
            screen.post_message(StateChanged(change))
        self._show_status()

    def _announce(self, alert: AlertView) -> None:
        """A new incident is announced (and rings); an alert joining an open incident is
        news too, but the same person: a quieter line, no bell."""
        incident = self.state.incident_of(alert)
        where = alert.camera_name
        if len(incident.alerts) > 1:
            self.notify(f"{alert.display_name} seen again at {where} "
                        f"({alert.similarity:.2f} / {alert.threshold:.2f}); same incident, "
                        f"{len(incident.alerts)} alerts", title="Sighting", timeout=6)
            return
        self.notify(f"{alert.display_name} at {where} "
                    f"({alert.similarity:.2f} / {alert.threshold:.2f})", title="New incident",
                    timeout=10)
        if self.bell_on:
            self.bell()

    def _announce_expiry(self, before: AlertView, after: AlertView) -> None:
        """An assignment that ran out of time to accept came back: say who and what now."""
        if before.state == "assigned" and after.state == "new" and after.flagged:
            who = before.assigned_call_sign or "The officer"
            self.notify(f"{who} did not accept {after.display_name} in time: back in the "
                        "queue, flagged ⚑, to assign again.", title="Not accepted",
                        severity="warning", timeout=15)
            if self.bell_on:
                self.bell()

    def _on_status(self, status: ConnectionStatus) -> None:
        previous = self.status.state
        self.status = status
        if status.name:
            self.account_name = status.name
        if status.state == "offline" and status.reason != "closed":
            self.notify(status.reason, title="Offline", severity="error", timeout=30)
        elif status.state == "reconnecting" and previous == "connected":
            self.notify(status.reason, title="Connection lost", severity="warning")
        self.post_message(StatusChanged(status))
        self._show_status()

    def _show_status(self) -> None:
        text = status_text(self.status, self.state, self.account_name, self.bell_on)
        for screen in self.screen_stack:
            if isinstance(screen, AlertScreen):
                screen.show_status(text)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker that failed is reported, never silently lost (harlequin does the same)."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if event.worker.group == "connection":
            self._on_status(ConnectionStatus(state="offline", reason=f"client error: {error}"))
        else:
            self.notify(str(error), title="Error", severity="error")

    def _tick(self) -> None:
        self._show_status()
        screen = self.screen
        if isinstance(screen, AlertScreen):
            screen.tick()

    # -- actions (bound by the main and detail screens) ---------------------------------------

    def _current_alert(self) -> AlertView | None:
        screen = self.screen
        if not isinstance(screen, AlertScreen):
            return None
        alert_id = screen.current_alert_id
        alert = self.state.alerts.get(alert_id) if alert_id else None
        if alert is None:
            self.notify("No alert selected.", severity="warning")
        return alert

    def action_open_detail(self) -> None:
        alert = self._current_alert()
        if alert is not None and not isinstance(self.screen, DetailScreen):
            self.push_screen(DetailScreen(self.state, alert.id, self._cached_fetch,
                                          self.settings.images))
            self.call_after_refresh(self._show_status)

    def action_assign(self) -> None:
        alert = self._current_alert()
        if alert is None:
            return

        def chosen(officer_id: str | None) -> None:
            if officer_id:
                call_sign = self.state.officers[officer_id].call_sign
                self._command(AssignAlert(ref=self._ref(), alert_id=alert.id,
                                          officer_id=officer_id), f"Assigned to {call_sign}",
                              f"assign {call_sign}")

        self.push_screen(AssignScreen(self.state, alert), chosen)

    def action_dismiss_alert(self) -> None:
        alert = self._current_alert()
        if alert is None:
            return

        def chosen(answer: tuple[Any, str] | None) -> None:
            if answer is not None:
                reason, text = answer
                self._command(DismissAlert(ref=self._ref(), alert_id=alert.id, reason=reason,
                                           text=text), "Alert dismissed", "dismiss")

        self.push_screen(DismissScreen(alert), chosen)

    def action_note(self) -> None:
        alert = self._current_alert()
        if alert is None:
            return
        # A note on an incident goes where the officer on it will read it.
        alert = self.state.note_target(alert)

        def chosen(text: str | None) -> None:
            if text:
                self._command(AddNote(ref=self._ref(), alert_id=alert.id, text=text),
                              "Note added", "note")

        self.push_screen(NoteScreen(alert), chosen)

    def action_reopen(self) -> None:
        alert = self._current_alert()
        if alert is not None:
            self._command(ReopenAlert(ref=self._ref(), alert_id=alert.id), "Alert reopened",
                          "reopen")

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_toggle_bell(self) -> None:
        self.bell_on = not self.bell_on
        self.notify(f"Bell {'on' if self.bell_on else 'off'} for new alerts")
        self._show_status()

    def action_toggle_theme(self) -> None:
        self.theme = THEMES["light"] if self.theme == THEMES["dark"] else THEMES["dark"]

    # -- commands -----------------------------------------------------------------------------

    def _ref(self) -> int:
        assert self._conn is not None
        return self._conn.next_ref()

    def _command(self, command: Any, success: str, doing: str) -> None:
        self.run_worker(self._send_command(command, success, doing), group="commands",
                        exit_on_error=False)

    async def _send_command(self, command: Any, success: str,
                            doing: str = "sending") -> CommandResult | None:
        """Send and report; the state changes only through the server's own updates.

        While the server has not answered, the alert's row shows ``⧗ doing…`` (a loaded
        server takes seconds); no answer in time is said as such: the command may or may not
        have been applied, and the queue shows what the server says.
        """
        assert self._conn is not None
        alert_id = str(command.alert_id)
        self._broadcast(self.state.set_pending(alert_id, doing))
        try:
            result = await self._conn.request(command)
        except RequestTimeout:
            self.notify(f"No answer from the server to '{doing}' in time: it may or may not "
                        "have been applied; the queue shows the server's state.",
                        title="No answer", severity="warning", timeout=15)
            return None
        except ClientError as exc:
            self.notify(exc.message, title="Not sent", severity="error")
            return None
        finally:
            self._broadcast(self.state.set_pending(alert_id, None))
        if result.ok:
            self.notify(success)
        else:
            text = f"{result.code}: {result.message}" if result.message else result.code
            self.notify(text, title="Refused by the server", severity="error", timeout=10)
        return result

    # -- photos ---------------------------------------------------------------------------

    async def _cached_fetch(self, url: str) -> bytes:
        if url in self._photos:
            self._photos.move_to_end(url)
            return self._photos[url]
        data = await self._fetch(url)
        self._photos[url] = data
        while len(self._photos) > PHOTO_CACHE_SIZE:
            self._photos.popitem(last=False)
        return data

    async def _http_fetch(self, url: str) -> bytes:
        import httpx

        from tui.connection import http_url

        base = http_url(self.settings.server)
        full = url if url.startswith(("http://", "https://")) else base + "/" + url.lstrip("/")
        async with httpx.AsyncClient(timeout=self.settings.image_timeout_s) as client:
            response = await client.get(
                full, headers={"Authorization": f"Bearer {self.settings.token}"}
            )
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")
        return response.content

