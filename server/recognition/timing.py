"""Per-stage timings that engines fill in for their callers (pipeline, benchmark, eval)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext


class StageTimer:
    """Accumulates wall-clock milliseconds per named stage.

    One timer belongs to one frame or one request; it is not shared between threads.
    """

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the body of a ``with`` block and add it to ``name``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, (time.perf_counter() - start) * 1000.0)

    def add(self, name: str, ms: float) -> None:
        self.ms[name] = self.ms.get(name, 0.0) + ms

    @property
    def total_ms(self) -> float:
        return sum(self.ms.values())


def stage(timer: StageTimer | None, name: str) -> AbstractContextManager[None]:
    """``timer.stage(name)`` when a timer is given, else a no-op context."""
    return nullcontext() if timer is None else timer.stage(name)
