"""A swarm of officer and dispatcher clients in one process (``python -m bench.swarm``).

Each client is the project's own :class:`tui.connection.ResumableConnection` (hello, resume,
ack after handling, duplicate suppression), so the fan-out figure measures delivery to real
clients and the same client code measures the baseline server. Officers report a position
right after ``welcome`` so that the server routes nearby alerts to them.

Commands (JSON lines on stdin):

- ``{"cmd": "connect", "url": ..., "clients": [{"path", "token", "lat", "lon"}, ...]}``:
  connect everyone, answer ``{"connected": n, "failed": m, "reasons": [...]}``;
- ``{"cmd": "results"}``: latencies seen so far, ``{"alerts": {alert_id: [ms, ...]}}``, where
  a latency is receipt time minus the alert's creation time (``times.matched``, else
  ``first_seen``); the record is then cleared;
- ``{"cmd": "quit"}``: close every connection and exit.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.proc import serve_commands_until_quit
from shared.protocol.codec import dispatch_out, officer_out
from shared.protocol.officer import AlertRaised, UpdatePosition
from tui.connection import ConnectionStatus, ResumableConnection

CONNECT_BATCH = 50
"""Connections opened at once (a burst of 1,000 handshakes would only measure the backlog)."""


class Swarm:
    def __init__(self) -> None:
        self.conns: list[ResumableConnection[Any]] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.latencies: dict[str, list[float]] = {}
        self.reasons: list[str] = []

    def _on_message(self, message: Any) -> None:
        if isinstance(message, AlertRaised):
            now = time.time()
            times = message.alert.times
            created = times.matched or message.alert.first_seen
            self.latencies.setdefault(message.alert.id, []).append((now - created) * 1000.0)

    async def _start(self, spec: dict[str, Any], url: str) -> bool:
        officer = spec["path"].endswith("officer")
        conn: ResumableConnection[Any] = ResumableConnection(
            url, spec["token"], spec["path"], officer_out if officer else dispatch_out,
            client="vigil-bench-swarm", open_timeout=30, hello_timeout=30,
            idle_timeout=60, backoff_base=1.0)
        ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        async def on_status(status: ConnectionStatus) -> None:
            if status.state == "connected":
                if officer and spec.get("lat") is not None:
                    await conn.send(UpdatePosition(lat=spec["lat"], lon=spec["lon"]))
                if not ready.done():
                    ready.set_result(True)
            elif status.state in ("offline", "reconnecting") and not ready.done():
                self.reasons.append(status.reason)
                ready.set_result(False)

        self.conns.append(conn)
        self.tasks.append(asyncio.create_task(conn.run(self._on_message, on_status)))
        try:
            async with asyncio.timeout(60):
                return await ready
        except TimeoutError:
            self.reasons.append("no welcome within 60 s")
            return False

    async def connect(self, url: str, clients: list[dict[str, Any]]) -> dict[str, Any]:
        ok = 0
        for start in range(0, len(clients), CONNECT_BATCH):
            batch = clients[start:start + CONNECT_BATCH]
            results = await asyncio.gather(*(self._start(c, url) for c in batch))
            ok += sum(results)
        return {"connected": ok, "failed": len(clients) - ok, "reasons": self.reasons[:5]}

    async def results(self) -> dict[str, Any]:
        out, self.latencies = self.latencies, {}
        return {"alerts": out}

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.conns), return_exceptions=True)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def main() -> None:
    swarm = Swarm()
    loop = asyncio.get_running_loop()

    def handle(command: dict[str, Any]) -> dict[str, Any] | None:
        cmd = command.get("cmd")
        if cmd == "quit":
            return None
        if cmd == "connect":
            coro = swarm.connect(command["url"], command["clients"])
            return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=600)
        if cmd == "results":
            return asyncio.run_coroutine_threadsafe(swarm.results(), loop).result(timeout=30)
        return {"error": f"unknown command {cmd!r}"}

    await serve_commands_until_quit(handle)
    await swarm.close()


if __name__ == "__main__":
    asyncio.run(main())
