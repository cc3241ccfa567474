"""Writing ``latest.json`` and the Markdown table (also printed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.context import Row

COLUMNS = ("figure", "case", "metric", "median", "p99", "baseline (same run)", "ratio",
           "target", "met", "notes")


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value).replace("|", "/").replace("\n", " ")


def markdown(meta: dict[str, Any], machine: dict[str, Any], rows: list[Row]) -> str:
    """The table with a header naming the mode and the machine."""
    libs = ", ".join(f"{k} {v}" for k, v in machine.get("libraries", {}).items() if v)
    lines = [
        f"# Vigil benchmark ({meta['mode']} mode, {meta['started_at']}, "
        f"{meta['duration_s']:.0f} s)",
        "",
        f"Machine: {machine.get('cpu_model')}, {machine.get('cores')} cores, "
        f"{machine.get('memory_gb')} GB, Python {machine.get('python')}; load average at start "
        f"{machine.get('load_average_at_start')}.",
        f"Libraries: {libs}.",
        "",
        "Times in ms unless the metric says otherwise; ratio = ours over the baseline measured in "
        "the same run (for index: exact p99 over index p99, i.e. the speed-up).",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for r in rows:
        cells = (r.figure, r.case, r.metric, r.median, r.p99, r.baseline or None, r.ratio,
                 r.target or None, r.met, r.note or None)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def write(out_dir: Path, result: dict[str, Any], table: str) -> tuple[Path, Path]:
    """Write ``latest.json`` and ``latest.md`` into ``out_dir`` (created if needed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "latest.json"
    md_path = out_dir / "latest.md"
    json_path.write_text(json.dumps(result, indent=2, sort_keys=False, default=str) + "\n",
                         encoding="utf-8")
    md_path.write_text(table, encoding="utf-8")
    return json_path, md_path
