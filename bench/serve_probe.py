"""The real server under uvicorn, with an event-loop lag probe in the same loop
(``python -m bench.serve_probe``; settings from ``VIGIL_*``).

This is ``vigil serve`` (``create_app`` + :class:`server.serving.VigilServer`) plus a task
that sleeps 10 ms at a time on the server's own event loop and records how late it wakes up:
that lateness is the event-loop lag every websocket message on the server waits behind. The
probe adds about 100 wake-ups a second, nothing else.

It also times the server's garbage collections (``gc.callbacks``): ``gc`` gives, per
generation, how many ran since the last ``gc`` and how long they held the loop.

Commands (JSON lines on stdin): ``lag`` (summary of the lag since the last ``lag``, then
reset), ``gc`` (collections since the last ``gc``, then reset), ``counters`` (the runtime's
process-wide counters), ``cpu`` (CPU seconds of this process so far per kind of thread,
:func:`bench.cpu_split.own_threads`), ``quit`` (graceful stop). First line printed:
``{"port": N, "pid": P}``.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import threading
import time
from typing import Any

import uvicorn

from bench.proc import emit, serve_commands
from bench.stats import summarise

PROBE_INTERVAL_S = 0.010


class LagProbe:
    """Records how late ``asyncio.sleep(PROBE_INTERVAL_S)`` returns, in ms."""

    def __init__(self) -> None:
        self.samples: list[float] = []

    async def run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(PROBE_INTERVAL_S)
            late = (time.perf_counter() - start - PROBE_INTERVAL_S) * 1000.0
            self.samples.append(max(0.0, late))

    def take(self) -> dict[str, Any]:
        samples, self.samples = self.samples, []
        return summarise(samples)


class GcProbe:
    """Counts and times this process's garbage collections, per generation."""

    def __init__(self) -> None:
        self.started = 0.0
        self.runs: list[tuple[int, float]] = []
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            self.runs.append((int(info["generation"]), (time.perf_counter() - self.started)
                              * 1000.0))

    def take(self) -> dict[str, Any]:
        runs, self.runs = self.runs, []
        out: dict[str, Any] = {}
        for gen in range(3):
            ms = [t for g, t in runs if g == gen]
            out[f"gen{gen}"] = {"collections": len(ms), "total_ms": round(sum(ms), 1),
                                "max_ms": round(max(ms), 1) if ms else 0.0}
        return out


def main() -> None:
    from server.app import create_app, websocket_transport
    from server.serving import VigilServer
    from server.settings import load_settings

    settings = load_settings()
    app = create_app(settings)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on",
                            **websocket_transport(settings))
    server = VigilServer(config, app)
    probe = LagProbe()
    gc_probe = GcProbe()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        probe_task = asyncio.create_task(probe.run())
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if serving.done():
                await serving  # start-up failed: raise its error
                return
            await asyncio.sleep(0.05)
        emit({"port": port, "pid": _pid()})

        def handle(command: dict[str, Any]) -> dict[str, Any] | None:
            cmd = command.get("cmd")
            if cmd == "quit":
                return None
            if cmd == "lag":
                lag: dict[str, Any] = asyncio.run_coroutine_threadsafe(
                    _call(probe.take), loop).result(10)
                return lag
            if cmd == "gc":
                return {"gc": gc_probe.take()}
            if cmd == "cpu":
                from bench.cpu_split import own_threads

                return {"cpu": own_threads()}
            if cmd == "counters":
                runtime = getattr(app.state, "runtime", None)
                return {"counters": dict(runtime.counters) if runtime else {}}
            return {"error": f"unknown command {cmd!r}"}

        def commands() -> None:
            try:
                serve_commands(handle)
            finally:
                server.should_exit = True

        threading.Thread(target=commands, daemon=True).start()
        await serving
        probe_task.cancel()

    asyncio.run(run())


def _pid() -> int:
    import os

    return os.getpid()


async def _call(fn: Any) -> Any:
    return fn()


if __name__ == "__main__":
    main()
