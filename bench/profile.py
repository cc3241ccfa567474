"""``profile``: which measured stage is the slowest, and sampling profiles of where time goes.

The stage medians of this run are ranked (recognition pipeline stages, end-to-end alert
stages, fan-out). Profiles come from py-spy attached to the server during the 4-camera load
(GIL holders only: what keeps the event loop waiting) and during the fan-out, recorded by those
figures, plus a pyinstrument profile of the dlib pipeline in this process. Raw collapsed stacks
stay in the results folder.
"""

from __future__ import annotations

import time
from typing import Any

from bench.context import Context, Row
from bench.profiling import pyinstrument_text, summarise_collapsed
from bench.stats import unavailable


def _candidates(ctx: Context) -> dict[str, float]:
    out: dict[str, float] = {}
    dlib = ctx.shared.get("recognition", {}).get("dlib", {})
    if dlib.get("status") == "ok":
        for stage, v in dlib["pipeline"]["stages_ms"].items():
            if v["median"] is not None:
                out[f"recognition.dlib.{stage} (1280x720, 1 thread)"] = v["median"]
    for name, load in (ctx.shared.get("server_loads") or {}).items():
        for stage, v in load["stages_ms"].items():
            if v["median"] is not None:
                out[f"e2e_latency.{name}.{stage}"] = v["median"]
    fan = ctx.shared.get("fanout_server") or {}
    if fan.get("status") == "ok" and fan["all_recipients_ms"]["median"] is not None:
        out["fanout.server.alert_to_every_recipient"] = fan["all_recipients_ms"]["median"]
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def run(ctx: Context) -> dict[str, Any]:
    from bench.e2e_latency import PROFILE_FILE as E2E_FILE
    from bench.fanout import PROFILE_FILE as FANOUT_FILE

    stages = _candidates(ctx)
    if not stages:
        return unavailable("no stage was measured in this run")
    profiles: dict[str, Any] = {}
    for label, name in (("server, 4-camera load, GIL holders (py-spy --gil)", E2E_FILE),
                        ("server, fan-out to every recipient (py-spy)", FANOUT_FILE)):
        path = ctx.out_dir / name
        # only a recording made by this run counts
        if path.exists() and path.stat().st_mtime >= time.time() - ctx.elapsed():
            profiles[label] = {"file": str(path), **summarise_collapsed(path)}
    engine = (ctx.shared.get("engines") or {}).get("dlib")
    cuts = ctx.shared.get("face_cuts")
    if engine is not None and cuts:
        import numpy as np

        from bench.scenes import compose

        rng = np.random.default_rng(11)
        images = [compose(rng, cuts, 1280, 720, 5).image for _ in range(2)]

        def pipeline() -> None:
            for image in images:
                engine.embed(image, engine.detect(image))

        text = pyinstrument_text(pipeline)
        if text:
            profiles["recognition pipeline, dlib, 2 frames (pyinstrument)"] = {"text": text}
    return {"status": "ok", "slowest_stage": next(iter(stages)), "stages_ms_median": stages,
            "profiles": profiles}


def rows(result: dict[str, Any]) -> list[Row]:
    out = [Row("profile", "slowest stage", result["slowest_stage"],
               result["stages_ms_median"][result["slowest_stage"]])]
    for label, prof in result["profiles"].items():
        top = prof.get("top_self") or []
        if top:
            note = "; ".join(f"{t['function']} {t['share']:.0%}" for t in top[:4])
            out.append(Row("profile", label, "top own time", note=note))
    return out
