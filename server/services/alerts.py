"""Human decisions on alerts (dispatcher and officer commands) and the ack-timeout sweep.

One method per use case, taking the wire command as it arrived (``AssignAlert``,
``AcceptAlert``, ...) and the account deciding; websockets call :meth:`AlertService.handle`,
which dispatches on the command's type. Each decision checks the state machine
(``server.domain.alerts``), changes the alert, records the event and the audit record and
stages durable messages, all in one transaction; the messages are published after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import assert_never

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import Principal
from server.domain.alerts import Action, next_state
from server.domain.assignment import Candidate, Suggestion, nearest_available
from server.errors import Forbidden, NotFound, VigilError
from server.pipeline.alerting import add_event, officer_recipients, publish_change
from server.runtime import Core
from server.store.active_officers import active_officer, active_officers
from server.store.models import Alert
from server.store.outbox import Staged
from shared.protocol.dispatch import AddNote, AssignAlert, DismissAlert, ReopenAlert
from shared.protocol.officer import AcceptAlert, DeclineAlert, ResolveAlert

log = logging.getLogger("vigil.alerts")

AnyAlertCommand = (
    AssignAlert | DismissAlert | AddNote | ReopenAlert | AcceptAlert | DeclineAlert | ResolveAlert
)
"""Every human decision on an alert, as it travels on the wire (each an
:class:`~shared.protocol.common.AlertCommand`; the union lets :meth:`AlertService.handle`
check that it handles every one)."""


@dataclass
class Change:
    """What one decision did besides the new state (filled in by the use case's ``apply``)."""

    detail: str = ""
    """The timeline event's detail."""
    assigned_to: str | None = None
    withdraw: tuple[str, ...] = ()
    """Officers the alert is withdrawn from."""
    withdraw_reason: str = ""
    audit: dict[str, str | None] = field(default_factory=dict)
    """``officer_id``, ``outcome`` or ``reason`` for the audit record."""


Apply = Callable[[AsyncSession, Alert, Change], Awaitable[None]]

OFFICER_ONLY = "only the assigned officer accepts, declines and resolves"


def _require_role(actor: Principal, role: str, message: str) -> None:
    if actor.role != role:
        raise Forbidden(message)


class AlertService:
    """Alert use cases on a :class:`server.runtime.Core` (see module docstring)."""

    def __init__(self, core: Core) -> None:
        self.core = core

    async def handle(self, cmd: AnyAlertCommand, actor: Principal) -> str:
        """Apply any alert command (what the websocket handlers call); returns the alert id.

        Raises:
            VigilError: as the use case's method.
        """
        match cmd:
            case AssignAlert():
                return await self.assign(cmd, actor)
            case DismissAlert():
                return await self.dismiss(cmd, actor)
            case AddNote():
                return await self.note(cmd, actor)
            case ReopenAlert():
                return await self.reopen(cmd, actor)
            case AcceptAlert():
                return await self.accept(cmd, actor)
            case DeclineAlert():
                return await self.decline(cmd, actor)
            case ResolveAlert():
                return await self.resolve(cmd, actor)
            case _:
                assert_never(cmd)

    async def suggest(self, alert_id: str) -> Suggestion | None:
        """The nearest available officer to the alert's camera position.

        Raises:
            VigilError: ``not_found``.
        """
        async with self.core.db.sessions() as session:
            alert = await session.get(Alert, alert_id)
            if alert is None:
                raise NotFound("no such alert")
            officers = await active_officers(session, self.core.clock())
            return nearest_available(
                (Candidate(o.id, o.status, o.lat, o.lon) for o in officers), alert.lat,
                alert.lon,
            )

    async def assign(self, cmd: AssignAlert, actor: Principal) -> str:
        """A dispatcher assigns the alert to an officer (empty ``officer_id``: the nearest
        available one), withdrawing it from a previously assigned officer.

        Raises:
            VigilError: ``forbidden``, ``not_found``, ``invalid_state``,
                ``no_officer_available``.
        """
        _require_role(actor, "dispatcher", "only a dispatcher assigns, dismisses and reopens")
        officer_id = cmd.officer_id
        if not officer_id:
            best = await self.suggest(cmd.alert_id)
            if best is None:
                raise VigilError("no_officer_available", "no available officer with a position",
                                 status=409)
            officer_id = best.officer_id
        now = self.core.clock()

        async def apply(session: AsyncSession, alert: Alert, change: Change) -> None:
            officer = await active_officer(session, officer_id, now)
            previous = alert.assigned_officer_id
            if previous and previous != officer_id:
                change.withdraw = (previous,)
            alert.assigned_officer_id = officer_id
            alert.assigned_at = now
            alert.flagged = False
            change.assigned_to = officer_id
            change.detail = f"officer={officer.call_sign}"
            change.withdraw_reason = "reassigned"
            change.audit = {"officer_id": officer_id}

        return await self._decide(cmd.alert_id, actor, "assign", "assigned", apply)

    async def dismiss(self, cmd: DismissAlert, actor: Principal) -> str:
        """A dispatcher dismisses the alert with a reason from the closed list; every officer
        who has it is told it is withdrawn.

        Raises:
            VigilError: ``forbidden``, ``not_found``, ``invalid_state``, ``reason_required``.
        """
        _require_role(actor, "dispatcher", "only a dispatcher assigns, dismisses and reopens")

        async def apply(session: AsyncSession, alert: Alert, change: Change) -> None:
            alert.dismiss_reason = cmd.reason
            change.detail = f"reason={cmd.reason}" + (f" {cmd.text}" if cmd.text else "")
            change.withdraw = tuple(sorted(set(await officer_recipients(session, alert.id))))
            change.withdraw_reason = "dismiss"
            change.audit = {"reason": cmd.reason}

        return await self._decide(cmd.alert_id, actor, "dismiss", "dismissed", apply,
                                  reason=cmd.reason)

    async def note(self, cmd: AddNote, actor: Principal) -> str:
        """A note on the alert's timeline (dispatchers; the state does not change).

        Raises:
            VigilError: ``not_found``.
        """

        async def apply(_session: AsyncSession, _alert: Alert, change: Change) -> None:
            change.detail = cmd.text
            change.withdraw_reason = "note"

        return await self._decide(cmd.alert_id, actor, "note", "note", apply)

    async def reopen(self, cmd: ReopenAlert, actor: Principal) -> str:
        """A dispatcher brings a closed alert back to the queue.

        Raises:
            VigilError: ``forbidden``, ``not_found``, ``invalid_state``.
        """
        _require_role(actor, "dispatcher", "only a dispatcher assigns, dismisses and reopens")

        async def apply(_session: AsyncSession, alert: Alert, change: Change) -> None:
            alert.outcome = None
            alert.dismiss_reason = None
            alert.assigned_officer_id = None
            alert.assigned_at = None
            change.withdraw_reason = "reopen"

        return await self._decide(cmd.alert_id, actor, "reopen", "reopened", apply)

    async def accept(self, cmd: AcceptAlert, actor: Principal) -> str:
        """The assigned officer accepts the alert (goes to check in person).

        Raises:
            VigilError: ``forbidden`` (not an officer, or not the assigned one),
                ``not_found``, ``invalid_state``.
        """
        _require_role(actor, "officer", OFFICER_ONLY)

        async def apply(_session: AsyncSession, _alert: Alert, change: Change) -> None:
            change.withdraw_reason = "accept"

        return await self._decide(cmd.alert_id, actor, "accept", "accepted", apply,
                                  assigned_only=True)

    async def decline(self, cmd: DeclineAlert, actor: Principal) -> str:
        """The assigned officer cannot take the assignment (a reason is required): the alert
        goes back to the dispatchers' queue and the officer no longer holds it.

        Raises:
            VigilError: ``forbidden``, ``reason_required``, ``not_found``, ``invalid_state``.
        """
        _require_role(actor, "officer", OFFICER_ONLY)
        if not cmd.reason.strip():
            raise VigilError("reason_required", "say why you decline the assignment")

        async def apply(_session: AsyncSession, alert: Alert, change: Change) -> None:
            alert.assigned_officer_id = None
            alert.assigned_at = None
            change.withdraw = (actor.account_id,)
            change.detail = cmd.reason.strip()
            change.withdraw_reason = "declined"

        return await self._decide(cmd.alert_id, actor, "decline", "declined", apply,
                                  assigned_only=True)

    async def resolve(self, cmd: ResolveAlert, actor: Principal) -> str:
        """The assigned officer closes the alert with an outcome from the closed list.

        Raises:
            VigilError: ``forbidden``, ``not_found``, ``invalid_state``, ``outcome_required``.
        """
        _require_role(actor, "officer", OFFICER_ONLY)

        async def apply(_session: AsyncSession, alert: Alert, change: Change) -> None:
            alert.outcome = cmd.outcome
            change.detail = f"outcome={cmd.outcome}" + (f" {cmd.note}" if cmd.note else "")
            change.withdraw_reason = "resolve"
            change.audit = {"outcome": cmd.outcome}

        return await self._decide(cmd.alert_id, actor, "resolve", "resolved", apply,
                                  outcome=cmd.outcome, assigned_only=True)

    async def _decide(
        self, alert_id: str, actor: Principal, action: Action, past: str, apply: Apply, *,
        outcome: str | None = None, reason: str | None = None, assigned_only: bool = False,
    ) -> str:
        """The transaction every decision shares: load the alert, check who may act and the
        state machine, ``apply`` the change, record the event and the audit record, stage the
        durable messages; publish them after the commit."""
        core = self.core
        now = core.clock()
        change = Change()
        async with core.write_lock, core.db.sessions() as session, session.begin():
            alert = await session.get(Alert, alert_id)
            if alert is None:
                raise NotFound("no such alert")
            if assigned_only and alert.assigned_officer_id != actor.account_id:
                raise Forbidden("this alert is not assigned to you")
            alert.state = next_state(alert.state, action, outcome=outcome, reason=reason)
            await apply(session, alert, change)
            await add_event(session, alert, at=now, actor=actor.account_id, action=past,
                            detail=change.detail)
            staged = await publish_change(
                session, core, alert, assigned_to=change.assigned_to, withdraw=change.withdraw,
                withdraw_reason=change.withdraw_reason,
            )
            await core.audit.record(session, actor=actor.account_id, action=f"alert_{past}",
                                    at=now, alert_id=alert.id,
                                    officer_id=change.audit.get("officer_id"),
                                    outcome=change.audit.get("outcome"),
                                    reason=change.audit.get("reason"))
        core.publisher.deliver(staged)
        return alert_id

    async def expire_assignments(self) -> int:
        """Return assignments not accepted within ``ack_timeout_s`` to the queue, flagged.

        Returns:
            How many alerts went back to the queue.
        """
        core = self.core
        now = core.clock()
        cutoff = now - core.settings.ack_timeout_s
        staged: list[Staged] = []
        n = 0
        async with core.write_lock, core.db.sessions() as session, session.begin():
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
                    session, core, alert, withdraw=(previous,) if previous else (),
                    withdraw_reason="ack_timeout",
                )
                await core.audit.record(session, actor="system", action="alert_ack_timeout",
                                        at=now, alert_id=alert.id, officer_id=previous)
                n += 1
        core.publisher.deliver(staged)
        return n
