"""Fuzzing the three websockets with hypothesis (issue 15): protocol messages of every type
with values at and past their bounds, arbitrary JSON/msgpack, deep nesting and raw bytes,
before and after ``hello``.

After ``hello`` no input may close the connection, draw an ``internal_error`` or log an error
or a traceback: each fuzzed message is followed by a ``ping`` whose ``pong`` must come back.
Before ``hello`` every input is refused with a typed error and a documented close code.
Budgets: ``VIGIL_FUZZ_WS_EXAMPLES`` (after hello, per socket) and
``VIGIL_FUZZ_WS_PREHELLO_EXAMPLES``; ``make fuzz`` raises both.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.fuzz.server_thread import CAMERA_ID, ServerThread, budget, report
from tests.fuzz.strategies import DISPATCH, OFFICER, camera_frames, json_frames
from tests.paths import DATASETS

AFTER_HELLO = budget("VIGIL_FUZZ_WS_EXAMPLES", 60)
BEFORE_HELLO = budget("VIGIL_FUZZ_WS_PREHELLO_EXAMPLES", 15)
REPLY_S = 30.0
PRE_HELLO_CLOSE_CODES = {4000, 4001, 4002}

SOCKETS = {"/ws/officer": "officer", "/ws/dispatch": "dispatcher", "/ws/camera": "camera"}


def sample_jpeg() -> bytes:
    photos = sorted((DATASETS / "face_recognition_examples").glob("*/*.jpg"))
    if photos:
        return photos[0].read_bytes()
    return (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
            b"\xff\xd9")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with ServerThread(Path(tmp_path_factory.mktemp("fuzz-ws"))) as srv:
        yield srv


class Client:
    """One signed-in socket that reconnects when the server closed it (counted)."""

    def __init__(self, server: ServerThread, path: str) -> None:
        self.server = server
        self.path = path
        self.binary = path == "/ws/camera"
        self.refs = itertools.count(1)
        self.ws: ClientConnection | None = None
        self.closes: list[str] = []
        self.internal_errors: list[str] = []
        self.sent = 0

    def encode(self, message: dict[str, Any]) -> bytes | str:
        return (msgspec.msgpack.encode(message) if self.binary
                else msgspec.json.encode(message).decode())

    def decode(self, raw: bytes | str) -> dict[str, Any]:
        data = raw.encode() if isinstance(raw, str) else raw
        out: dict[str, Any] = (msgspec.msgpack.decode(data) if self.binary
                               else msgspec.json.decode(data))
        return out

    def connect(self) -> ClientConnection:
        if self.ws is None:
            ws = connect(self.server.ws + self.path, max_size=None, open_timeout=30)
            hello = {"type": "hello", "protocol": 1,
                     "token": self.server.tokens[SOCKETS[self.path]], "camera_id": CAMERA_ID}
            ws.send(self.encode(hello))
            welcome = self.decode(ws.recv(timeout=REPLY_S))
            assert welcome["type"] == "welcome", welcome
            self.ws = ws
        return self.ws

    def exchange(self, payload: bytes | str) -> None:
        """Send one fuzzed message, then a ping; wait for its pong."""
        ws = self.connect()
        ref = next(self.refs)
        try:
            ws.send(payload)
            self.sent += 1
            ws.send(self.encode({"type": "ping", "ref": ref}))
            deadline = time.monotonic() + REPLY_S
            while True:
                reply = self.decode(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
                if reply.get("type") == "error" and reply.get("code") == "internal_error":
                    self.internal_errors.append(repr(payload)[:200])
                if reply.get("type") == "pong" and reply.get("ref") == ref:
                    return
        except ConnectionClosed as exc:
            self.closes.append(f"{exc.rcvd.code if exc.rcvd else None} after "
                               f"{repr(payload)[:200]}")
            self.ws = None
        except TimeoutError:
            self.closes.append(f"no pong after {repr(payload)[:200]}")
            ws.close()
            self.ws = None

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()


def run_after_hello(server: ServerThread, path: str, frames: st.SearchStrategy[Any]) -> None:
    client = Client(server, path)
    before = len(server.problems.records)

    @settings(max_examples=AFTER_HELLO, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(frames)
    def fuzz(payload: Any) -> None:
        client.exchange(payload)

    try:
        fuzz()
    finally:
        client.close()
    problems = server.problems.lines()[before:]
    report(path, phase="after_hello", inputs=client.sent, closes=len(client.closes),
           internal_errors=len(client.internal_errors), log_problems=len(problems))
    assert client.closes == []
    assert client.internal_errors == []
    assert problems == []


def test_officer_socket(server: ServerThread) -> None:
    run_after_hello(server, "/ws/officer", json_frames(OFFICER))


def test_dispatch_socket(server: ServerThread) -> None:
    run_after_hello(server, "/ws/dispatch", json_frames(DISPATCH))


def test_camera_socket(server: ServerThread) -> None:
    run_after_hello(server, "/ws/camera", camera_frames(sample_jpeg()))


@pytest.mark.parametrize("path", list(SOCKETS))
def test_before_hello(server: ServerThread, path: str) -> None:
    frames = (camera_frames(sample_jpeg()) if path == "/ws/camera"
              else json_frames([*OFFICER, *DISPATCH]))
    binary = path == "/ws/camera"
    outcomes: list[str] = []
    before = len(server.problems.records)

    @settings(max_examples=BEFORE_HELLO, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(frames)
    def fuzz(payload: Any) -> None:
        with connect(server.ws + path, max_size=None, open_timeout=30) as ws:
            ws.send(payload)
            replies: list[dict[str, Any]] = []
            try:
                while True:
                    raw = ws.recv(timeout=REPLY_S)
                    data = raw.encode() if isinstance(raw, str) else raw
                    replies.append(msgspec.msgpack.decode(data) if binary
                                   else msgspec.json.decode(data))
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else None
            ok = (code in PRE_HELLO_CLOSE_CODES and len(replies) == 1
                  and replies[0]["type"] == "error" and replies[0]["fatal"] is True
                  and replies[0]["code"] != "internal_error")
            outcomes.append("ok" if ok else f"{code} {replies} after {repr(payload)[:120]}")

    fuzz()
    problems = server.problems.lines()[before:]
    bad = [o for o in outcomes if o != "ok"]
    report(path, phase="before_hello", inputs=len(outcomes), unexpected=len(bad),
           log_problems=len(problems))
    assert bad == []
    assert problems == []
