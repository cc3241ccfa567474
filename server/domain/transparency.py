"""The transparency record of a deployment: place, time, purpose, authority, watchlist size,
counts and outcomes, publishable as JSON or Markdown (it names nobody on the watchlist)."""

from __future__ import annotations

import datetime as dt

import msgspec

from server.domain.stats import one_in, percent
from shared.protocol.alerts import DeploymentStats, DeploymentView
from shared.protocol.base import MATCH_NOTICE


class TransparencyRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What the public may know about one deployment."""

    deployment: DeploymentView
    authorisation: str
    """``authorised``, ``urgent``, ``confirmed``, ``refused``, ``revoked`` or ``none``."""
    authorised_by: str
    authority_ref: str
    urgent: bool
    ended_at: float | None
    watchlist_size: int
    """Entries searched: frozen at activation, or the current size if it never ran."""
    watchlist_hash: str
    stats: DeploymentStats
    generated_at: float
    notice: str = MATCH_NOTICE


def _when(t: float | None) -> str:
    if t is None:
        return "-"
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def to_markdown(rec: TransparencyRecord) -> str:
    """The record as a Markdown page."""
    d, s = rec.deployment, rec.stats
    lines = [
        f"# Live facial recognition deployment: {d.name}",
        "",
        "| | |", "|---|---|",
        f"| Place | {d.place} ({d.lat:.5f}, {d.lon:.5f}) |",
        f"| Window | {_when(d.starts_at)} to {_when(d.ends_at)} |",
        f"| Ended | {_when(rec.ended_at)} |",
        f"| Purpose | {d.purpose.replace('_', ' ')} |",
        f"| Authorisation | {rec.authorisation}{' (urgent start)' if rec.urgent else ''} |",
        f"| Authorised by | {rec.authorised_by or '-'} |",
        f"| Authority reference | {rec.authority_ref or '-'} |",
        f"| Cameras | {len(d.camera_ids)} |",
        f"| Watchlist size | {rec.watchlist_size} |",
        f"| Watchlist version | `{rec.watchlist_hash[:16]}` |",
        f"| Threshold | {d.threshold:.3f} |",
        "",
        "## Counts", "",
        "| | |", "|---|---|",
        f"| Faces processed | {s.faces_processed:,} |",
        f"| Frames refused | {s.frames_refused:,} |",
        f"| Alerts | {s.alerts} |",
        f"| Dismissed by the dispatcher | {s.dismissed} |",
        f"| Confirmed | {s.confirmed} |",
        f"| Not the person | {s.not_the_person} |",
        f"| Not located | {s.not_located} |",
        f"| Outdated entry | {s.outdated_entry} |",
        f"| Still open | {s.open} |",
        "",
        "## Accuracy (both figures, always together)", "",
        f"- False alert rate: {s.false_alerts} false alerts in {s.faces_processed:,} faces "
        f"processed = {percent(s.false_alert_rate, 4)} ({one_in(s.false_alert_rate)})",
        f"- Alert precision: {s.confirmed} confirmed of {s.adjudicated} adjudicated alerts "
        f"= {percent(s.precision)}",
        "",
        f"_{rec.notice}_ Nothing is kept about faces that did not match.",
        "",
        f"Generated {_when(rec.generated_at)}.",
        "",
    ]
    return "\n".join(lines)
