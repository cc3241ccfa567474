"""Waiting for a condition without fixed sleeps: check, yield to the loop briefly, repeat."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

Condition = Callable[[], bool] | Callable[[], Awaitable[bool]]

POLL_S = 0.02
"""How often the condition is checked again: short, the wait ends as soon as it holds."""


async def poll(predicate: Condition, wait_s: float = 30.0, what: str = "") -> None:
    """Wait until ``predicate()`` (a plain or an async function) holds.

    Raises:
        AssertionError: it still did not hold after ``wait_s`` seconds.
    """
    deadline = time.monotonic() + wait_s
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {wait_s:g} s waiting for {what or predicate}")
        await asyncio.sleep(POLL_S)
