"""Human decisions on alerts (dispatcher and officer commands) and the ack-timeout sweep.

Each command checks the state machine (``server.domain.alerts``), changes the alert, records
the event and the audit record, and stages durable messages, all in one transaction; the
messages are pushed after the commit.
"""

from __future__ import annotations

import logging
from typing import Literal

from sqlalchemy import select

from server.domain.alerts import Action, next_state
from server.domain.assignment import Candidate, Suggestion, nearest_available
from server.errors import Forbidden, NotFound, VigilError
from server.pipeline.alerting import add_event, officer_recipients, publish_change
from server.runtime import Core
from server.store.active_officers import active_officer, active_officers
from server.store.models import Alert
from server.store.outbox import Staged

log = logging.getLogger("vigil.alerts")

Command = Literal["assign", "accept", "resolve", "dismiss", "reopen", "note"]


async def suggest(runtime: Core, alert_id: str) -> Suggestion | None:
    """The nearest available officer to the alert's camera position."""
    async with runtime.db.sessions() as session:
        alert = await session.get(Alert, alert_id)
        if alert is None:
            raise NotFound("no such alert")
        officers = await active_officers(session)
        return nearest_available(
            (Candidate(o.id, o.status, o.lat, o.lon) for o in officers), alert.lat, alert.lon
        )


async def apply_command(
    runtime: Core,
    *,
    actor_id: str,
    actor_role: str,
    command: Command,
    alert_id: str,
    officer_id: str = "",
    outcome: str | None = None,
    reason: str | None = None,
    text: str = "",
) -> str:
    """Apply one human decision to an alert.

    Args:
        runtime: the server's resources.
        actor_id: account making the decision (recorded on the alert and in the audit).
        actor_role: its role (dispatchers assign/dismiss/note/reopen; the assigned officer
            accepts and resolves; officers may add notes to alerts routed to them).
        command: what to do.
        alert_id: which alert.
        officer_id: ``assign`` only; empty picks the nearest available officer.
        outcome: ``resolve`` only.
        reason: ``dismiss`` only.
        text: free text (note, dismissal detail, resolution note).

    Returns:
        The alert id.

    Raises:
        VigilError: ``not_found``, ``forbidden``, ``invalid_state``, ``outcome_required``,
            ``reason_required``, ``no_officer_available``.
    """
    if command in ("accept", "resolve") and actor_role != "officer":
        raise Forbidden("only the assigned officer accepts and resolves")
    if command in ("assign", "dismiss", "reopen") and actor_role != "dispatcher":
        raise Forbidden("only a dispatcher assigns, dismisses and reopens")
    if command == "assign" and not officer_id:
        best = await suggest(runtime, alert_id)
        if best is None:
            raise VigilError("no_officer_available", "no available officer with a position",
                             status=409)
        officer_id = best.officer_id
    now = runtime.clock()
    staged: list[Staged]
    async with runtime.write_lock, runtime.db.sessions() as session, session.begin():
        alert = await session.get(Alert, alert_id)
        if alert is None:
            raise NotFound("no such alert")
        if actor_role == "officer" and command in ("accept", "resolve") and (
            alert.assigned_officer_id != actor_id
        ):
            raise Forbidden("this alert is not assigned to you")
        action: Action = command
        alert.state = next_state(alert.state, action, outcome=outcome, reason=reason)
        withdraw: tuple[str, ...] = ()
        assigned_to: str | None = None
        detail = text
        if command == "assign":
            officer = await active_officer(session, officer_id)
            if officer is None:
                raise NotFound("no such officer (or its account is revoked)")
            previous = alert.assigned_officer_id
            if previous and previous != officer_id:
                withdraw = (previous,)
            alert.assigned_officer_id = officer_id
            alert.assigned_at = now
            alert.flagged = False
            assigned_to = officer_id
            detail = f"officer={officer.call_sign}"
        elif command == "resolve":
            alert.outcome = outcome
            detail = f"outcome={outcome}" + (f" {text}" if text else "")
        elif command == "dismiss":
            alert.dismiss_reason = reason
            detail = f"reason={reason}" + (f" {text}" if text else "")
            withdraw = tuple(sorted(set(await officer_recipients(session, alert.id))))
        elif command == "reopen":
            alert.outcome = None
            alert.dismiss_reason = None
            alert.assigned_officer_id = None
            alert.assigned_at = None
        past = {"assign": "assigned", "accept": "accepted", "resolve": "resolved",
                "dismiss": "dismissed", "reopen": "reopened", "note": "note"}[command]
        await add_event(session, alert, at=now, actor=actor_id, action=past, detail=detail)
        staged = await publish_change(
            session, runtime, alert, assigned_to=assigned_to, withdraw=withdraw,
            withdraw_reason="reassigned" if command == "assign" else command,
        )
        await runtime.audit.record(session, actor=actor_id, action=f"alert_{past}", at=now,
                                   alert_id=alert.id, officer_id=officer_id or None,
                                   outcome=outcome, reason=reason)
    runtime.publisher.deliver(staged)
    return alert_id


async def expire_assignments(runtime: Core) -> int:
    """Return assignments not accepted within ``ack_timeout_s`` to the queue, flagged.

    Returns:
        How many alerts went back to the queue.
    """
    now = runtime.clock()
    cutoff = now - runtime.settings.ack_timeout_s
    staged: list[Staged] = []
    n = 0
    async with runtime.write_lock, runtime.db.sessions() as session, session.begin():
        rows = (
            await session.execute(
                select(Alert).where(Alert.state == "assigned", Alert.assigned_at <= cutoff)
            )
        ).scalars().all()
        for alert in rows:
            previous = alert.assigned_officer_id
            alert.state = next_state(alert.state, "ack_timeout")
            alert.flagged = True
            alert.assigned_officer_id = None
            alert.assigned_at = None
            await add_event(session, alert, at=now, actor="system", action="ack_timeout",
                            detail=f"officer={previous}")
            staged += await publish_change(
                session, runtime, alert, withdraw=(previous,) if previous else (),
                withdraw_reason="ack_timeout",
            )
            await runtime.audit.record(session, actor="system", action="alert_ack_timeout",
                                       at=now, alert_id=alert.id, officer_id=previous)
            n += 1
    runtime.publisher.deliver(staged)
    return n
