"""Who uses the cores during a live load: CPU seconds per process and per kind of thread.

On the 2-core machine the server, its inference workers and the bench's own clients (camera
streamers, the officer) share the same cores, so a latency figure means little without
knowing who was busy. Per process, psutil gives CPU times; inside the server and the bench
process, CPU per thread comes from ``/proc/self/task`` (psutil's ``threads()``), and threads
are told apart by their Python name (:func:`thread_kind`). Threads a library starts natively
(ONNX Runtime's intra-op pool, BLAS) have no Python name: they are counted as ``native``.

:func:`own_threads` runs inside a process (the server answers it over ``bench.serve_probe``'s
``cpu`` command); :func:`share` turns two snapshots into cores used (CPU seconds per second of
wall time: 1.0 is one core busy all along).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

THREAD_KINDS = {
    "MainThread": "event_loop",
    "vigil": "worker_pool",
    "asyncio": "to_thread",
    "_connection_worker_thread": "sqlite",
    "bench-officer": "officer",
}
"""Python thread name (or its prefix / target, as in ``Thread-3 (_connection_worker_thread)``)
-> kind: the event loop, the runtime's worker pool (decode, inference calls, search),
``asyncio.to_thread`` (probe-crop writes; in the bench: the cameras' frame reads and JPEG
encodes), aiosqlite's connection threads (SQLite itself), the bench's officer client."""


def thread_kind(name: str) -> str:
    """The kind of a thread from its Python name (``other`` when unknown)."""
    for key, kind in THREAD_KINDS.items():
        if name == key or name.startswith(f"{key}_") or f"({key})" in name:
            return kind
    return "other"


def own_threads() -> dict[str, float]:
    """CPU seconds (user + system) of this process so far, per kind of thread; threads
    without a Python name are ``native``, threads that ended are in ``ended``."""
    import psutil

    proc = psutil.Process()
    names = {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
    out: dict[str, float] = {}
    counted = 0.0
    for thread in proc.threads():
        name = names.get(thread.id)
        kind = "native" if name is None else thread_kind(name)
        seconds = thread.user_time + thread.system_time
        out[kind] = out.get(kind, 0.0) + seconds
        counted += seconds
    times = proc.cpu_times()
    # A process's times include its threads that have ended (to_thread workers come and go).
    out["ended"] = max(0.0, times.user + times.system - counted)
    return out


def children(pid: int) -> float:
    """CPU seconds so far of the live child processes of ``pid`` (inference workers)."""
    import psutil

    total = 0.0
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                times = child.cpu_times()
                total += times.user + times.system
    return total


def machine() -> float:
    """CPU seconds so far of the whole machine (every process, every core), idle excluded."""
    import psutil

    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def snapshot(server: dict[str, float], workers: float) -> dict[str, Any]:
    """One reading: the server's threads (from its ``cpu`` command), its child processes,
    this process's threads (the bench's clients) and the machine."""
    return {"server": server, "workers": workers, "clients": own_threads(),
            "machine": machine()}


def share(before: dict[str, Any], after: dict[str, Any], wall_s: float,
          cores: int) -> dict[str, Any]:
    """Cores used between two snapshots, per process and kind of thread.

    ``other_processes`` is what the machine did beyond the server, its workers and the bench
    (other work on a shared machine); ``idle`` what was left of ``cores``.
    """
    def delta(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
        return {k: round(max(0.0, b.get(k, 0.0) - a.get(k, 0.0)) / wall_s, 3)
                for k in sorted(set(a) | set(b)) if b.get(k, 0.0) - a.get(k, 0.0) > 0.0005}

    server = delta(before["server"], after["server"])
    clients = delta(before["clients"], after["clients"])
    workers = round(max(0.0, after["workers"] - before["workers"]) / wall_s, 3)
    busy = max(0.0, after["machine"] - before["machine"]) / wall_s
    ours = sum(server.values()) + sum(clients.values()) + workers
    return {
        "unit": "cores (CPU seconds per second of wall time)",
        "wall_s": round(wall_s, 1),
        "cores": cores,
        "server": {**server, "total": round(sum(server.values()), 3)},
        "inference_processes": workers,
        "clients": {**clients, "total": round(sum(clients.values()), 3)},
        "other_processes": round(max(0.0, busy - ours), 3),
        "idle": round(max(0.0, cores - busy), 3),
    }
