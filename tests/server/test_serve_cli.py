"""``vigil serve --log-level`` is honoured (issue 15, item 11)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


async def serve_log(tmp_path: Path, *level: str) -> tuple[int, str]:
    """Start ``vigil serve`` (with ``--log-level`` args), wait until it listens, stop it;
    returns its exit code and everything it logged."""
    listening = False
    log = tmp_path / "serve.log"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server.cli", "serve", "--port", "0", "--engine", "dlib",
        "--data-dir", str(tmp_path / "data"), *level,
        cwd=ROOT, env={**os.environ, "VIGIL_WORKERS": "1"},
        stdout=asyncio.subprocess.PIPE, stderr=log.open("wb"),
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(180):
            while True:
                line = (await proc.stdout.readline()).decode()
                if not line or "listening on" in line:
                    listening = bool(line)
                    break
        # Signal only a server that listens: one that closed its stdout is exiting, and
        # signalling it would race asyncio's child watcher (Popen.send_signal polls, and a
        # reaped pid is then reported as 255).
        if listening:
            proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = log.read_text(errors="replace")
    return code, text + ("" if listening else "\n(never listened)")


@pytest.mark.slow
async def test_log_level_warning_silences_info(tmp_path: Path) -> None:
    code, log = await serve_log(tmp_path, "--log-level", "WARNING")
    # uvicorn re-raises the SIGTERM it handled once shut down: -15 is a clean stop too.
    assert code in (0, -signal.SIGTERM), log
    assert "never listened" not in log
    assert "INFO" not in log, log
    assert "vigil ready" not in log


def test_unknown_log_level_is_refused(tmp_path: Path) -> None:
    # A plain blocking run: the refusal exits at once (see serve_log on signalling a process
    # that is already exiting).
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--port", "0", "--engine", "dlib",
         "--data-dir", str(tmp_path / "data"), "--log-level", "CHATTY"],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 2, done.stderr
    assert "unknown log level" in done.stderr
