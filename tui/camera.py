"""The camera streamer: read frames from a source and stream them to ``/ws/camera``.

The streamer speaks the camera role of the protocol (msgpack binary frames, see
``docs/protocol.md``): ``hello`` with the camera's token and id, then ``frame`` messages, each
answered by a ``frame_result``. It never buffers without bound: frames wait in a small
drop-oldest queue (a live camera wants the newest frame, not a backlog) and at most
``max_in_flight`` frames await their result; the server's own latest-frame-wins slot does the
rest and reports its drops. It reconnects with exponential backoff and jitter, and stops for
good on refusals that retrying cannot fix (bad token, wrong protocol version, replaced).

:func:`stream_camera` is the library entry point (used by ``vigil camera`` and ``vigil demo``);
it returns a :class:`CameraSummary`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from shared.backoff import backoff_delay
from shared.protocol.base import FATAL_CLOSE_CODES, FATAL_ERROR_CODES
from shared.protocol.camera import CameraIn, CameraOut, Frame, FrameResult
from shared.protocol.codec import MsgpackCodec, ProtocolError
from shared.protocol.common import Error, Hello, Welcome
from tui.camera_stats import CameraStats, CameraSummary
from tui.connection import websocket_url
from tui.drop_queue import DropOldestQueue, QueueClosed
from tui.frame_source import (
    EncodedFrame,
    Image,
    SourceError,
    describe_source,
    open_source,
    prepare_jpeg,
)

__all__ = ["CameraOptions", "CameraRefused", "CameraStats", "CameraSummary", "stream_camera"]

CLIENT_NAME = "vigil-camera/0.1"



class CameraOptions(msgspec.Struct, kw_only=True, frozen=True):
    """How to stream: where to, from what, how fast."""

    server: str
    """Server base URL (``http://host:port`` or ``ws://host:port``)."""
    token: str
    camera_id: str
    source: str
    """Folder of images, video file, webcam index or stream URL."""
    fps: float = 5.0
    """Frames per second cap; 0 sends as fast as the source and the in-flight window allow."""
    resize: tuple[int, int] | None = None
    """``(width, height)`` to resize every frame to, or None."""
    jpeg_quality: int = 85
    loop: bool = False
    """Start the source again at its end (folders and video files)."""
    queue_size: int = 0
    """Frames waiting to be sent; the oldest is dropped (and counted) when full. 0 (default):
    automatic, see :func:`queue_size_for`. In no-drop mode the producer waits for space
    instead, so nothing is lost whatever the size."""
    drop_when_behind: bool = True
    """False: a file source waits for the server instead of dropping frames (a live source
    cannot wait, so keep True for webcams and streams)."""
    max_in_flight: int = 2
    """Frames sent whose ``frame_result`` has not come back yet."""
    max_frames: int = 0
    """Stop after this many frames read from the source (0: no limit)."""
    duration_s: float = 0.0
    """Stop after this many seconds (0: no limit)."""
    lat: float | None = None
    lon: float | None = None
    """Position sent with every frame (mobile units only)."""
    connect_timeout_s: float = 10.0
    result_timeout_s: float = 15.0
    """A frame with no result after this long no longer holds an in-flight slot."""
    drain_timeout_s: float = 20.0
    """At the end of the source, how long to wait for the last results."""
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 10.0
    max_retries: int = 0
    """Give up after this many failed connection attempts in a row (0: never)."""


class CameraRefused(Exception):
    """The server refused the camera in a way that retrying cannot fix."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code


UNPACED_QUEUE = 8
"""Queue for a file replayed as fast as possible (``fps`` 0): keeps the link busy."""


def queue_size_for(options: CameraOptions) -> int:
    """The send queue's size: ``queue_size`` when set; else 1 for a live source (webcam,
    stream URL) or a paced one (``fps`` > 0), which wants its newest frame: each queued frame
    is a frame interval of backlog (a queue of 8 at 5 fps added 1.6 s of latency, measured by
    ``make bench``); else :data:`UNPACED_QUEUE`."""
    if options.queue_size > 0:
        return options.queue_size
    live = describe_source(options.source) in ("webcam", "url")
    return 1 if live or options.fps > 0 else UNPACED_QUEUE


@dataclass
class _Pending:
    captured_at: float
    jpeg: bytes


@dataclass
class _Run:
    """State shared by the producer, the sender and the receiver of one streaming run."""

    options: CameraOptions
    stats: CameraStats
    queue: DropOldestQueue[_Pending]
    stop: asyncio.Event
    codec: MsgpackCodec[CameraOut] = field(default_factory=lambda: MsgpackCodec(CameraOut))
    encoder: MsgpackCodec[CameraIn] = field(default_factory=lambda: MsgpackCodec(CameraIn))
    next_seq: int = 1
    in_flight: dict[int, float] = field(default_factory=dict)
    """seq -> monotonic send time of frames awaiting their result."""
    slot_free: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a result frees an in-flight slot (the sender waits on it)."""
    frame_done: asyncio.Event = field(default_factory=asyncio.Event)
    """The same signal for the producer, which in no-drop mode reads only when it can send."""


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Wait for ``event`` up to ``seconds``; True if it was set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
    return event.is_set()


async def _produce(run: _Run, frames: Iterator[Image | EncodedFrame]) -> None:
    """Read, pace, encode and enqueue frames until the source ends or the run stops."""
    opts, stats = run.options, run.stats
    loop = asyncio.get_running_loop()
    interval = 1.0 / opts.fps if opts.fps > 0 else 0.0
    due = loop.time()
    try:
        while not run.stop.is_set():
            if opts.max_frames and stats.frames_read >= opts.max_frames:
                break
            if not opts.drop_when_behind:
                # Read the next frame only when it can be sent at once, so that its capture
                # time is not spent waiting in the queue.
                await run.queue.wait_for_space()
                while (len(run.in_flight) >= max(1, opts.max_in_flight) or len(run.queue)) \
                        and not run.stop.is_set():
                    run.frame_done.clear()
                    await _wait(run.frame_done, 0.2)
                    _expire_in_flight(run)
                if run.stop.is_set():
                    break
            image = await asyncio.to_thread(next, frames, None)
            if image is None:
                break
            captured = time.time()
            if isinstance(image, EncodedFrame):
                # Encoded by the source (its own encoder): sent as it is, never resized.
                jpeg = image.jpeg
            else:
                jpeg = await asyncio.to_thread(
                    prepare_jpeg, image, resize=opts.resize, quality=opts.jpeg_quality
                )
            stats.frames_read += 1
            try:
                if run.queue.put(_Pending(captured, jpeg)) is not None:
                    stats.dropped_local += 1
            except QueueClosed:
                break  # stopped while this frame was being read
            if interval:
                due += interval
                delay = due - loop.time()
                if delay > 0:
                    await _wait(run.stop, delay)
                else:
                    due = loop.time()  # behind schedule: do not burst to catch up
    finally:
        run.queue.close(discard=run.stop.is_set())


def _expire_in_flight(run: _Run) -> None:
    cutoff = time.monotonic() - run.options.result_timeout_s
    for seq in [s for s, sent in run.in_flight.items() if sent < cutoff]:
        del run.in_flight[seq]


async def _send_frames(run: _Run, ws: ClientConnection) -> None:
    """Send queued frames, keeping at most ``max_in_flight`` awaiting results."""
    opts = run.options
    while True:
        # Wait for a free in-flight slot first, then take the newest queued frame. Taking the
        # frame first held it through the wait, a whole processing time, while newer frames
        # replaced each other in the queue: that was the camera-side queueing (capture ->
        # send p50 1.2 s at 1 camera in ``make bench``).
        while len(run.in_flight) >= max(1, opts.max_in_flight) and not run.stop.is_set():
            run.slot_free.clear()
            await _wait(run.slot_free, 1.0)
            _expire_in_flight(run)
        if run.stop.is_set():
            break
        try:
            item = await run.queue.get()
        except QueueClosed:
            break
        if run.stop.is_set():
            break
        seq = run.next_seq
        run.next_seq += 1
        frame = Frame(seq=seq, captured_at=item.captured_at, jpeg=item.jpeg,
                      lat=opts.lat, lon=opts.lon)
        run.in_flight[seq] = time.monotonic()
        await ws.send(run.encoder.encode(frame))
        run.stats.frames_sent += 1
        run.stats.capture_to_send_ms.append((time.time() - item.captured_at) * 1000.0)
    # The source is done: give the last results a chance, then close normally.
    deadline = time.monotonic() + (1.0 if run.stop.is_set() else opts.drain_timeout_s)
    while run.in_flight and time.monotonic() < deadline:
        run.slot_free.clear()
        await _wait(run.slot_free, min(1.0, max(0.01, deadline - time.monotonic())))
    await ws.close()


async def _receive(run: _Run, ws: ClientConnection) -> None:
    """Apply ``frame_result`` messages until the connection closes."""
    async for raw in ws:
        if isinstance(raw, str):
            continue  # the camera role is binary; ignore anything else
        try:
            message = run.codec.decode(raw)
        except ProtocolError:
            continue
        match message:
            case FrameResult():
                sent = run.in_flight.pop(message.seq, None)
                if message.status != "dropped":
                    # Frames are taken in seq order, so an older frame still waiting was
                    # superseded. (A ``dropped`` answer is sent at once and can overtake the
                    # answer to an older frame still being processed.)
                    for seq in [s for s in run.in_flight if s < message.seq]:
                        del run.in_flight[seq]
                rtt = (time.monotonic() - sent) * 1000 if sent is not None else None
                run.stats.record_result(message, rtt)
                run.slot_free.set()
                run.frame_done.set()
            case Error():
                run.stats.last_error = message.code
                if message.fatal and message.code in FATAL_ERROR_CODES:
                    raise CameraRefused(message.code, message.message)
            case _:
                pass


async def _session(run: _Run, ws: ClientConnection) -> None:
    """One connection: handshake, then send and receive until done or disconnected."""
    opts = run.options
    await ws.send(run.encoder.encode(
        Hello(token=opts.token, camera_id=opts.camera_id, client=CLIENT_NAME)
    ))
    raw = await asyncio.wait_for(ws.recv(), opts.connect_timeout_s)
    reply = run.codec.decode(raw if isinstance(raw, bytes) else raw.encode())
    if isinstance(reply, Error):
        if reply.code in FATAL_ERROR_CODES:
            raise CameraRefused(reply.code, reply.message)
        raise ConnectionError(f"refused: {reply.code}")
    if not isinstance(reply, Welcome):
        raise ConnectionError(f"expected welcome, got {type(reply).__name__}")
    run.stats.connected = True
    run.stats.new_connection()
    run.in_flight.clear()
    receiver = asyncio.create_task(_receive(run, ws))
    sender = asyncio.create_task(_send_frames(run, ws))
    try:
        done, _ = await asyncio.wait({receiver, sender}, return_when=asyncio.FIRST_COMPLETED)
        if sender in done:
            sender.result()
            await asyncio.wait_for(receiver, opts.connect_timeout_s)
        else:
            receiver.result()  # raises the refusal or the abnormal close
            # The server closed normally (1000/1001, e.g. shutting down) with frames left.
            raise ConnectionError("the server closed the connection")
    finally:
        for task in (sender, receiver):
            task.cancel()
        await asyncio.gather(sender, receiver, return_exceptions=True)


def _fatal_close(exc: BaseException) -> str | None:
    """The refusal code if ``exc`` means reconnecting is pointless, else None."""
    if (isinstance(exc, ConnectionClosed) and exc.rcvd is not None
            and exc.rcvd.code in FATAL_CLOSE_CODES):
        return f"closed {exc.rcvd.code}: {exc.rcvd.reason}"
    if isinstance(exc, InvalidStatus) and exc.response.status_code in (401, 403, 404):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, InvalidURI):
        return str(exc)
    return None


async def stream_camera(
    options: CameraOptions,
    *,
    stop: asyncio.Event | None = None,
    stats: CameraStats | None = None,
    frames: Callable[[], Iterator[Image | EncodedFrame]] | None = None,
) -> CameraSummary:
    """Stream a source to the server until it ends, ``stop`` is set or the server refuses.

    Args:
        options: where and what to stream.
        stop: set it to end streaming cleanly (Ctrl-C, the demo's end).
        stats: live counters to update (a progress display reads them); a new one if None.
        frames: factory of the frame iterator; defaults to ``open_source(options.source)``.
            It may yield :class:`~tui.frame_source.EncodedFrame` (already JPEG: sent as
            is, ``resize`` and ``jpeg_quality`` do not apply) as well as images.

    Returns:
        The summary; ``error`` says why streaming stopped early, if it did.
    """
    stop = stop or asyncio.Event()
    stats = stats or CameraStats()
    run = _Run(options=options, stats=stats, queue=DropOldestQueue(queue_size_for(options)),
               stop=stop)
    url = websocket_url(options.server, "/ws/camera")
    try:
        source = frames() if frames else open_source(options.source, loop=options.loop)
    except SourceError as exc:
        return stats.summary(options.camera_id, error=f"source: {exc}")
    producer = asyncio.create_task(_produce(run, source))

    async def close_on_stop() -> None:
        await stop.wait()
        run.queue.close(discard=True)  # wakes a sender or a producer waiting on the queue

    watcher = asyncio.create_task(close_on_stop())
    timer = (asyncio.get_running_loop().call_later(options.duration_s, stop.set)
             if options.duration_s > 0 else None)
    error: str | None = None
    failures = 0
    try:
        while True:
            try:
                async with connect(url, open_timeout=options.connect_timeout_s,
                                   close_timeout=5, max_size=1 << 20, proxy=None) as ws:
                    failures = 0
                    await _session(run, ws)
            except CameraRefused as exc:
                error = str(exc)
                break
            except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake,
                    ProtocolError) as exc:
                reason = _fatal_close(exc)
                if reason:
                    error = reason
                    break
                stats.last_error = str(exc) or type(exc).__name__
            finally:
                stats.connected = False
            if producer.done() and (run.queue.closed and not len(run.queue)):
                break  # the source is exhausted and everything was sent
            if stop.is_set():
                break
            failures += 1
            if options.max_retries and failures >= options.max_retries:
                error = f"gave up after {failures} attempts: {stats.last_error}"
                break
            stats.reconnects += 1
            await _wait(stop, backoff_delay(failures, options.backoff_initial_s,
                                            options.backoff_max_s))
    finally:
        if timer is not None:
            timer.cancel()
        stop.set()
        producer.cancel()
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            try:
                await producer
            except SourceError as exc:
                error = error or f"source: {exc}"
    return stats.summary(options.camera_id, error=error)
