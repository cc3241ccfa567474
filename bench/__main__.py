"""``python -m bench [--quick | --full] [--only FIGURE,...] [--cameras N]``: run the figures.

Results go to ``bench/results/latest.{json,md}``.

Figures run in order; one that fails or cannot run is recorded with ``status`` ``error`` or
``unavailable`` and its reason, and the others still run. Exit status 0 when every figure ran
or was honestly unavailable, 1 when one raised an error.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, cast

from bench import machine, report
from bench.context import CONFIGS, Context, Mode, Row

FIGURES = ("index", "recognition", "onnx_sessions", "int8", "fanout", "e2e_latency", "loop_lag",
           "memory", "profile")
"""Run order: the cheap, dependency-free figures first so something lands; ``loop_lag`` and
``memory`` read what ``e2e_latency`` measured inside the server process."""

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


class FigureModule(Protocol):
    def run(self, ctx: Context) -> dict[str, Any]: ...

    def rows(self, result: dict[str, Any]) -> list[Row]: ...


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes (a few minutes)")
    size.add_argument("--full", action="store_true", help="adds the 1M-template index (long)")
    parser.add_argument("--only", default="", help=f"comma list of figures: {','.join(FIGURES)}")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--cameras", type=int, default=0, metavar="N",
                        help="e2e sweep: 1..N cameras at 5 fps, the most with no dropped frame")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mode: Mode = "quick" if args.quick else "full" if args.full else "default"
    only = [f.strip() for f in args.only.split(",") if f.strip()]
    unknown = [f for f in only if f not in FIGURES]
    if unknown:
        print(f"unknown figure(s): {', '.join(unknown)}; choose from {', '.join(FIGURES)}",
              file=sys.stderr)
        return 2
    if args.cameras < 0:
        print("--cameras must be 0 or more", file=sys.stderr)
        return 2
    cfg = dataclasses.replace(CONFIGS[mode], sweep_cameras=args.cameras)
    ctx = Context(cfg, out_dir=args.out, quiet=args.quiet)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    result: dict[str, Any] = {"meta": {"schema": 1, "mode": mode, "started_at": started_at},
                              "machine": machine.describe()}
    rows: list[Row] = []
    failed = False
    for name in FIGURES:
        if only and name not in only:
            result[name] = {"status": "skipped", "reason": "not selected with --only"}
            continue
        module = cast(FigureModule, importlib.import_module(f"bench.{name}"))
        ctx.log(f"{name}: start")
        start = time.perf_counter()
        try:
            figure = module.run(ctx)
        except Exception as exc:  # one broken figure must not hide the others
            failed = True
            traceback.print_exc(file=sys.stderr)
            figure = {"status": "error", "reason": f"{type(exc).__name__}: {exc}"}
        figure["seconds"] = round(time.perf_counter() - start, 1)
        result[name] = figure
        ctx.log(f"{name}: {figure.get('status')} in {figure['seconds']} s")
        if figure.get("status") == "ok":
            rows.extend(module.rows(figure))
        else:
            rows.append(Row(name, "", figure.get("status", "?"), note=figure.get("reason", "")))
    result["meta"]["duration_s"] = round(time.perf_counter() - ctx.started, 1)
    table = report.markdown(result["meta"], result["machine"], rows)
    json_path, md_path = report.write(args.out, result, table)
    print(table)
    ctx.log(f"wrote {json_path} and {md_path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
