"""Figure ``fanout``: one alert to 1,000 officers and 10 dispatchers, our server against a bare
``websockets`` broadcast server doing the same fan-out in the same run.

Recipients are the project's own client (:mod:`bench.swarm`, two processes per server so the
receiving side is not one saturated loop); each records receipt time minus the alert's
creation time. Per alert, the figure is the time until *every* recipient had it (the slowest
one), p50/p99 over the alerts; the per-delivery distribution is given too. Memory per
connection is the server's RSS growth while its clients connect, divided by their number.

On the real server an alert is raised the way it is in service: a camera streams a frame
holding a watchlisted face (cooldown set to 0 so each such frame raises a new alert).

Both servers run side by side, each with its own connected clients, and take turns: one
alert on one, then one on the other (the order swapped every round), each waiting until
every recipient has it and until the servers and clients are idle again (acks written), so
the two series see the same load on a shared machine and neither's tail work falls into the
other's measurement. Both use the same websocket transport settings (our server's
``ws_compression``); the figure says which.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench.context import Context, Row
from bench.proc import Child
from bench.profiling import start_py_spy
from bench.stats import check, fmt, percentile, ratio, summarise, targeted, unavailable

SWARMS = 2
TARGET = ("alert delivered to all 1,000 officers + 10 dispatchers: p99 <= 1.5x the bare "
          "websockets broadcast (same run)")
PROFILE_FILE = "profile_server_fanout.txt"
SETTLE_S = 60.0
"""After an alert, how long to wait for stragglers before counting missing deliveries."""
QUIET_WINDOW_S = 0.1
QUIET_CPU_S = 0.01
"""Between alerts, the servers and clients count as idle once they use less than this much
CPU together over :data:`QUIET_WINDOW_S` (10% of a core)."""
QUIET_MAX_S = 3.0
"""Longest wait for that idle state (a server with background work never gets there)."""


def _rss_mb(pid: int) -> float:
    import psutil

    return float(psutil.Process(pid).memory_info().rss) / 2**20


def start_swarms(url: str, clients: list[dict[str, Any]]) -> tuple[list[Child], dict[str, Any]]:
    """Connect ``clients`` from :data:`SWARMS` processes; returns them and the tally."""
    swarms = [Child("bench.swarm") for _ in range(SWARMS)]
    tally = {"connected": 0, "failed": 0, "reasons": []}
    try:
        answers = []
        for i, swarm in enumerate(swarms):
            # send every connect first so the swarms connect in parallel
            assert swarm.proc.stdin is not None
            swarm.proc.stdin.write(json.dumps({"cmd": "connect", "url": url,
                                               "clients": clients[i::SWARMS]}) + "\n")
            swarm.proc.stdin.flush()
        for swarm in swarms:
            answers.append(swarm.receive(timeout=600))
        for a in answers:
            tally["connected"] += a.get("connected", 0)
            tally["failed"] += a.get("failed", 0)
            tally["reasons"] += a.get("reasons", [])
    except Exception:
        for swarm in swarms:
            swarm.close()
        raise
    return swarms, tally


def collect(swarms: list[Child]) -> dict[str, list[float]]:
    """Merge the latencies every swarm recorded, by alert id."""
    merged: dict[str, list[float]] = {}
    for swarm in swarms:
        for alert_id, values in swarm.ask({"cmd": "results"}).get("alerts", {}).items():
            merged.setdefault(alert_id, []).extend(values)
    return merged


def summarise_fanout(latencies: dict[str, list[float]], recipients: int) -> dict[str, Any]:
    """All-recipient time per alert (p50/p99 over alerts) and per-delivery times."""
    complete = [max(v) for v in latencies.values() if len(v) >= recipients]
    deliveries = [x for v in latencies.values() for x in v]
    missing = sum(max(0, recipients - len(v)) for v in latencies.values())
    return {
        "alerts": len(latencies),
        "alerts_complete": len(complete),
        "deliveries_missing": missing,
        "all_recipients_ms": summarise(complete),
        # per alert, in the order raised (its slowest recipient): where the tail comes from
        "all_recipients_series_ms": [round(max(v), 1) for v in latencies.values()],
        "per_delivery_ms": summarise(deliveries),
    }


def _clients(officers: int, dispatchers: int, token: Any, lat: float = 51.5074,
             lon: float = -0.1278) -> list[dict[str, Any]]:
    out = [{"path": "/ws/officer", "token": token("officer", i), "lat": lat, "lon": lon}
           for i in range(officers)]
    out += [{"path": "/ws/dispatch", "token": token("dispatcher", i)}
            for i in range(dispatchers)]
    return out


@dataclass
class Side:
    """One server under test with its connected clients and what they measured."""

    name: str
    swarms: list[Child]
    tally: dict[str, Any]
    memory_per_connection_kb: float
    transport: str
    pids: list[int]
    """The server's process (and its workers) and the swarm processes: idle between alerts."""
    trigger: Callable[[], Awaitable[Any]] = field(repr=False, default=lambda: _nothing())
    """Raise one alert."""
    latencies: dict[str, list[float]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


async def _nothing() -> None:
    return None


def _server_transport(compression: bool) -> str:
    import uvicorn
    import websockets

    return (f"uvicorn {uvicorn.__version__} (websockets-sansio, websockets "
            f"{websockets.__version__}), " + (
                "permessage-deflate (12-bit windows, memLevel 5)" if compression
                else "no compression"))


def _open_baseline(ctx: Context, stack: contextlib.ExitStack, compression: bool) -> Side:
    """The bare broadcast server with the same recipients."""
    cfg = ctx.cfg
    recipients = cfg.fanout_officers + cfg.fanout_dispatchers
    server = stack.enter_context(Child("bench.ws_baseline", [
        "--compression", "deflate" if compression else "none"]))
    hello = server.receive(timeout=30)
    url = f"http://127.0.0.1:{hello['port']}"
    rss0 = _rss_mb(server.pid)
    ctx.log(f"fanout: baseline: connecting {recipients} clients")
    swarms, tally = start_swarms(url, _clients(cfg.fanout_officers, cfg.fanout_dispatchers,
                                               lambda role, i: f"{role}-{i}"))
    for swarm in swarms:
        stack.callback(swarm.close)
    rss1 = _rss_mb(server.pid)
    ctx.log(f"fanout: baseline: {tally['connected']} connected")
    side = Side("baseline", swarms, tally,
                round((rss1 - rss0) * 1024 / max(1, recipients), 1), hello["transport"],
                [server.pid, *(s.pid for s in swarms)])

    async def trigger() -> None:
        answer = await asyncio.to_thread(server.ask, {"cmd": "broadcast"})
        side.extra["message_bytes"] = answer["bytes"]

    side.trigger = trigger
    return side


def _open_server(ctx: Context, stack: contextlib.ExitStack,
                 compression: bool) -> tuple[Side, Any, Any] | dict[str, Any]:
    """Our server: 1,000 officers at the camera's corner and 10 dispatchers, alerts raised by
    camera frames holding a watchlisted face. Returns the side, the server and the camera's
    options and frame, or why it cannot run."""
    from bench.scenes import compose
    from bench.vigil_server import BenchServer, cast_for

    cfg = ctx.cfg
    subjects, mine, _ = cast_for(ctx)
    if not mine:
        return unavailable("no subject to raise alerts with: needs ../shared/datasets/"
                           "face_recognition_examples, with a second photo of a person that "
                           "matches the first at the calibrated threshold")
    name, faces = next(iter(mine.items()))
    import numpy as np

    frame = compose(np.random.default_rng(5), faces[:1], 640, 360, 1, face_px=(100, 110)).image
    srv = stack.enter_context(BenchServer(ctx, cooldown_s=0.0))
    ctx.log("fanout: server: creating accounts")
    tokens = srv.create_accounts([("admin", 1), ("watchlist_manager", 1), ("authoriser", 1),
                                  ("camera", 1), ("officer", cfg.fanout_officers),
                                  ("dispatcher", cfg.fanout_dispatchers)])
    srv.start()
    world = srv.build_world(tokens, 1, {name: subjects[name]})
    rss0 = srv.rss_mb()
    officers = iter(tokens["officer"])
    dispatchers = iter(tokens["dispatcher"])
    clients = _clients(cfg.fanout_officers, cfg.fanout_dispatchers,
                       lambda role, _i: next(officers if role == "officer" else dispatchers))
    ctx.log(f"fanout: server: connecting {len(clients)} clients")
    swarms, tally = start_swarms(srv.url, clients)
    for swarm in swarms:
        stack.callback(swarm.close)
    rss1 = srv.rss_mb()
    ctx.log(f"fanout: server: {tally['connected']} connected")
    side = Side("server", swarms, tally,
                round((rss1 - rss0) * 1024 / max(1, len(clients)), 1),
                _server_transport(compression), [srv.pid, *(s.pid for s in swarms)])
    side.extra["reasons"] = tally["reasons"]
    return side, srv, (world, frame)


def _quiet(pids: list[int]) -> None:
    """Wait until these processes (and their children) are idle together (see
    :data:`QUIET_CPU_S`), at most :data:`QUIET_MAX_S`."""
    import psutil

    procs: list[Any] = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            procs += [proc, *proc.children(recursive=True)]

    def cpu() -> float:
        total = 0.0
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    deadline = time.monotonic() + QUIET_MAX_S
    before = cpu()
    while time.monotonic() < deadline:
        time.sleep(QUIET_WINDOW_S)  # sampling interval of the idle check, not a figure
        now = cpu()
        if now - before < QUIET_CPU_S:
            return
        before = now


def spy_kill(proc: Any) -> None:
    """End a py-spy recording now (SIGINT makes it write what it has)."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except Exception:
            proc.kill()
            proc.wait(5)


def wait_delivered(swarms: list[Child], alerts: int, recipients: int,
                   timeout: float = SETTLE_S) -> dict[str, list[float]]:
    """Collect until ``alerts`` alerts reached every recipient, or ``timeout`` passed (the
    missing deliveries are then counted as such)."""
    merged: dict[str, list[float]] = {}
    deadline = time.monotonic() + timeout
    while True:
        for alert_id, values in collect(swarms).items():
            merged.setdefault(alert_id, []).extend(values)
        done = len(merged) >= alerts and all(len(v) >= recipients for v in merged.values())
        if done or time.monotonic() > deadline:
            return merged
        time.sleep(0.05)  # polling interval of the collector, not part of any figure


async def _take_turns(ctx: Context, sides: list[Side], camera: tuple[Any, Any, Any] | None,
                      ) -> str | None:
    """One alert per side per round, the order swapped every round; returns why our server
    dropped out (no alert reached its clients), if it did. ``camera``: our server, its world
    and the frame that raises an alert."""
    from tui.camera import CameraOptions, stream_camera

    frames: queue.Queue[Any] = queue.Queue()
    task: asyncio.Task[Any] | None = None
    ours = next((s for s in sides if s.name == "server"), None)
    if camera is not None and ours is not None:
        srv, world, frame = camera

        def source() -> Any:
            while (item := frames.get()) is not None:
                yield item

        options = CameraOptions(server=srv.url, token=world.camera_tokens[0],
                                camera_id=world.cameras[0], source="bench", fps=0.0,
                                max_in_flight=1, queue_size=1)
        task = asyncio.create_task(stream_camera(options, frames=source))

        async def trigger() -> None:
            frames.put(frame)

        ours.trigger = trigger
    pids = [pid for side in sides for pid in side.pids]
    dropped: str | None = None
    # Two servers take turns, so the budget covers both series.
    deadline = time.monotonic() + 2 * ctx.cfg.fanout_budget_s
    try:
        for i in range(ctx.cfg.fanout_alerts):
            if i >= 2 and time.monotonic() > deadline:
                ctx.log(f"fanout: time budget spent after {i} rounds")
                break
            for side in (sides if i % 2 == 0 else sides[::-1]):
                await side.trigger()
                got = await asyncio.to_thread(wait_delivered, side.swarms, 1,
                                              side.tally["connected"], SETTLE_S)
                if not got and side is ours and not side.latencies:
                    # The first frame raised nothing: do not wait for the others.
                    dropped = "the first frame raised no alert that reached the clients"
                    sides.remove(side)
                    break
                side.latencies.update(got)
                await asyncio.to_thread(_quiet, pids)
    finally:
        frames.put(None)
        if task is not None:
            with contextlib.suppress(Exception):
                summary = await asyncio.wait_for(task, 30)
                if dropped:
                    dropped += f"; camera summary: {summary}"
    return dropped


def _side_result(side: Side) -> dict[str, Any]:
    result = summarise_fanout(side.latencies, side.tally["connected"])
    result.update({"status": "ok", "connected": side.tally["connected"],
                   "failed": side.tally["failed"],
                   "memory_per_connection_kb": side.memory_per_connection_kb,
                   "transport": side.transport, **side.extra})
    return result


def run(ctx: Context) -> dict[str, Any]:
    """Both servers side by side (see the module docstring); the baseline alone when our
    server cannot run."""
    from bench.vigil_server import server_available
    from server.settings import load_settings

    compression = load_settings().ws_compression
    reason = server_available()
    ours: dict[str, Any] = unavailable(reason) if reason else {}
    with contextlib.ExitStack() as stack:
        sides: list[Side] = []
        camera: tuple[Any, Any, Any] | None = None
        srv: Any = None
        if not reason:
            opened = _open_server(ctx, stack, compression)
            if isinstance(opened, dict):
                ours = opened
            else:
                side, srv, (world, frame) = opened
                sides.append(side)
                camera = (srv, world, frame)
        base_side = _open_baseline(ctx, stack, compression)
        sides.insert(0, base_side)
        ctx.log(f"fanout: {len(sides)} server(s) taking turns, "
                f"{ctx.cfg.fanout_alerts} alerts each")
        spy = (start_py_spy(srv.pid, min(2 * ctx.cfg.fanout_budget_s, 120.0),
                            ctx.out_dir / PROFILE_FILE) if srv is not None else None)
        if srv is not None:
            srv.gc()  # reset: the figure counts the collections during the alerts only
        try:
            dropped = asyncio.run(_take_turns(ctx, sides, camera))
        finally:
            spy_kill(spy)
        server_gc = srv.gc() if srv is not None else None
        if dropped:
            ours = unavailable(f"no alert reached the clients: {dropped}; server log: "
                               f"{srv.log_tail(5)}")
        elif srv is not None and not ours:
            ours = _side_result(sides[-1])
            # the server's garbage collections while the alerts ran: full collections stop
            # the event loop for hundreds of ms with 1,000 sockets open (server/serving.py)
            ours["gc_during_alerts"] = server_gc
        base = _side_result(base_side)
    ctx.remember("fanout_server", ours)
    result: dict[str, Any] = {
        "status": "ok",
        "recipients": {"officers": ctx.cfg.fanout_officers,
                       "dispatchers": ctx.cfg.fanout_dispatchers},
        "method": "servers side by side, alerts taking turns (order swapped each round), "
                  "each alert after both servers and all clients went idle",
        "transport": {"baseline": base["transport"],
                      "server": _server_transport(compression)},
        "baseline": base, "server": ours,
    }
    if ours.get("status") == "ok":
        p99 = ours["all_recipients_ms"]["p99"]
        result["ratio_p99_vs_baseline"] = ratio(p99, base["all_recipients_ms"]["p99"])
        result["ratio_p50_vs_baseline"] = ratio(ours["all_recipients_ms"]["median"],
                                                base["all_recipients_ms"]["median"])
        # Each round's alerts, ours over the baseline's: the two of a round ran seconds apart,
        # so this pairs away most of the load drift that p50 and p99 over the run keep.
        pairs = [o / b for o, b in zip(ours["all_recipients_series_ms"],
                                       base["all_recipients_series_ms"], strict=False) if b > 0]
        result["paired_round_ratio"] = summarise(pairs, unit="x")
        result["paired_round_ratio_p90"] = round(percentile(pairs, 90.0), 3) if pairs else None
        # The target is stated for 1,000 officers; a smaller mode reports but does not judge.
        judged = result["ratio_p99_vs_baseline"] if ctx.cfg.fanout_officers >= 1000 else None
        result.update(targeted(TARGET, [check("ratio_p99_vs_baseline", judged, "<=", 1.5,
                                              "x")]))
    else:
        result.update(targeted(TARGET, [check("ratio_p99_vs_baseline", None, "<=", 1.5, "x")]))
    return result


def _gc_text(gc: dict[str, Any] | None) -> str:
    if not gc:
        return "not measured"
    return ", ".join(f"{gen} {v['collections']} (longest {fmt(v['max_ms'])} ms)"
                     for gen, v in gc.items())


def rows(result: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    base = result["baseline"]
    ours = result["server"]
    b = base.get("all_recipients_ms", {})
    base_text = f"{fmt(b.get('median'))} / {fmt(b.get('p99'))}" if b else ""
    if ours.get("status") == "ok":
        o = ours["all_recipients_ms"]
        recipients = result["recipients"]
        out.append(Row("fanout", f"{recipients['officers']:,} officers + "
                                 f"{recipients['dispatchers']} dispatchers",
                       "alert -> every recipient ms", o["median"], o["p99"], baseline=base_text,
                       ratio=result.get("ratio_p99_vs_baseline"), target=result["target"],
                       met=result["met"],
                       note=f"{ours['alerts_complete']}/{ours['alerts']} alerts complete, "
                            f"{ours['deliveries_missing']} deliveries missing; "
                            f"{ours['memory_per_connection_kb']} KB/connection (baseline "
                            f"{base.get('memory_per_connection_kb')}); "
                            f"{ours.get('transport', '')}; alerts taking turns with the "
                            f"baseline, per-round ratio median "
                            f"{fmt(result.get('paired_round_ratio', {}).get('median'))} / p90 "
                            f"{fmt(result.get('paired_round_ratio_p90'))}; "
                            f"server garbage collections during the alerts: "
                            f"{_gc_text(ours.get('gc_during_alerts'))}"))
    else:
        out.append(Row("fanout", "server", ours.get("status", "?"), baseline=base_text,
                       target=result["target"], met=result["met"],
                       note=ours.get("reason", "")))
    out.append(Row("fanout", "baseline: bare websockets broadcast",
                   "alert -> every recipient ms", b.get("median"), b.get("p99"),
                   note=f"{base.get('alerts_complete')}/{base.get('alerts')} complete, "
                        f"{base.get('connected')} connected, {base.get('message_bytes')} B, "
                        f"{base.get('memory_per_connection_kb')} KB/connection; "
                        f"{base.get('transport', '')}"))
    return out
