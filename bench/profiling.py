"""Sampling profiles: py-spy attached to the server process, pyinstrument in-process.

py-spy samples a running process from outside (no change to the server) and writes collapsed
stacks; :func:`summarise_collapsed` turns them into the top functions by own samples (where the
time is spent) and by inclusive samples (which calls it is spent under).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any


def py_spy() -> str | None:
    """Path of the py-spy executable (beside this Python, else on PATH), or None."""
    beside = Path(sys.executable).with_name("py-spy")
    if beside.exists():
        return str(beside)
    return shutil.which("py-spy")


def start_py_spy(pid: int, seconds: float, out: Path, *, gil: bool = False,
                 ) -> subprocess.Popen[bytes] | None:
    """Record ``pid`` for ``seconds`` into ``out`` (collapsed stacks); None if no py-spy.

    With ``gil``, only threads holding the GIL are sampled: what stops the event loop.
    """
    exe = py_spy()
    if exe is None:
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [exe, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))),
           "--rate", "100", "--format", "raw", "--output", str(out), "--nonblocking"]
    if gil:
        cmd.append("--gil")
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def finish(proc: subprocess.Popen[bytes] | None, timeout: float = 60.0) -> None:
    """Wait for a recording to end (killing it if it overstays)."""
    if proc is None:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _short(frame: str) -> str:
    """``func (path/to/file.py:12)`` -> ``func (file.py:12)``."""
    name, _, where = frame.partition(" (")
    if not where:
        return frame
    return f"{name} ({Path(where.rstrip(')')).name})"


PROJECT_DIRS = ("(server/", "(shared/", "(tui/", "/server/", "/shared/", "/tui/")
"""Frames from these folders are the project's own code."""


def summarise_collapsed(path: Path, top: int = 12) -> dict[str, Any]:
    """Top functions of a collapsed-stack file (``a;b;c 42`` per line): by own samples (all
    code), and by inclusive samples (the project's code only, so that the answer names our
    calls rather than thread and event-loop plumbing)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    if not path.exists():
        return {"samples": 0, "top_self": [], "top_project_inclusive": []}
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        try:
            count = int(count_text)
        except ValueError:
            continue
        frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        own[_short(frames[-1])] += count
        for frame in {_short(f) for f in frames if any(d in f for d in PROJECT_DIRS)}:
            inclusive[frame] += count

    def table(counter: Counter[str]) -> list[dict[str, Any]]:
        return [{"function": f, "samples": n, "share": round(n / total, 3)}
                for f, n in counter.most_common(top)]

    return {"samples": total, "top_self": table(own), "top_project_inclusive": table(inclusive)}


def pyinstrument_text(fn: Any, *args: Any, lines: int = 40) -> str | None:
    """Run ``fn(*args)`` under pyinstrument; the first ``lines`` of its text report."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        return None
    profiler = Profiler(interval=0.002)
    profiler.start()
    try:
        fn(*args)
    finally:
        profiler.stop()
    text = profiler.output_text(unicode=False, color=False, show_all=False)
    return "\n".join(text.splitlines()[:lines])
