"""The streamer's send queue: the newest frame for live and paced sources, a small buffer
for a file replayed as fast as possible, and whatever the operator set."""

from __future__ import annotations

from pathlib import Path

from tui.camera import UNPACED_QUEUE, CameraOptions, queue_size_for


def _options(source: str, **kw: object) -> CameraOptions:
    return CameraOptions(server="http://127.0.0.1:1", token="t", camera_id="c", source=source,
                         **kw)  # type: ignore[arg-type]


def test_live_and_paced_sources_keep_only_the_newest_frame(tmp_path: Path) -> None:
    assert queue_size_for(_options("0", fps=0.0)) == 1  # webcam
    assert queue_size_for(_options("rtsp://cam.local/stream", fps=0.0)) == 1
    assert queue_size_for(_options(str(tmp_path), fps=5.0)) == 1  # a folder played at 5 fps


def test_unpaced_file_replay_and_explicit_sizes(tmp_path: Path) -> None:
    assert queue_size_for(_options(str(tmp_path), fps=0.0)) == UNPACED_QUEUE
    assert queue_size_for(_options(str(tmp_path / "clip.mp4"), fps=0.0)) == UNPACED_QUEUE
    assert queue_size_for(_options("0", fps=5.0, queue_size=4)) == 4
