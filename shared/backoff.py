"""How clients space their reconnection attempts (the same rule for every client)."""

from __future__ import annotations

import random


def backoff_delay(
    attempt: int, initial_s: float, max_s: float, rng: random.Random | None = None
) -> float:
    """Seconds to wait before reconnection attempt ``attempt`` (1-based).

    Exponential (``initial_s`` doubled per failed attempt, capped at ``max_s``) with "equal
    jitter": never less than half the ceiling, so a herd of clients spreads out without any of
    them hammering the server immediately after it comes back.
    """
    ceiling = min(max_s, initial_s * 2.0 ** max(0, attempt - 1))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)
