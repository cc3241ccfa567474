"""The event loop keeps ticking while frames are analysed with the dlib engine.

dlib's face descriptor holds the GIL for the whole call (~200 ms a face), so in a worker
thread it froze the server's loop for the length of every embedding; the server now runs
GIL-holding engines in worker processes (``server.recognition.process_engine``). This test
runs the real server in this process and counts, on the server's own loop, the ticks of a
10 ms ticker: first with nothing to do (the idle baseline, measured in the same test, so a
loaded machine slows both alike), then while frames with three faces each are analysed. With
the engine in a thread the loop barely ticks during a frame (a fraction of the idle rate);
with worker processes it keeps most of it. The ratio, not a wall-clock bound, decides; the
absolute stall times are measured by ``make bench``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from server.errors import ImageRefused
from server.recognition.dlib_engine import DlibEngine
from server.recognition.frame_faces import find_faces
from server.recognition.image_io import decode_image
from server.recognition.process_engine import ProcessEngine, releases_gil
from server.recognition.timing import StageTimer
from tests.server.conftest import LiveServer, Photos, build_world, make_settings, open_ws

MIN_TICK_RATIO = 0.3
"""Ticks per second while frames are analysed, over ticks per second idle, at least. A
GIL-holding engine in a thread measured 0.10, worker processes 0.65, both at load average 17
on 2 cores (a free loop gives about 1 on an idle machine)."""
IDLE_S = 1.5
"""Length of the idle baseline."""

pytestmark = pytest.mark.real_engine  # the point is dlib's hold on the GIL


@pytest.fixture(scope="module")
def process_engine(engine: DlibEngine) -> Iterator[ProcessEngine]:
    wrapped = ProcessEngine.wrap(engine, workers=2)
    yield wrapped
    wrapped.close()


def test_dlib_declares_it_holds_the_gil(engine: DlibEngine) -> None:
    # The app wraps exactly the engines that say so; dlib must keep saying so.
    assert not releases_gil(engine)


async def _ticker(gaps: list[float], stop: asyncio.Event) -> None:
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(0.01)
        now = time.perf_counter()
        gaps.append((now - last) * 1000.0 - 10.0)
        last = now


class Ticks:
    """Ticks of a 10 ms ticker over a measured stretch of time."""

    def __init__(self) -> None:
        self.gaps: list[float] = []
        self.stop = asyncio.Event()
        self.started = time.perf_counter()
        self.task = asyncio.create_task(_ticker(self.gaps, self.stop))
        self.elapsed = 0.0

    async def finish(self) -> Ticks:
        self.stop.set()
        await self.task
        self.elapsed = time.perf_counter() - self.started
        return self

    @property
    def rate(self) -> float:
        return len(self.gaps) / self.elapsed


async def tick_rates(live: LiveServer, photos: Photos, frames: int = 3) -> tuple[Ticks, Ticks]:
    """The ticker idle for ``IDLE_S``, then while ``frames`` three-face frames are analysed."""
    world = await build_world(live, photos)
    camera, _ = await open_ws(live, "/ws/camera", world.tokens["camera"],
                              camera_id=world.camera_id)
    idle = Ticks()
    await asyncio.wait({idle.task}, timeout=IDLE_S)
    await idle.finish()
    busy = Ticks()
    try:
        for seq in range(1, frames + 1):
            await camera.send({"type": "frame", "seq": seq, "captured_at": time.time(),
                               "jpeg": photos.frame_subject})
            result = await camera.recv_type("frame_result")
            assert result["status"] == "processed", result
            assert result["faces"] == 3
    finally:
        await busy.finish()
    await camera.close()
    for api in world.api.values():
        await api.close()
    return idle, busy


@pytest.mark.slow
async def test_loop_ticks_while_dlib_frames_are_analysed(
    tmp_path: Path, process_engine: ProcessEngine, photos: Photos
) -> None:
    async with LiveServer(make_settings(tmp_path), process_engine) as live:  # type: ignore[arg-type]
        idle, busy = await tick_rates(live, photos)
    # Three frames of about a second each: the ticker ran throughout.
    assert len(busy.gaps) >= 20, len(busy.gaps)
    ratio = busy.rate / idle.rate
    assert ratio >= MIN_TICK_RATIO, (
        f"the loop ticked {busy.rate:.0f}/s while frames were analysed, {idle.rate:.0f}/s idle "
        f"(ratio {ratio:.2f}; longest stall {max(busy.gaps):.0f} ms, idle "
        f"{max(idle.gaps):.0f} ms)")


@pytest.mark.slow
async def test_app_runs_a_gil_holding_engine_it_loads_in_processes(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, engine="dlib", workers=1)
    async with LiveServer(settings, None) as live:  # type: ignore[arg-type]
        engine = live.runtime.engine
        assert isinstance(engine, ProcessEngine)
        assert (engine.name, engine.model_id, engine.dim) == ("dlib", "dlib-resnet-v1", 128)
    # The lifespan shut the workers down with the server.
    with pytest.raises(RuntimeError):
        engine.detect(np.zeros((8, 8, 3), dtype=np.uint8))


def test_process_engine_gives_the_same_faces_and_templates(
    engine: DlibEngine, process_engine: ProcessEngine, photos: Photos
) -> None:
    image = decode_image(photos.frame_subject, max_bytes=10**7, max_pixels=10**8)
    faces = engine.detect(image)
    assert len(faces) == 3
    assert process_engine.detect(image) == faces
    # Three faces shared out between the two workers come back in the caller's order.
    assert np.array_equal(process_engine.embed(image, faces), engine.embed(image, faces))


def test_a_frame_is_one_worker_call_with_the_same_result(
    engine: DlibEngine, process_engine: ProcessEngine, photos: Photos, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    here = find_faces(engine, photos.frame_subject, settings, 0.0, StageTimer())
    there = process_engine.find_faces(photos.frame_subject, settings, 0.0, StageTimer())
    assert there.faces == here.faces
    assert len(here.faces) == 3
    assert there.good == here.good
    assert np.array_equal(there.vectors, here.vectors)
    # The decoded frame stayed in the worker; only faces and templates came back.
    assert here.image is not None
    assert there.image is None
    with pytest.raises(ImageRefused) as refused:
        process_engine.find_faces(b"not an image", settings, 0.0)
    assert refused.value.code == "undecodable_image"
