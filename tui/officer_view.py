"""How the terminal officer client shows things and reads the officer's commands.

Two outputs: :class:`CardOutput` prints alert cards with rich (the fields an officer needs to
judge a possible match, and the notice that a match is not grounds for arrest), and
:class:`JsonLinesOutput` prints one JSON object per received message for scripts. Commands are
typed lines (a key, then Enter), parsed by :func:`parse_command`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from typing import TextIO

import msgspec
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from shared.geo import distance_m
from shared.protocol.alerts import AlertEvent, AlertView
from shared.protocol.base import OUTCOMES, OfficerStatus, Outcome
from shared.protocol.common import CommandResult, Error
from shared.protocol.officer import (
    AlertAssigned,
    AlertRaised,
    AlertUpdated,
    AlertWithdrawn,
    OfficerOut,
)
from tui.connection import ConnectionStatus
from tui.officer_photos import Fetch, alert_photos
from tui.officer_state import OfficerState

HELP = (
    "commands: a [ID] accept assignment | r OUTCOME [ID] resolve "
    "(c=confirmed_match n=not_the_person l=not_located o=outdated_entry) | "
    "s available|busy|off_duty | l list | q quit | h help"
)
STATUSES: tuple[OfficerStatus, ...] = ("available", "busy", "off_duty")


class Accept(msgspec.Struct, frozen=True):
    alert_id: str


class Resolve(msgspec.Struct, frozen=True):
    alert_id: str
    outcome: Outcome
    note: str = ""


class SetStatus(msgspec.Struct, frozen=True):
    status: OfficerStatus


class Simple(msgspec.Struct, frozen=True):
    name: str
    """``list``, ``help`` or ``quit``."""


Command = Accept | Resolve | SetStatus | Simple


def _outcome(word: str) -> Outcome | None:
    word = word.lower()
    matches = [o for o in OUTCOMES if o.startswith(word) or o.split("_")[0] == word]
    if word in {"l", "located"}:
        return "not_located"
    if word in {"n", "not", "not_the_person", "person"}:
        return "not_the_person"
    return matches[0] if len(matches) == 1 else None


def parse_command(line: str, state: OfficerState) -> Command | str:
    """Parse one typed line; returns the command or an explanation of what is wrong."""
    words = line.strip().split()
    if not words:
        return HELP
    key, rest = words[0].lower(), words[1:]
    if key in {"a", "accept"}:
        alert_id = rest[0] if rest else state.to_accept()
        return Accept(alert_id) if alert_id else "no assignment waiting to be accepted"
    if key in {"r", "resolve"}:
        if not rest:
            return "resolve needs an outcome: " + ", ".join(OUTCOMES)
        outcome = _outcome(rest[0])
        if outcome is None:
            return f"unknown outcome {rest[0]!r}: one of " + ", ".join(OUTCOMES)
        alert_id = rest[1] if len(rest) > 1 else state.to_resolve()
        if not alert_id:
            return "no accepted alert to resolve (accept it first)"
        return Resolve(alert_id, outcome, " ".join(rest[2:]))
    if key in {"s", "status"}:
        wanted = rest[0].lower().replace("-", "_") if rest else ""
        status = next((s for s in STATUSES if s.startswith(wanted)), None) if wanted else None
        return SetStatus(status) if status else "status is one of: " + ", ".join(STATUSES)
    if key in {"l", "list"}:
        return Simple("list")
    if key in {"q", "quit", "exit"}:
        return Simple("quit")
    return HELP


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"


def notes(alert: AlertView) -> list[AlertEvent]:
    """The notes on an alert's timeline (the dispatcher's, for the officer who has it)."""
    return sorted((e for e in alert.events if e.action == "note" and e.detail),
                  key=lambda e: e.at)


def note_author(note: AlertEvent) -> str:
    return note.actor_name or note.actor


def alert_card(alert: AlertView, *, title: str, position: tuple[float, float] | None,
               now: float) -> Panel:
    """The alert card: every field an officer needs to judge a possible match."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    where = f"{alert.camera_name} — {alert.camera_place or alert.place}"
    if position is not None and alert.lat is not None and alert.lon is not None:
        where += f" ({distance_m(position[0], position[1], alert.lat, alert.lon):.0f} m from you)"
    rows = [
        ("subject", f"{alert.display_name} ({alert.subject_ref})"),
        ("category", alert.category.replace("_", " ")),
        ("reason", alert.reason),
        ("legal basis", alert.legal_basis),
        ("reference photo", f"taken {alert.reference_image_date}"),
        ("similarity", f"{alert.similarity:.3f} (threshold {alert.threshold:.3f})"),
        ("where", where),
        ("seen", f"first {_age(now - alert.first_seen)}, last {_age(now - alert.last_seen)}, "
                 f"{alert.sightings} sighting(s)"),
        ("state", alert.state + (f" -> {alert.assigned_call_sign}"
                                 if alert.assigned_call_sign else "")),
        ("alert id", alert.id),
    ]
    for name, value in rows:
        grid.add_row(name, value)
    for note in notes(alert):
        grid.add_row("dispatcher note", f"{note.detail}  [dim]({note_author(note)})[/]")
    grid.add_row("", "")
    grid.add_row("NOTICE", f"[bold yellow]{alert.notice}[/]")
    return Panel(grid, title=title, title_align="left", border_style="red")


def _what(alert: AlertView) -> tuple[str, str | None, str | None]:
    return (alert.state, alert.outcome, alert.assigned_call_sign)


class CardOutput:
    """Rich output for a person: cards for new alerts and assignments, one line otherwise."""

    def __init__(self, console: Console, position: Callable[[], tuple[float, float] | None],
                 fetch: Fetch | None = None):
        self.console = console
        self.position = position
        self.fetch = fetch
        """Downloads photos; None: cards without photos (``--images none``)."""
        self._announced = -1
        self._photo_tasks: set[asyncio.Task[None]] = set()
        self._notes_shown: set[tuple[str, float]] = set()
        self._said: dict[str, tuple[str, str | None, str | None]] = {}
        """Per alert: the state, outcome and officer last printed. A sighting alone prints
        nothing (a busy camera sends one every few seconds: a flood on a phone-sized screen);
        ``l`` lists the open alerts and when each was last seen."""

    def _show_photos(self, alert: AlertView) -> None:
        """Print the probe and the reference photo under the card once downloaded (the card
        itself does not wait for them)."""
        if self.fetch is None:
            return
        fetch = self.fetch

        async def show() -> None:
            self.console.print(await alert_photos(alert, fetch))
            self.console.print()  # the drawing leaves the cursor on its last row

        task = asyncio.get_running_loop().create_task(show())
        self._photo_tasks.add(task)
        task.add_done_callback(self._photo_tasks.discard)

    def _new_notes(self, alert: AlertView) -> list[AlertEvent]:
        """Notes not shown yet (a card shows those it has; an update only the new ones)."""
        fresh = [n for n in notes(alert) if (alert.id, n.at) not in self._notes_shown]
        self._notes_shown.update((alert.id, n.at) for n in fresh)
        return fresh

    def message(self, message: OfficerOut, alert: AlertView | None, received_at: float) -> None:
        match message:
            case AlertRaised() if alert is not None:
                self._new_notes(alert)
                self._said[alert.id] = _what(alert)
                self.console.print(alert_card(alert, title="POSSIBLE MATCH near you",
                                              position=self.position(), now=received_at))
                self._show_photos(alert)
            case AlertAssigned() if alert is not None:
                self._new_notes(alert)
                self._said[alert.id] = _what(alert)
                self.console.print(alert_card(
                    alert, title="ASSIGNED TO YOU — type a + Enter to accept",
                    position=self.position(), now=received_at))
                self._show_photos(alert)
            case AlertUpdated() if alert is not None:
                if self._said.get(alert.id) != _what(alert):
                    self._said[alert.id] = _what(alert)
                    self.console.print(
                        f"[dim]update[/] {alert.id} {alert.display_name}: {alert.state}, "
                        f"{alert.sightings} sighting(s), similarity {alert.similarity:.3f}"
                        + (f", outcome {alert.outcome}" if alert.outcome else ""))
                for note in self._new_notes(alert):
                    self.console.print(f"[bold]note from {note_author(note)}[/] on "
                                       f"{alert.display_name}: {note.detail}")
            case AlertWithdrawn(alert_id=alert_id, reason=reason):
                self.console.print(f"[dim]withdrawn[/] {alert_id}: {reason}")
            case Error(code=code, message=text):
                self.console.print(f"[red]server error[/] {code}: {text}")
            case _:
                pass

    def status(self, status: ConnectionStatus) -> None:
        if status.state == "connected":
            self.console.print(f"[green]connected[/] as {status.name}")
        elif status.state == "reconnecting" and status.attempt != self._announced:
            # The countdown ticks every second; announce each attempt once.
            self._announced = status.attempt
            self.console.print(f"[yellow]reconnecting[/] in {status.retry_in:.0f} s "
                               f"({status.reason})")
        elif status.state == "offline":
            self.console.print(f"[red]offline[/]: {status.reason}")

    def result(self, action: str, alert_id: str, result: CommandResult) -> None:
        if result.ok:
            self.console.print(f"[green]{action} {alert_id}: done[/]")
        else:
            self.console.print(f"[red]{action} {alert_id} refused[/]: {result.code} "
                               f"{result.message}")

    def listing(self, state: OfficerState) -> None:
        alerts = state.open_alerts()
        if not alerts:
            self.console.print("no open alerts")
        now = time.time()
        for alert in alerts:
            mine = " (yours)" if alert.id in state.assigned else ""
            self.console.print(f"{alert.id}{mine} {alert.display_name} {alert.category} "
                               f"{alert.state} at {alert.camera_name}, last seen "
                               f"{_age(now - alert.last_seen)}")


class JsonLinesOutput:
    """One JSON object per received message on ``stream``; states and results on stderr."""

    def __init__(self, stream: TextIO | None = None, err: TextIO | None = None,
                 *, quiet: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.err = err or sys.stderr
        self.quiet = quiet
        self._encoder = msgspec.json.Encoder()

    def message(self, message: OfficerOut, alert: AlertView | None, received_at: float) -> None:
        self.stream.write(self._encoder.encode(message).decode() + "\n")
        self.stream.flush()

    def status(self, status: ConnectionStatus) -> None:
        if not self.quiet and status.state != "reconnecting":
            self.err.write(f"{status.state} {status.reason}".rstrip() + "\n")

    def result(self, action: str, alert_id: str, result: CommandResult) -> None:
        if not self.quiet:
            state = "ok" if result.ok else f"refused {result.code}"
            self.err.write(f"{action} {alert_id}: {state}\n")
