"""Purging alerts and everything they produced: retention sweep and deployment purges.

An alert's data is the alert row, its timeline events, its recipient routes, the durable
messages about it still in the outbox, and its probe crop (a file under the data dir). A purge
removes all of them; the audit records it with counts only, never what was removed.

Time comes from an injected clock (``runtime.clock``), so tests move time instead of sleeping.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.errors import VigilError
from server.settings import Settings
from server.store.file_deletions import doomed
from server.store.models import (
    Account,
    Alert,
    AlertEventRow,
    AlertRecipient,
    OutboxBody,
    OutboxMessage,
)
from server.store.outbox import Staged, stage
from shared.protocol.officer import AlertWithdrawn

log = logging.getLogger("vigil.governance")

DAY_S = 86_400.0
MIN_RETENTION_DAYS = 1.0
"""The shortest retention allowed (24 h, as South Wales Police keep alerts)."""


class PurgeCounts(msgspec.Struct, frozen=True, kw_only=True):
    """What a purge removed (the audit keeps these numbers and nothing else)."""

    alerts: int = 0
    probe_crops: int = 0
    events: int = 0
    recipients: int = 0
    outbox_messages: int = 0

    def as_details(self) -> dict[str, Any]:
        return {f"{k}_purged": v for k, v in msgspec.structs.asdict(self).items()}


def retention_seconds(settings: Settings) -> float:
    """The retention period in seconds.

    Raises:
        VigilError: ``bad_retention`` when the setting is under 24 h (a shorter value would be
            a configuration mistake we refuse rather than silently round up).
    """
    if not settings.retention_days >= MIN_RETENTION_DAYS:
        raise VigilError("bad_retention",
                         f"retention_days must be at least {MIN_RETENTION_DAYS:g} (24 h)")
    return settings.retention_days * DAY_S


async def purge_alerts(
    session: AsyncSession, data_path: Path, where: ColumnElement[bool]
) -> PurgeCounts:
    """Delete the alerts matching ``where`` with their events, routes, outbox messages and
    probe crops, in the caller's transaction; the crop files go once it committed
    (:mod:`server.store.file_deletions`: its owner calls ``delete_doomed``).

    Returns:
        The counts removed.
    """
    rows = (await session.execute(select(Alert.id, Alert.probe_path).where(where))).all()
    if not rows:
        return PurgeCounts()
    ids = [r[0] for r in rows]
    counts: dict[str, int] = {}
    for name, model, column in (
        ("events", AlertEventRow, AlertEventRow.alert_id),
        ("recipients", AlertRecipient, AlertRecipient.alert_id),
        ("outbox_messages", OutboxMessage, OutboxMessage.alert_id),
    ):
        n = 0
        for start in range(0, len(ids), 500):  # bounded IN lists (PostgreSQL and SQLite)
            chunk = ids[start:start + 500]
            n += int((await session.execute(
                select(func.count()).select_from(model).where(column.in_(chunk)))).scalar_one())
            await session.execute(delete(model).where(column.in_(chunk)))
        counts[name] = n
    for start in range(0, len(ids), 500):
        # The shared encodings of the alert's messages go with its outbox rows (counted
        # with those, as messages), then the alert.
        await session.execute(delete(OutboxBody).where(
            OutboxBody.alert_id.in_(ids[start:start + 500])))
        await session.execute(delete(Alert).where(Alert.id.in_(ids[start:start + 500])))
    await session.flush()
    crops = 0
    files = doomed(session)
    for _alert_id, rel in rows:
        if rel:
            path = data_path / rel
            if path.is_file():
                files.file(path)
                crops += 1
    return PurgeCounts(alerts=len(ids), probe_crops=crops, **counts)


async def stage_withdrawals(
    session: AsyncSession, where: ColumnElement[bool], now: float
) -> list[Staged]:
    """Tell every dispatcher, and each officer an alert was routed to, that the alerts
    matching ``where`` are gone (``alert_withdrawn``, reason ``purged``).

    Call before :func:`purge_alerts` in the same transaction. The messages carry the alert id
    only and are staged without an alert reference, so the purge leaves no outbox row that
    points at a purged alert.
    """
    alert_ids = list((await session.execute(select(Alert.id).where(where))).scalars().all())
    if not alert_ids:
        return []
    dispatchers = list((await session.execute(select(Account.id).where(
        Account.role == "dispatcher", Account.revoked.is_(False)))).scalars().all())
    routes: dict[str, list[str]] = {}
    for alert_id, account_id in (await session.execute(
            select(AlertRecipient.alert_id, AlertRecipient.account_id)
            .where(AlertRecipient.alert_id.in_(alert_ids)))).all():
        routes.setdefault(alert_id, []).append(account_id)
    staged: list[Staged] = []
    for alert_id in alert_ids:
        staged += await stage(session, [*dispatchers, *sorted(routes.get(alert_id, []))],
                              AlertWithdrawn(seq=0, alert_id=alert_id, reason="purged"),
                              alert_id=None, now=now)
    return staged


async def retention_sweep(session: AsyncSession, settings: Settings, now: float) -> PurgeCounts:
    """Purge every alert raised longer ago than the retention period.

    The caller records the audit (``retention_purge``) in the same transaction.
    """
    cutoff = now - retention_seconds(settings)
    counts = await purge_alerts(session, settings.data_path, Alert.created_at < cutoff)
    if counts.alerts:
        log.info("retention purge alerts=%d crops=%d", counts.alerts, counts.probe_crops)
    return counts
