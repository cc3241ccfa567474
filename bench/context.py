"""What every figure receives: the mode's sizes, a logger and values shared between figures."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Mode = Literal["quick", "default", "full"]


@dataclass(frozen=True)
class Config:
    """Sizes of one mode. Every mode writes the same keys; a smaller mode marks what it leaves
    out as ``skipped``."""

    mode: Mode
    index_max: int
    """Largest index size built (10k, 100k or 1M templates)."""
    index_queries: int
    """Mated probes per index size (plus half as many non-mated)."""
    exact_queries: int
    """Probes timed with exact search (its results for recall come from a batched product)."""
    recognition_repeats: int
    """Composed frames per (resolution, face count) cell of the detection grid."""
    embed_repeats: int
    """Repeats of each embed batch."""
    pipeline_frames: int
    """Frames through the single-thread pipeline (frames/s per core, stage breakdown)."""
    fanout_officers: int
    fanout_dispatchers: int
    fanout_alerts: int
    """Alerts measured in the fan-out figure (fewer if ``fanout_budget_s`` runs out): about 100
    for a p99 that is not just the slowest alert (30 gave p99 ratios from 1.2 to 2.1 for the
    same code in one hour)."""
    fanout_budget_s: float
    """Time allowed for raising alerts on the real server (at least 2 alerts are raised)."""
    e2e_seconds: float
    """Seconds of streaming at each camera load."""
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    """Threads for index builds."""
    sweep_cameras: int = 0
    """``--cameras N``: after the fixed loads, stream 1, 2, ... N cameras at 5 fps (ONNX engine)
    and report the most this machine holds with no dropped frame (0: no sweep)."""
    dlib_e2e: bool = True
    """Also measure the end-to-end loads with the dlib engine (the baseline engine)."""


CONFIGS: dict[Mode, Config] = {
    "quick": Config("quick", index_max=10_000, index_queries=300, exact_queries=100,
                    recognition_repeats=1, embed_repeats=3, pipeline_frames=3,
                    fanout_officers=200, fanout_dispatchers=10, fanout_alerts=5,
                    fanout_budget_s=20.0, e2e_seconds=10.0, dlib_e2e=False),
    "default": Config("default", index_max=100_000, index_queries=1000, exact_queries=200,
                      recognition_repeats=3, embed_repeats=8, pipeline_frames=8,
                      fanout_officers=1000, fanout_dispatchers=10, fanout_alerts=100,
                      fanout_budget_s=150.0, e2e_seconds=30.0),
    "full": Config("full", index_max=1_000_000, index_queries=1000, exact_queries=200,
                   recognition_repeats=5, embed_repeats=10, pipeline_frames=15,
                   fanout_officers=1000, fanout_dispatchers=10, fanout_alerts=150,
                   fanout_budget_s=300.0, e2e_seconds=60.0),
}


@dataclass
class Row:
    """One line of the Markdown table."""

    figure: str
    case: str
    metric: str
    median: float | None = None
    p99: float | None = None
    baseline: str = ""
    """The baseline measured in the same run, as text (e.g. ``"12.1 / 19.0"`` ms)."""
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""


@dataclass
class Context:
    """Shared by the figures of one run."""

    cfg: Config
    out_dir: Path = Path(__file__).resolve().parent / "results"
    """Where results and profiles are written."""
    quiet: bool = False
    shared: dict[str, Any] = field(default_factory=dict)
    """Values one figure measures for another (e.g. index memory for ``memory``)."""
    started: float = field(default_factory=time.perf_counter)

    def log(self, message: str) -> None:
        """Progress on stderr, so stdout carries only the table."""
        if not self.quiet:
            elapsed = time.perf_counter() - self.started
            print(f"[bench {elapsed:6.1f}s] {message}", file=sys.stderr, flush=True)

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.perf_counter() - self.started

    def remember(self, key: str, value: Any) -> None:
        self.shared[key] = value
