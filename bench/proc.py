"""Child processes driven by JSON lines: the benchmark's servers and client swarms.

A child reads one command per line on stdin and answers with one JSON object per line on
stdout (logs go to stderr). :class:`Child` always ends its process: politely (``quit``), then
SIGTERM, then SIGKILL, so a run never leaves processes behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]


class ChildError(RuntimeError):
    """The child died, answered garbage or did not answer in time."""


class Child:
    """A ``python -m MODULE`` child speaking JSON lines (see module docstring)."""

    def __init__(self, module: str, args: Sequence[str] = (), env: dict[str, str] | None = None,
                 stderr_path: Path | None = None) -> None:
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        self._log: IO[bytes] | None = open(stderr_path, "ab") if stderr_path else None  # noqa: SIM115
        self.name = module
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args], cwd=ROOT, env=full_env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log if self._log is not None else subprocess.DEVNULL, text=True,
            bufsize=1,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def receive(self, timeout: float) -> dict[str, Any]:
        """The next JSON line the child prints (non-JSON lines are skipped)."""
        while True:
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                raise ChildError(f"no answer from {self.name} in {timeout} s") from None
            if line is None:
                raise ChildError(f"{self.name} exited with {self.proc.wait()}")
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value

    def ask(self, command: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        """Send one command and wait for its answer."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(command) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise ChildError(f"{self.name} is gone: {exc}") from exc
        answer = self.receive(timeout)
        if "error" in answer:
            raise ChildError(str(answer["error"]))
        return answer

    def close(self, timeout: float = 10.0) -> None:
        """Ask the child to quit, then terminate, then kill it."""
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.stdin.close()
            except (BrokenPipeError, OSError, ValueError):
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
        if self._log is not None:
            self._log.close()

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def serve_commands(handle: Callable[[dict[str, Any]], dict[str, Any] | None]) -> None:
    """Child side: read commands from stdin and answer each on stdout, until ``quit`` or EOF.

    ``handle`` runs on the calling thread (an asyncio child runs this in a thread and hands
    work to its loop with ``asyncio.run_coroutine_threadsafe``); it returns the answer, or
    ``None`` to quit.
    """

    def reply(value: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(value) + "\n")
        sys.stdout.flush()

    for line in sys.stdin:
        try:
            command = json.loads(line)
        except json.JSONDecodeError:
            reply({"error": "bad command"})
            continue
        try:
            answer = handle(command)
        except Exception as exc:  # an answer, never a dead child
            reply({"error": f"{type(exc).__name__}: {exc}"})
            continue
        if answer is None:
            return
        reply(answer)


async def serve_commands_until_quit(
    handle: Callable[[dict[str, Any]], dict[str, Any] | None],
) -> None:
    """Asyncio child side: :func:`serve_commands` on a thread; returns at ``quit`` or EOF."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def commands() -> None:
        try:
            serve_commands(handle)
        finally:
            loop.call_soon_threadsafe(done.set)

    threading.Thread(target=commands, daemon=True).start()
    await done.wait()


def emit(value: dict[str, Any]) -> None:
    """Child side: print one unsolicited JSON line (e.g. ``{"port": ...}`` at start)."""
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()
