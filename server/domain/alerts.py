"""The alert state machine, exactly as DESIGN.md ("Domain", Alert) describes it.

``new -> assigned -> accepted -> resolved(outcome)``, or ``new|assigned -> dismissed(reason)``;
``reopen`` brings a closed alert back to ``new``; an officer who declines an assignment (with
a reason) sends it back to ``new`` for the dispatcher to assign again; an assignment not
accepted in time goes back to ``new`` flagged. Two people decide: the dispatcher adjudicates
the comparison before assigning (or dismisses it), the officer checks in person and records the
outcome. There is no way to close an alert without an outcome or a dismissal reason.
"""

from __future__ import annotations

from typing import Literal

from server.errors import VigilError
from shared.protocol.base import DISMISS_REASONS, OUTCOMES, AlertState

Action = Literal[
    "assign", "accept", "decline", "resolve", "dismiss", "reopen", "ack_timeout", "note"
]

OPEN_STATES: frozenset[str] = frozenset({"new", "assigned", "accepted"})
CLOSED_STATES: frozenset[str] = frozenset({"resolved", "dismissed"})

_TRANSITIONS: dict[Action, tuple[frozenset[str], AlertState | None]] = {
    # action: (states it is allowed from, state it leads to; None = unchanged)
    "assign": (frozenset({"new", "assigned"}), "assigned"),
    "accept": (frozenset({"assigned"}), "accepted"),
    "decline": (frozenset({"assigned"}), "new"),
    "resolve": (frozenset({"accepted"}), "resolved"),
    "dismiss": (frozenset({"new", "assigned"}), "dismissed"),
    "reopen": (CLOSED_STATES, "new"),
    "ack_timeout": (frozenset({"assigned"}), "new"),
    "note": (frozenset({"new", "assigned", "accepted", "resolved", "dismissed"}), None),
}


class InvalidTransition(VigilError):
    """The alert is not in a state that allows this action."""

    status = 409

    def __init__(self, action: str, state: str) -> None:
        super().__init__("invalid_state", f"cannot {action} an alert that is {state}")


def next_state(
    state: AlertState,
    action: Action,
    *,
    outcome: str | None = None,
    reason: str | None = None,
) -> AlertState:
    """The state after ``action``, or a refusal.

    Args:
        state: current state.
        action: what is asked.
        outcome: required for ``resolve`` (one of the closed outcomes).
        reason: required for ``dismiss`` (one of the closed dismissal reasons).

    Raises:
        InvalidTransition: ``invalid_state`` when the action is not allowed from ``state``.
        VigilError: ``outcome_required`` / ``reason_required`` when the closing value is
            missing or not in its closed list.
    """
    allowed, target = _TRANSITIONS[action]
    if state not in allowed:
        raise InvalidTransition(action, state)
    if action == "resolve" and outcome not in OUTCOMES:
        raise VigilError("outcome_required", "an alert is closed only with an outcome")
    if action == "dismiss" and reason not in DISMISS_REASONS:
        raise VigilError("reason_required", "a dismissal needs a reason from the list")
    return state if target is None else target
