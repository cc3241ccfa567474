"""Figure ``loop_lag``: the server's event-loop lag while the pipeline runs at the 4-camera load.

Measured *inside* the server process by :class:`bench.serve_probe.LagProbe` (a task on the
server's own loop that sleeps 10 ms and records how late it wakes), during the loads of
``e2e_latency``; the baseline is the same probe while the server is idle, in the same run.
Inference, decoding and search must run in the worker pool for this to stay low.
"""

from __future__ import annotations

from typing import Any

from bench.context import Context, Row
from bench.stats import check, fmt, ratio, targeted, unavailable


def run(ctx: Context) -> dict[str, Any]:
    idle = ctx.shared.get("server_idle")
    loads = ctx.shared.get("server_loads")
    if not idle or not loads:
        return unavailable("needs the e2e_latency figure's server run, which did not happen")
    result: dict[str, Any] = {
        "status": "ok", "method": "in-process probe: 10 ms asyncio.sleep, lateness in ms",
        "idle": idle["loop_lag_ms"],
        "loads": {name: load["loop_lag_ms"] for name, load in loads.items()},
    }
    four = result["loads"].get("4_camera", {})
    result["ratio_p99_vs_idle"] = ratio(four.get("p99"), result["idle"].get("p99"))
    result.update(targeted("loop lag p99 <= 10 ms under the 4-camera load", [
        check("loads.4_camera.p99", four.get("p99"), "<=", 10.0, "ms")]))
    return result


def rows(result: dict[str, Any]) -> list[Row]:
    idle = result["idle"]
    out = []
    for name, lag in result["loads"].items():
        four = name == "4_camera"
        out.append(Row("loop_lag", name, "event-loop lag ms", lag.get("median"), lag.get("p99"),
                       baseline=f"idle {fmt(idle.get('median'))} / {fmt(idle.get('p99'))}",
                       ratio=result["ratio_p99_vs_idle"] if four else None,
                       target=result["target"] if four else "",
                       met=result["met"] if four else None,
                       note=f"max {fmt(lag.get('max'))} ms over {lag.get('n')} probes"))
    return out
