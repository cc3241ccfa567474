"""Rows written straight into the store, for tests of store-level governance code."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from server.store.models import (
    Alert,
    AlertEventRow,
    AlertRecipient,
    Camera,
    Cursor,
    Deployment,
    DeploymentCamera,
    OutboxMessage,
    Watchlist,
)


async def deployment(session: AsyncSession, dep_id: str, now: float, *,
                     faces: int = 0) -> Deployment:
    """A watchlist, a camera and a deployment using them."""
    session.add(Watchlist(id=f"wl-{dep_id}", name="wl", description="", reuse=False,
                          created_at=now, created_by="wm", version=0))
    session.add(Camera(id=f"cam-{dep_id}", name="cam", description="", lat=51.5, lon=-0.12,
                       mobile=False, frames_no_deployment=0))
    await session.flush()
    dep = Deployment(id=dep_id, name=dep_id, purpose="locate_serious_crime_suspect",
                     place="Oxford Circus", lat=51.5, lon=-0.12, watchlist_id=f"wl-{dep_id}",
                     threshold=0.92, notify_radius_m=500, starts_at=now - 60,
                     ends_at=now + 3600, active=True, created_by="auth", created_at=now,
                     faces_processed=faces, frames_processed=faces, frames_refused=0)
    session.add(dep)
    await session.flush()
    session.add(DeploymentCamera(deployment_id=dep_id, camera_id=f"cam-{dep_id}"))
    return dep


async def alert(session: AsyncSession, data_dir: Path, alert_id: str, dep_id: str,
                created: float, *, state: str = "new", outcome: str | None = None,
                reason: str | None = None, seq: int = 1) -> Path:
    """An alert with a probe crop file, a timeline event, a route and an outbox message.

    Returns:
        The probe crop's path.
    """
    rel = Path("probes") / dep_id / f"{alert_id}.jpg"
    (data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
    (data_dir / rel).write_bytes(b"\xff\xd8\xff\xe0 probe")
    session.add(Alert(id=alert_id, version=1, deployment_id=dep_id, camera_id=f"cam-{dep_id}",
                      entry_id="ent-1", similarity=0.95, threshold=0.92, first_seen=created,
                      last_seen=created, sightings=1, state=state, outcome=outcome,
                      dismiss_reason=reason, flagged=False, probe_path=str(rel),
                      created_at=created))
    await session.flush()
    session.add(AlertEventRow(alert_id=alert_id, at=created, actor="system", action="raised"))
    session.add(AlertRecipient(alert_id=alert_id, account_id="off-1", route="nearby"))
    session.add(OutboxMessage(account_id="off-1", seq=seq, alert_id=alert_id,
                              payload=b'{"type":"alert_raised"}', created_at=created))
    cursor = await session.get(Cursor, "off-1")  # keep the recipient's sequence consistent
    if cursor is None:
        session.add(Cursor(account_id="off-1", last_seq=seq, acked_seq=0))
    else:
        cursor.last_seq = max(cursor.last_seq, seq)
    return data_dir / rel
