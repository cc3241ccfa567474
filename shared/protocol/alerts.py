"""The alert card and the views of officers, cameras and deployments sent to clients."""

from __future__ import annotations

import msgspec

from shared.protocol.base import (
    MATCH_NOTICE,
    AlertState,
    Category,
    OfficerStatus,
    Outcome,
    Purpose,
)


class StageTimes(msgspec.Struct, frozen=True, kw_only=True):
    """Epoch seconds at each stage of the alert's first sighting (0 when unknown)."""

    captured: float = 0.0
    ingested: float = 0.0
    matched: float = 0.0
    pushed: float = 0.0


class AlertEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One line of the alert's timeline: who did what, when."""

    at: float
    actor: str
    action: str
    """``raised``, ``sighted``, ``assigned``, ``accepted``, ``resolved``, ``dismissed``,
    ``reopened``, ``note``, ``ack_timeout``."""
    detail: str = ""
    actor_name: str = ""
    """Who ``actor`` is, for people to read: an officer's call sign, an account's display
    name, or ``system``; empty from older servers (clients then show ``actor``)."""


class AlertView(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a dispatcher or an officer needs to judge a possible match."""

    id: str
    version: int
    """Increases with every change; clients keep the highest version they have seen."""
    deployment_id: str
    camera_id: str
    camera_name: str
    place: str
    lat: float | None
    lon: float | None
    """Camera position at the time of the match."""
    entry_id: str
    subject_ref: str
    display_name: str
    category: Category
    reason: str
    """The watchlist entry's justification."""
    legal_basis: str
    reference_image_date: str
    similarity: float
    threshold: float
    first_seen: float
    last_seen: float
    sightings: int
    state: AlertState
    outcome: Outcome | None = None
    dismiss_reason: str | None = None
    assigned_officer_id: str | None = None
    assigned_call_sign: str | None = None
    flagged: bool = False
    """Set when an assignment was not accepted in time and the alert returned to the queue."""
    probe_url: str = ""
    reference_url: str = ""
    """REST paths of the probe crop and reference photo (need the same token)."""
    times: StageTimes = msgspec.field(default_factory=StageTimes)
    events: tuple[AlertEvent, ...] = ()
    notice: str = MATCH_NOTICE
    incident_id: str = ""
    """The incident this alert belongs to: alerts of the same watchlist entry in the same
    deployment share one incident while any of them is open (the id of its first alert).
    Empty from older servers: clients then treat the alert as its own incident."""
    camera_place: str = ""
    """The camera's own description of where it stands (``place`` is the deployment's)."""


class OfficerView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    call_sign: str
    status: OfficerStatus
    lat: float | None = None
    lon: float | None = None
    last_seen: float | None = None
    """Epoch seconds of the last position or status update."""
    connected: bool = False


class CameraView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    lat: float | None = None
    lon: float | None = None
    description: str = ""
    mobile: bool = False
    min_face_px: float | None = None
    """Smallest face side (pixels) detection looks for in this camera's frames; None: the
    server's ``min_face_px`` setting."""


class DeploymentView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    purpose: Purpose
    place: str
    lat: float
    lon: float
    camera_ids: tuple[str, ...]
    watchlist_id: str
    threshold: float
    notify_radius_m: float
    starts_at: float
    ends_at: float
    active: bool


class DeploymentStats(msgspec.Struct, frozen=True, kw_only=True):
    """Both figures, always together: false alerts per face and precision of alerts."""

    deployment_id: str
    faces_processed: int = 0
    frames_processed: int = 0
    frames_refused: int = 0
    alerts: int = 0
    dismissed: int = 0
    not_located: int = 0
    confirmed: int = 0
    not_the_person: int = 0
    outdated_entry: int = 0
    false_alert_rate: float | None = None
    """False alerts (officer's ``not_the_person`` + dispatcher's dismissal as
    ``different_person``) per face processed; None before any face."""
    precision: float | None = None
    """Confirmed / adjudicated alerts (every alert a human closed: dismissed or resolved with
    any outcome); None before any adjudication."""
    adjudicated: int = 0
    """Alerts closed by a human (the precision's denominator)."""
    false_alerts: int = 0
    """The false alert rate's numerator."""
    open: int = 0
    """Alerts not yet closed."""
