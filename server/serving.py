"""Serving the app under uvicorn: what every way of running it shares (``vigil serve``, the
demo, the benchmarks' server).

The garbage collector. CPython 3.11 collects its youngest generation every 700 net new
container objects (tasks, frames, handles, dicts). One alert to 1,000 officers holds tens of
thousands of them in flight at once, so each fan-out ran ~25 young collections; whatever was
in flight at each one was promoted, ~10,000 objects an alert, and every ~8 alerts that pushed a
full collection of the heap: ~340,000 objects with 1,000 sockets open, 200-250 ms of CPU with
the event loop stopped. Those pauses were the fan-out's tail (``make bench``, ``fanout``).
Once the server has started we therefore:

- freeze the heap it started with (modules, ORM metadata, engine, index: ~190,000 objects),
  so that no later collection walks it again (``gc.freeze``); what it holds lives as long as
  the process anyway;
- let the youngest generation grow to :data:`YOUNG_OBJECTS` before it is collected, so that
  objects of a fan-out die by reference counting, as they do once it is sent, instead of
  being promoted. Cyclic garbage waits a little longer for its collection: tens of MB at most.
"""

from __future__ import annotations

import gc
from typing import Any

import uvicorn
from litestar import Litestar

from server.app import drain

YOUNG_OBJECTS = 50_000
"""Net new container objects between two collections of the youngest generation (CPython's
default is 700): above what one alert to 1,000 officers holds in flight."""


def settle_heap() -> None:
    """Collect once, freeze what survives and raise the young generation's threshold (see the
    module docstring). Called once the server has started."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_OBJECTS, middle, old)


class VigilServer(uvicorn.Server):
    """uvicorn's server with Vigil's start and stop: once started (the lifespan has loaded the
    engine, the store and the index) the heap is settled (:func:`settle_heap`); before
    uvicorn's own shutdown, live traffic drains (cameras stop, send queues flush, sockets
    close with 1001)."""

    def __init__(self, config: uvicorn.Config, app: Litestar) -> None:
        super().__init__(config)
        self.app = app

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            settle_heap()

    async def shutdown(self, sockets: Any = None) -> None:
        runtime = getattr(self.app.state, "runtime", None)
        if runtime is not None:
            await drain(runtime)
        await super().shutdown(sockets=sockets)
