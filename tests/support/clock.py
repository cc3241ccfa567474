"""An injectable clock for the server and the governance code."""

from __future__ import annotations

import time


class FakeClock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
