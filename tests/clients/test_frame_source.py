"""Frame sources, JPEG preparation, the drop-oldest queue and the summary arithmetic."""

from __future__ import annotations

import asyncio
from itertools import islice
from pathlib import Path

import cv2
import numpy as np
import pytest

from shared.protocol.camera import FrameResult
from tui.camera_stats import CameraStats, percentile
from tui.drop_queue import DropOldestQueue, QueueClosed
from tui.frame_source import (
    SourceError,
    describe_source,
    iter_folder,
    open_source,
    parse_size,
    prepare_jpeg,
)


def _level(image: np.ndarray) -> int:
    return round(float(image.mean()) / 40)


def test_folder_frames_come_in_name_order(image_folder: Path) -> None:
    levels = [_level(frame) for frame in iter_folder(image_folder)]
    assert levels == [0, 1, 2, 3, 4, 5]


def test_folder_loop_starts_again(image_folder: Path) -> None:
    levels = [_level(f) for f in islice(iter_folder(image_folder, loop=True), 9)]
    assert levels == [0, 1, 2, 3, 4, 5, 0, 1, 2]


def test_unreadable_images_are_skipped(image_folder: Path) -> None:
    (image_folder / "frame_00_broken.jpg").write_bytes(b"not a jpeg")
    assert len(list(iter_folder(image_folder))) == 6


def test_missing_and_empty_sources_raise_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError):
        next(open_source(str(tmp_path / "nope.mp4")))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError):
        next(open_source(str(empty)))
    (tmp_path / "garbage.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(SourceError):
        next(open_source(str(tmp_path / "garbage.mp4")))


def test_video_file_frames_and_loop(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 5, (64, 48))
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write MJPG video")
    for i in range(4):
        writer.write(np.full((48, 64, 3), i * 60, dtype=np.uint8))
    writer.release()
    assert len(list(open_source(str(path)))) == 4
    assert len(list(islice(open_source(str(path), loop=True), 10))) == 10


def test_describe_source() -> None:
    assert describe_source("0") == "webcam"
    assert describe_source("rtsp://cam.local/stream") == "url"
    assert describe_source("HTTP://cam.local/mjpeg") == "url"
    assert describe_source("clip.mp4") == "video"


def test_prepare_jpeg_resizes_and_encodes() -> None:
    image = np.zeros((48, 64, 3), dtype=np.uint8)
    data = prepare_jpeg(image, resize=(32, 24), quality=70)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None
    assert decoded.shape == (24, 32, 3)
    assert data[:2] == b"\xff\xd8"


def test_parse_size() -> None:
    assert parse_size("1280x720") == (1280, 720)
    for bad in ("1280", "0x10", "axb", "10x-3"):
        with pytest.raises(ValueError, match="x"):
            parse_size(bad)


async def test_queue_drops_oldest_and_counts() -> None:
    queue: DropOldestQueue[int] = DropOldestQueue(3)
    dropped = [queue.put(i) for i in range(5)]
    assert dropped == [None, None, None, 0, 1]
    assert queue.dropped == 2
    assert [await queue.get() for _ in range(3)] == [2, 3, 4]
    queue.put(9)
    queue.close()
    assert await queue.get() == 9
    with pytest.raises(QueueClosed):
        await queue.get()
    with pytest.raises(QueueClosed):
        queue.put(1)


async def _let_others_run() -> None:
    """One pass of the event loop (no time passes), so a new task reaches its first await."""
    loop = asyncio.get_running_loop()
    turn = loop.create_future()
    loop.call_soon(turn.set_result, None)
    await turn


async def test_queue_get_waits_for_put_and_close_wakes_it() -> None:
    queue: DropOldestQueue[str] = DropOldestQueue(2)
    waiter = asyncio.create_task(queue.get())
    await _let_others_run()
    assert not waiter.done()
    queue.put("a")
    assert await asyncio.wait_for(waiter, 5) == "a"
    waiter = asyncio.create_task(queue.get())
    await _let_others_run()
    assert not waiter.done()
    queue.close(discard=True)
    with pytest.raises(QueueClosed):
        await asyncio.wait_for(waiter, 5)


def test_percentile_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 99) == 5.0
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0


def test_stats_count_results_and_server_drops_across_connections() -> None:
    stats = CameraStats()
    stats.new_connection()
    stats.record_result(FrameResult(seq=1, status="processed", faces=2, latency_ms=30.0), 40.0)
    stats.record_result(FrameResult(seq=3, status="processed", faces=1, dropped_total=1), 50.0)
    stats.record_result(FrameResult(seq=4, status="no_active_deployment"), None)
    stats.record_result(FrameResult(seq=5, status="refused", code="undecodable_image"), None)
    assert stats.dropped_server == 1
    stats.new_connection()  # dropped_total restarts at 0 on a new connection
    stats.record_result(FrameResult(seq=6, status="dropped", dropped_total=1), None)
    summary = stats.summary("cam-1")
    assert summary.frames_acknowledged == 5
    assert summary.frames_processed == 2
    assert summary.faces_seen == 3
    assert summary.dropped_server == 2
    assert summary.no_active_deployment == 1
    assert summary.refused == 1
    assert summary.latency_ms_p50 == 40.0
    assert summary.server_latency_ms_p50 == 0.0
