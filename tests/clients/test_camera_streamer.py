"""The camera streamer against a small in-test server speaking the camera protocol.

The real-server tests (frames matched, alerts raised) live in the demo test; these pin the
client's own behaviour: handshake, results, reconnect after a drop, refusals that stop it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from shared.protocol.base import CloseCode, ErrorCode
from shared.protocol.camera import CameraIn, CameraOut, Frame, FrameResult
from shared.protocol.codec import MsgpackCodec
from shared.protocol.common import Error, Hello, Limits, Welcome
from tui.camera import CameraOptions, CameraStats, stream_camera
from tui.frame_source import EncodedFrame

from .conftest import FakeServer, Handler

camera_in: MsgpackCodec[CameraIn] = MsgpackCodec(CameraIn)
camera_out: MsgpackCodec[CameraOut] = MsgpackCodec(CameraOut)
Start = Callable[[Handler], Awaitable[FakeServer]]


def _welcome() -> bytes:
    return camera_out.encode(Welcome(
        protocol=1, role="camera", account_id="cam-acc", name="cam", server_time=time.time(),
        last_seq=0, acked_seq=0,
        limits=Limits(max_message_bytes=64000, max_frame_bytes=8_000_000,
                      max_messages_per_second=50),
    ))


def _options(server: FakeServer, folder: Path, **kw: object) -> CameraOptions:
    base: dict[str, object] = dict(
        server=server.url, token="tok", camera_id="cam-1", source=str(folder), fps=0,
        backoff_initial_s=0.05, backoff_max_s=0.1, drain_timeout_s=5, max_retries=5,
    )
    base.update(kw)
    return msgspec.convert(base, CameraOptions)


def _binary(raw: str | bytes) -> bytes:
    assert isinstance(raw, bytes), "the camera role is binary"
    return raw


class Recorder:
    def __init__(self, *, drop_after: int = 0, refuse: bool = False) -> None:
        self.hellos: list[Hello] = []
        self.frames: list[Frame] = []
        self.connections = 0
        self.drop_after = drop_after
        self.refuse = refuse

    async def __call__(self, ws: ServerConnection) -> None:
        self.connections += 1
        hello = camera_in.decode(_binary(await ws.recv()))
        assert isinstance(hello, Hello)
        self.hellos.append(hello)
        if self.refuse:
            await ws.send(camera_out.encode(
                Error(code=ErrorCode.UNAUTHORISED, message="bad token", fatal=True)))
            await ws.close(CloseCode.UNAUTHORISED, "unauthorised")
            return
        await ws.send(_welcome())
        served = 0
        try:
            async for raw in ws:
                frame = camera_in.decode(_binary(raw))
                assert isinstance(frame, Frame)
                self.frames.append(frame)
                served += 1
                if self.connections == 1 and self.drop_after and served >= self.drop_after:
                    await ws.close(1011, "simulated failure")
                    return
                await ws.send(camera_out.encode(FrameResult(
                    seq=frame.seq, status="processed", faces=2, latency_ms=5.0)))
        except ConnectionClosed:
            pass


async def test_streams_a_folder_and_counts_results(fake_server: Start, image_folder: Path) -> None:
    recorder = Recorder()
    server = await fake_server(recorder)
    summary = await stream_camera(_options(server, image_folder, resize=(32, 24)))
    assert summary.error is None
    assert recorder.hellos[0].camera_id == "cam-1"
    assert recorder.hellos[0].token == "tok"
    assert [f.seq for f in recorder.frames] == [1, 2, 3, 4, 5, 6]
    assert all(f.jpeg[:2] == b"\xff\xd8" for f in recorder.frames)
    assert summary.frames_sent == summary.frames_acknowledged == summary.frames_processed == 6
    assert summary.faces_seen == 12
    assert summary.latency_ms_p50 is not None
    assert summary.reconnects == 0
    # the streamer's own share of the latency is reported, and it is never negative
    assert summary.capture_to_send_ms_p50 is not None
    assert summary.capture_to_send_ms_p99 is not None
    assert 0.0 <= summary.capture_to_send_ms_p50 <= summary.capture_to_send_ms_p99


async def test_an_encoded_frame_is_sent_as_it_is(fake_server: Start, image_folder: Path) -> None:
    # A source that encodes its own frames (the benchmark replaying frames it encoded once):
    # the exact bytes go out, resize and quality do not apply, capture->send still counts.
    jpegs = [b"\xff\xd8 first frame", b"\xff\xd8 second frame"]
    recorder = Recorder()
    server = await fake_server(recorder)
    summary = await stream_camera(
        _options(server, image_folder, resize=(32, 24), jpeg_quality=10),
        frames=lambda: iter([EncodedFrame(j) for j in jpegs]))
    assert summary.error is None
    assert [f.jpeg for f in recorder.frames] == jpegs
    assert summary.frames_processed == 2
    assert summary.capture_to_send_ms_p50 is not None


async def test_no_drop_mode_waits_for_the_server(fake_server: Start, image_folder: Path) -> None:
    recorder = Recorder()
    server = await fake_server(recorder)
    summary = await stream_camera(_options(server, image_folder, queue_size=1, max_in_flight=1,
                                           drop_when_behind=False))
    assert summary.dropped_local == 0
    assert summary.frames_acknowledged == 6


async def test_drop_mode_drops_oldest_when_the_link_is_slow(
    fake_server: Start, image_folder: Path
) -> None:
    release = asyncio.Event()

    async def slow(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(_welcome())
        async for raw in ws:
            frame = camera_in.decode(_binary(raw))
            assert isinstance(frame, Frame)
            await release.wait()  # hold every result until the source is exhausted
            await ws.send(camera_out.encode(FrameResult(seq=frame.seq, status="processed")))

    server = await fake_server(slow)
    stats = CameraStats()
    task = asyncio.create_task(stream_camera(
        _options(server, image_folder, queue_size=1, max_in_flight=1), stats=stats))
    async with asyncio.timeout(30):
        while stats.frames_read < 6:
            await asyncio.wait({task}, timeout=0.02)
    release.set()
    summary = await asyncio.wait_for(task, 30)
    assert summary.frames_read == 6
    assert summary.dropped_local >= 3  # 1 in flight + 1 queued: the rest were dropped
    assert summary.frames_sent + summary.dropped_local == 6


async def test_stop_ends_a_looping_stream(fake_server: Start, image_folder: Path) -> None:
    server = await fake_server(Recorder())
    stop = asyncio.Event()
    stats = CameraStats()
    task = asyncio.create_task(stream_camera(_options(server, image_folder, loop=True),
                                             stop=stop, stats=stats))
    async with asyncio.timeout(30):
        while stats.frames_acknowledged < 10:
            await asyncio.wait({task}, timeout=0.02)
    stop.set()
    summary = await asyncio.wait_for(task, 30)
    assert summary.error is None
    assert summary.frames_acknowledged >= 10


async def test_reconnects_after_a_drop_and_keeps_counting(
    fake_server: Start, image_folder: Path
) -> None:
    recorder = Recorder(drop_after=2)
    server = await fake_server(recorder)
    summary = await stream_camera(_options(server, image_folder, max_in_flight=1))
    assert summary.error is None
    assert recorder.connections == 2
    assert summary.reconnects == 1
    # seq keeps rising across connections: the server can tell frames apart
    seqs = [f.seq for f in recorder.frames]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    # the frame in flight at the drop is lost (live video), every later frame arrives
    assert summary.frames_acknowledged == len(recorder.frames) - 1
    assert summary.frames_read == 6


async def test_refusal_stops_without_retrying(fake_server: Start, image_folder: Path) -> None:
    recorder = Recorder(refuse=True)
    server = await fake_server(recorder)
    summary = await stream_camera(_options(server, image_folder, loop=True))
    assert summary.error is not None
    assert "unauthorised" in summary.error
    assert recorder.connections == 1
    assert summary.frames_sent == 0


async def test_unreachable_server_gives_up_after_max_retries(image_folder: Path) -> None:
    options = CameraOptions(
        server="http://127.0.0.1:9", token="t", camera_id="c", source=str(image_folder),
        backoff_initial_s=0.01, backoff_max_s=0.02, max_retries=3, connect_timeout_s=2,
    )
    summary = await stream_camera(options)
    assert summary.error is not None
    assert summary.error.startswith("gave up after 3 attempts")
    assert summary.reconnects == 2


async def test_bad_source_is_reported(tmp_path: Path) -> None:
    options = CameraOptions(server="http://127.0.0.1:9", token="t", camera_id="c",
                            source=str(tmp_path / "missing.mp4"), max_retries=1)
    summary = await stream_camera(options)
    assert summary.error is not None
    assert summary.error.startswith("source:")


async def test_cli_prints_a_json_summary(fake_server: Start, image_folder: Path) -> None:
    server = await fake_server(Recorder())
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server.cli", "camera", "--server", server.url, "--token", "tok",
        "--camera-id", "cam-1", "--fps", "0", "--resize", "32x24", "--json", str(image_folder),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out)
    assert summary["frames_acknowledged"] == 6
    assert summary["faces_seen"] == 12
    assert summary["error"] is None


async def test_cli_rejects_bad_arguments(image_folder: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server.cli", "camera", "--server", "http://127.0.0.1:9",
        "--token", "t", "--camera-id", "c", "--resize", "big", str(image_folder),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert b"WIDTHxHEIGHT" in err
