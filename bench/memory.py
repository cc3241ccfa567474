"""Figure ``memory``: server RSS idle, per camera stream, and per 100k templates.

RSS idle and under load come from the ``e2e_latency`` server run (RSS sampled every second
during each load; per camera = load peak minus idle, over the cameras). Per 100k templates
comes from the ``index`` figure (index memory at 100k; the exact-search matrix beside it for
comparison), so it is the index's cost, not a whole server's.
"""

from __future__ import annotations

from typing import Any

from bench.context import Context, Row
from bench.stats import skipped, unavailable


def run(ctx: Context) -> dict[str, Any]:
    result: dict[str, Any] = {"status": "ok"}
    idle = ctx.shared.get("server_idle")
    loads = ctx.shared.get("server_loads")
    if idle and loads:
        result["server_rss_idle_mb"] = idle["rss_mb"]
        per_camera: dict[str, Any] = {}
        for name, load in loads.items():
            peak = load["rss_mb"]["max"]
            per_camera[name] = {
                "rss_peak_mb": peak,
                "per_camera_mb": round((peak - idle["rss_mb"]) / load["cameras"], 1)
                if peak is not None else None,
            }
        result["per_camera_stream"] = per_camera
    else:
        result["server_rss_idle_mb"] = None
        result["per_camera_stream"] = unavailable("needs the e2e_latency figure's server run")
    per_100k: dict[str, Any] = {}
    for dim in (128, 512):
        mb = ctx.shared.get(f"index_memory_mb_{dim}x100000")
        if mb is None:
            per_100k[f"{dim}d"] = skipped("the index figure did not build 100k templates "
                                          "(--quick, or not selected)")
        else:
            per_100k[f"{dim}d"] = {"index_mb": mb,
                                   "raw_vectors_mb": round(100_000 * dim * 4 / 2**20, 1)}
    result["per_100k_templates"] = per_100k
    if not idle and not any("index_mb" in v for v in per_100k.values()):
        return unavailable("neither the server run nor the 100k index ran in this mode")
    return result


def rows(result: dict[str, Any]) -> list[Row]:
    out = [Row("memory", "server", "RSS idle MB", result.get("server_rss_idle_mb"))]
    cams = result.get("per_camera_stream", {})
    for name, v in cams.items():
        if isinstance(v, dict) and "per_camera_mb" in v:
            out.append(Row("memory", name, "MB per camera stream", v["per_camera_mb"],
                           note=f"peak RSS {v['rss_peak_mb']} MB"))
    for dim, v in result.get("per_100k_templates", {}).items():
        if "index_mb" in v:
            out.append(Row("memory", f"index {dim}", "MB per 100k templates", v["index_mb"],
                           baseline=f"raw vectors {v['raw_vectors_mb']} MB"))
        else:
            out.append(Row("memory", f"index {dim}", v.get("status", "?"),
                           note=v.get("reason", "")))
    return out
