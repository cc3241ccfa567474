"""The dispatcher's picture of the world, built by applying protocol messages.

Plain Python, no Textual: widgets only render a :class:`DispatchState`. Every message the
server sends a dispatcher goes through :meth:`DispatchState.apply`, which is idempotent and
order-tolerant: an ``alert_updated`` older than what is held (by ``version``) is ignored, a
replayed ``alert_raised`` for a known alert counts as an update, and a withdrawn alert never
comes back from a late message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from shared.geo import distance_m
from shared.protocol.alerts import (
    AlertView,
    CameraView,
    DeploymentStats,
    DeploymentView,
    OfficerView,
)
from shared.protocol.base import AlertState, Category
from shared.protocol.dispatch import (
    DeploymentUpdated,
    OfficerUpdated,
    Snapshot,
    StatsUpdated,
)
from shared.protocol.officer import AlertRaised, AlertUpdated, AlertWithdrawn
from shared.rates import false_alert_rate, precision

OPEN_STATES: frozenset[AlertState] = frozenset({"new", "assigned", "accepted"})

StateFilter = Literal["open", "all", "new", "assigned", "accepted", "closed"]
STATE_FILTERS: tuple[StateFilter, ...] = ("open", "all", "new", "assigned", "accepted", "closed")

ChangeKind = Literal[
    "none", "reset", "alert_raised", "alert_updated", "alert_withdrawn", "officer", "stats",
    "deployment", "pending",
]


@dataclass(frozen=True)
class Change:
    """What one applied message changed, so the UI refreshes (and rings) only what it must."""

    kind: ChangeKind
    alert_id: str | None = None


NO_CHANGE = Change("none")


@dataclass(frozen=True)
class QueueFilter:
    """Which alerts the queue shows. ``None`` means any."""

    state: StateFilter = "open"
    deployment_id: str | None = None
    category: Category | None = None
    text: str = ""
    """Case-insensitive substring of subject, name, camera, the camera's place, call sign or
    id (not the deployment's place: every alert of a deployment shares it)."""

    def matches(self, alert: AlertView) -> bool:
        if self.deployment_id is not None and alert.deployment_id != self.deployment_id:
            return False
        if self.category is not None and alert.category != self.category:
            return False
        if not _state_matches(self.state, alert.state):
            return False
        if self.text:
            needle = self.text.casefold()
            haystack = " ".join(
                (alert.id, alert.subject_ref, alert.display_name, alert.camera_name,
                 alert.camera_place, alert.assigned_call_sign or "", alert.category)
            ).casefold()
            return needle in haystack
        return True


def _state_matches(wanted: StateFilter, state: AlertState) -> bool:
    if wanted == "all":
        return True
    if wanted == "open":
        return state in OPEN_STATES
    if wanted == "closed":
        return state not in OPEN_STATES
    return state == wanted


def state_group(alert: AlertView) -> int:
    """Flagged (an assignment nobody accepted came back), new, assigned but not yet accepted,
    accepted, closed: what needs a dispatcher first."""
    if alert.state == "new":
        return 0 if alert.flagged else 1
    if alert.state == "assigned":
        return 2
    if alert.state == "accepted":
        return 3
    return 4


def queue_rank(alert: AlertView) -> tuple[int, float]:
    """Sort key of alerts: state group first, then the most recently raised.

    Raised, not last seen: a new sighting must not move a row under the dispatcher's cursor;
    the order changes only when a state changes (or the dispatcher sorts by a column).
    """
    return (state_group(alert), -alert.first_seen)


def incident_key(alert: AlertView) -> str:
    """The incident an alert belongs to (its own id where the server sent none)."""
    return alert.incident_id or alert.id


@dataclass(frozen=True)
class Incident:
    """Alerts of one watchlist entry in one deployment while open: one row of the queue.

    ``lead`` is the alert that needs the dispatcher most (new before assigned before
    accepted, then the latest raised); the console's actions apply to it.
    """

    id: str
    alerts: tuple[AlertView, ...]
    """In queue order (``lead`` first)."""

    @property
    def lead(self) -> AlertView:
        return self.alerts[0]

    @property
    def first_seen(self) -> float:
        return min(a.first_seen for a in self.alerts)

    @property
    def last_seen(self) -> float:
        return max(a.last_seen for a in self.alerts)

    @property
    def sightings(self) -> int:
        return sum(a.sightings for a in self.alerts)

    @property
    def best(self) -> AlertView:
        """The alert with the highest similarity margin over its threshold."""
        return max(self.alerts, key=lambda a: a.similarity - a.threshold)

    @property
    def camera_names(self) -> tuple[str, ...]:
        """Cameras that saw the subject, the most recent first, each once."""
        names: list[str] = []
        for alert in sorted(self.alerts, key=lambda a: -a.last_seen):
            if alert.camera_name not in names:
                names.append(alert.camera_name)
        return tuple(names)


def incident_rank(incident: Incident) -> tuple[int, float]:
    """Queue order of incidents: the lead's state group, then the most recently opened."""
    return (state_group(incident.lead), -incident.first_seen)


@dataclass(frozen=True)
class OfficerDistance:
    officer: OfficerView
    distance_m: float | None
    """Great-circle distance to the alert's camera; None when either position is unknown."""


@dataclass
class DispatchState:
    """Everything the console shows, kept current by :meth:`apply`.

    Args:
        clock: local wall clock (epoch seconds); tests pass a fixed one.
    """

    clock: Callable[[], float] = time.time
    alerts: dict[str, AlertView] = field(default_factory=dict)
    officers: dict[str, OfficerView] = field(default_factory=dict)
    cameras: dict[str, CameraView] = field(default_factory=dict)
    deployments: dict[str, DeploymentView] = field(default_factory=dict)
    stats: dict[str, DeploymentStats] = field(default_factory=dict)
    unseen: set[str] = field(default_factory=set)
    """New alerts the dispatcher has not looked at yet (highlighted in the queue)."""
    clock_offset: float = 0.0
    """Server clock minus local clock, from the last snapshot."""
    synced: bool = False
    """True once a snapshot arrived."""
    ack_timeout_s: float = 0.0
    """From the snapshot: how long an officer has to accept (0: the server did not say)."""
    pending: dict[str, str] = field(default_factory=dict)
    """Alert id -> what the dispatcher sent for it that the server has not answered yet."""
    _withdrawn: set[str] = field(default_factory=set)

    # -- applying messages ----------------------------------------------------------------

    def apply(self, message: object) -> Change:
        """Apply one server message; unknown or irrelevant messages change nothing."""
        match message:
            case Snapshot():
                return self._apply_snapshot(message)
            case AlertRaised(alert=alert):
                return self._apply_alert(alert, raised=True)
            case AlertUpdated(alert=alert):
                return self._apply_alert(alert, raised=False)
            case AlertWithdrawn(alert_id=alert_id):
                self._withdrawn.add(alert_id)
                self.unseen.discard(alert_id)
                if self.alerts.pop(alert_id, None) is None:
                    return NO_CHANGE
                return Change("alert_withdrawn", alert_id)
            case OfficerUpdated(officer=officer):
                self.officers[officer.id] = officer
                return Change("officer")
            case StatsUpdated(stats=stats):
                self.stats[stats.deployment_id] = stats
                return Change("stats")
            case DeploymentUpdated(deployment=deployment):
                self.deployments[deployment.id] = deployment
                return Change("deployment")
        return NO_CHANGE

    def apply_all(self, messages: Iterable[object]) -> list[Change]:
        return [self.apply(m) for m in messages]

    def _apply_snapshot(self, snap: Snapshot) -> Change:
        # The snapshot is the server's whole current picture: it replaces ours. Alerts we had
        # flagged unseen stay unseen if they are still there.
        self.alerts = {a.id: a for a in snap.alerts}
        self.officers = {o.id: o for o in snap.officers}
        self.cameras = {c.id: c for c in snap.cameras}
        self.deployments = {d.id: d for d in snap.deployments}
        self.stats = {s.deployment_id: s for s in snap.stats}
        self.unseen &= set(self.alerts)
        if not self.synced:
            self.unseen |= {a.id for a in snap.alerts if a.state == "new"}
        self._withdrawn -= set(self.alerts)
        self.clock_offset = snap.server_time - self.clock()
        self.ack_timeout_s = snap.ack_timeout_s
        self.synced = True
        return Change("reset")

    def _apply_alert(self, alert: AlertView, *, raised: bool) -> Change:
        if alert.id in self._withdrawn:
            return NO_CHANGE
        held = self.alerts.get(alert.id)
        if held is not None and held.version >= alert.version:
            return NO_CHANGE  # a replay or an update overtaken by a newer one
        self.alerts[alert.id] = alert
        if held is None:
            if alert.state == "new":
                self.unseen.add(alert.id)
            # Only a truly new alert rings: an update to one we missed the raise of is news
            # too, but it is not a new subject at the gate.
            return Change("alert_raised" if raised else "alert_updated", alert.id)
        if alert.state != "new":
            self.unseen.discard(alert.id)
        return Change("alert_updated", alert.id)

    # -- reading --------------------------------------------------------------------------

    def now(self) -> float:
        """The server's clock now (estimated)."""
        return self.clock() + self.clock_offset

    def mark_seen(self, alert_id: str) -> None:
        self.unseen.discard(alert_id)

    def queue(self, flt: QueueFilter | None = None) -> list[AlertView]:
        """The alerts the queue shows, in queue order."""
        flt = flt or QueueFilter()
        return sorted((a for a in self.alerts.values() if flt.matches(a)), key=queue_rank)

    def incidents(self, flt: QueueFilter | None = None) -> list[Incident]:
        """Incidents with at least one alert the filter shows, in queue order; each holds
        the alerts the filter shows."""
        groups: dict[str, list[AlertView]] = {}
        for alert in self.queue(flt):
            groups.setdefault(incident_key(alert), []).append(alert)
        return sorted((Incident(key, tuple(alerts)) for key, alerts in groups.items()),
                      key=incident_rank)

    def incident_of(self, alert: AlertView) -> Incident:
        """Every alert held of this alert's incident, in queue order."""
        key = incident_key(alert)
        return Incident(key, tuple(sorted(
            (a for a in self.alerts.values() if incident_key(a) == key), key=queue_rank)))

    def note_target(self, alert: AlertView) -> AlertView:
        """The alert a note on this alert's incident belongs on: the one an officer has
        (assigned or accepted), so the note reaches them; else this alert."""
        for other in self.incident_of(alert).alerts:
            if other.state in ("assigned", "accepted"):
                return other
        return alert

    def ack_deadline(self, alert: AlertView) -> float | None:
        """When an assigned alert returns to the queue unless accepted (server clock)."""
        if alert.state != "assigned" or self.ack_timeout_s <= 0:
            return None
        assigned = [e.at for e in alert.events if e.action == "assigned"]
        return max(assigned) + self.ack_timeout_s if assigned else None

    def actor_name(self, actor: str, actor_name: str = "") -> str:
        """A readable name for an event's actor: the server's, else a known call sign."""
        if actor_name:
            return actor_name
        officer = self.officers.get(actor)
        return officer.call_sign if officer is not None else actor

    def set_pending(self, alert_id: str, what: str | None) -> Change:
        """Mark (or with None clear) a command in flight for an alert."""
        if what is None:
            self.pending.pop(alert_id, None)
        else:
            self.pending[alert_id] = what
        return Change("pending", alert_id)

    def active_deployments(self) -> list[DeploymentView]:
        return sorted((d for d in self.deployments.values() if d.active), key=lambda d: d.name)

    def officers_near(self, alert: AlertView | None) -> list[OfficerDistance]:
        """Officers by distance to the alert's camera (unknown distances last, then call sign).

        Without an alert, officers are listed by call sign with no distance.
        """
        rows = []
        for officer in self.officers.values():
            dist = None
            if (alert is not None and alert.lat is not None and alert.lon is not None
                    and officer.lat is not None and officer.lon is not None):
                dist = distance_m(alert.lat, alert.lon, officer.lat, officer.lon)
            rows.append(OfficerDistance(officer, dist))
        rows.sort(key=lambda r: (r.distance_m is None, r.distance_m or 0.0, r.officer.call_sign))
        return rows

    def officer_marks(self) -> dict[str, str]:
        """A stable one-letter map marker per officer (A, B, ... by call sign; call signs
        such as "PC 1041" share their first letter, so they cannot be the marker)."""
        ordered = sorted(self.officers.values(), key=lambda o: (o.call_sign, o.id))
        letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        return {o.id: letters[i] if i < len(letters) else "+" for i, o in enumerate(ordered)}

    def suggest_officer(self, alert: AlertView) -> OfficerView | None:
        """The nearest available, connected officer with a known position (else None)."""
        for row in self.officers_near(alert):
            officer = row.officer
            if officer.status == "available" and officer.connected and row.distance_m is not None:
                return officer
        return None

    def stats_for(self, deployment_id: str | None) -> DeploymentStats:
        """Statistics of one deployment, or summed over all when ``deployment_id`` is None.

        Summing recomputes both rates from the counts (rates do not add).
        """
        if deployment_id is not None:
            return self.stats.get(deployment_id, DeploymentStats(deployment_id=deployment_id))
        total = DeploymentStats(deployment_id="")
        for s in self.stats.values():
            total = add_counts(total, s)
        return with_rates(total)


_COUNTS = (
    "faces_processed", "frames_processed", "frames_refused", "alerts", "dismissed",
    "not_located", "confirmed", "not_the_person", "outdated_entry", "adjudicated",
    "false_alerts", "open",
)


def add_counts(total: DeploymentStats, add: DeploymentStats) -> DeploymentStats:
    """``total`` with every count of ``add`` added."""
    return msgspec.structs.replace(
        total, **{name: getattr(total, name) + getattr(add, name) for name in _COUNTS}
    )


def with_rates(stats: DeploymentStats) -> DeploymentStats:
    """Both rates recomputed from summed counts, with the server's definitions
    (``DeploymentStats.false_alerts`` and ``adjudicated``): false alert rate = false alerts /
    faces processed; precision = confirmed / adjudicated."""
    return msgspec.structs.replace(
        stats,
        false_alert_rate=false_alert_rate(stats.false_alerts, stats.faces_processed),
        precision=precision(stats.confirmed, stats.adjudicated),
    )


__all__ = [
    "NO_CHANGE",
    "OPEN_STATES",
    "STATE_FILTERS",
    "Change",
    "DispatchState",
    "Incident",
    "OfficerDistance",
    "QueueFilter",
    "add_counts",
    "incident_key",
    "incident_rank",
    "queue_rank",
    "state_group",
    "with_rates",
]
