"""Running a GIL-holding face engine in worker processes.

dlib's ResNet descriptor (``compute_face_descriptor``) holds the GIL for the whole call
(~200 ms per face on the development machine), so in a worker *thread* it still stalls the
server's event loop: ``make bench`` measured loop stalls of 1-2 s under camera load. ONNX
Runtime and dlib's HOG detector release the GIL and are fine in threads.

:class:`ProcessEngine` implements :class:`~server.recognition.engine.FaceEngine` by forwarding
``detect`` and ``embed`` to a :class:`~concurrent.futures.ProcessPoolExecutor` whose
initializer builds the real engine once per process, at start-up (every worker is started and
its models loaded before the constructor returns, so a broken model fails the start, not the
first frame). The pool uses the ``forkserver`` start method: the server has threads, and
forking a threaded process is unsafe.

Camera frames go to a worker as their JPEG bytes, one call per frame (:meth:`ProcessEngine.
find_faces`: decode, detect, quality gate and embed in the worker), and only faces and
templates come back: no decoded frame is pickled, and no frame makes two trips.
``detect``/``embed`` (enrolment, evaluation) still send the decoded image.

Privacy invariant 2 holds: images cross to the workers through the pool's pipes, in memory
only; nothing is written to disk, and a worker keeps nothing after a call returns.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from server.recognition.engine import Face, FaceEngine, Image, Vectors
from server.recognition.frame_faces import FrameFaces, find_faces
from server.recognition.huge_pages import back_heap_with_huge_pages
from server.recognition.motion import SceneHint
from server.recognition.timing import StageTimer
from server.recognition.tracking import TrackHint
from server.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

EngineFactory = Callable[[], FaceEngine]
"""Builds the real engine in a worker; must be picklable (a class or a ``functools.partial``
of one, not a lambda)."""

START_TIMEOUT_S = 300.0
"""Upper bound for starting the workers and loading their models (seconds on a busy machine)."""

CALL_TIMEOUT_S = 120.0
"""Upper bound for one detect or embed in a worker (normally well under a second): a hung
worker must fail that frame, not block its camera forever."""

_engine: FaceEngine | None = None
"""The real engine of this worker process (set by :func:`_init`)."""


ORPHAN_POLL_S = 0.5
"""How often a worker checks that the server is still there."""


def _init(factory: EngineFactory, server_pid: int) -> None:
    global _engine
    _exit_with_server(server_pid)
    _engine = factory()
    # The models are on the heap now: huge pages under it make dlib's landmark predictor
    # (packs with ``dlib68`` landmarks), a random walk through ~65 MB of trees, a quarter
    # cheaper (see ``huge_pages``); for the others it is ~0.6 s of CPU once, and harmless.
    advised = back_heap_with_huge_pages()
    log.info("engine worker %d: %d MB of heap on huge pages", os.getpid(), advised >> 20)


def _exit_with_server(server_pid: int) -> None:
    """End this worker soon after the server dies, even by SIGKILL.

    Nothing else would: the pool never tells a worker that the server has gone, and the fork
    server that is the workers' parent stays up while any worker holds its "alive" pipe (every
    worker does), so an orphaned worker would wait forever, holding its memory and any pipes
    it inherited (a supervisor waiting for the server's output to close would hang too).
    """

    def watch() -> None:
        while _alive(server_pid):
            time.sleep(ORPHAN_POLL_S)
        os._exit(0)

    threading.Thread(target=watch, name="vigil-orphan-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed server its parent has not reaped yet is a zombie: gone all the same
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _worker_engine() -> FaceEngine:
    assert _engine is not None, "worker initializer did not run"
    return _engine


def _ready() -> int:
    _worker_engine()
    return os.getpid()


def _detect(image: Image) -> tuple[list[Face], dict[str, float]]:
    timer = StageTimer()
    faces = _worker_engine().detect(image, timer)
    return faces, timer.ms


def _find_faces(jpeg: bytes, settings: Settings, min_face_px: float,
                tracks: Sequence[TrackHint] | None = None, scene: SceneHint | None = None,
                ) -> tuple[FrameFaces, dict[str, float]]:
    timer = StageTimer()
    found = find_faces(_worker_engine(), jpeg, settings, min_face_px, timer, keep_image=False,
                       tracks=tracks, scene=scene)
    return found, timer.ms


def _embed(image: Image, faces: Sequence[Face]) -> tuple[Vectors, dict[str, float]]:
    timer = StageTimer()
    vectors = _worker_engine().embed(image, faces, timer)
    return vectors, timer.ms


def releases_gil(engine: object) -> bool:
    """Whether an engine may run in worker threads without stalling the event loop
    (engines say so in a ``releases_gil`` class attribute; absent means yes)."""
    return bool(getattr(engine, "releases_gil", True))


class ProcessEngine:
    """A face engine whose work runs in worker processes (see module docstring).

    Safe to call from several threads at once: each call waits for one worker.
    """

    releases_gil = True
    """The calling thread only waits on a pipe, which releases the GIL."""

    def __init__(
        self,
        factory: EngineFactory,
        workers: int,
        *,
        name: str,
        model_id: str,
        dim: int,
        score_is_probability: bool = False,
    ) -> None:
        """Start ``workers`` processes, each building its engine with ``factory``.

        Raises:
            concurrent.futures.process.BrokenProcessPool: a worker failed to start or to
                build its engine (the error it raised is logged by the worker).
            TimeoutError: the workers did not start within :data:`START_TIMEOUT_S`.
        """
        self.name = name
        self.model_id = model_id
        self.dim = dim
        self.score_is_probability = score_is_probability
        self.workers = max(1, int(workers))
        self.pack_dir: Path | None = None
        """The model pack the workers load, when the engine comes from one (``wrap``)."""
        context = multiprocessing.get_context("forkserver")
        # Import the engine's module once in the fork server, so that each worker forks
        # with it loaded (its models are still loaded per worker, by the initializer).
        module = getattr(getattr(factory, "func", factory), "__module__", None)
        if module:
            context.set_forkserver_preload([module])
        self._pool = ProcessPoolExecutor(
            self.workers, mp_context=context, initializer=_init,
            initargs=(factory, os.getpid()),
        )
        try:
            self._start()
        except BaseException:
            self._pool.shutdown(wait=True, cancel_futures=True)
            raise

    def _start(self) -> None:
        # The pool starts a process per submitted task while none is idle: submitting one
        # task per worker at once starts them all now, and each loads its models.
        futures = [self._pool.submit(_ready) for _ in range(self.workers)]
        done, not_done = wait(futures, timeout=START_TIMEOUT_S)
        if not_done:
            raise TimeoutError(f"engine workers not ready after {START_TIMEOUT_S:.0f} s")
        for future in done:
            future.result()

    @classmethod
    def wrap(cls, engine: FaceEngine, workers: int) -> ProcessEngine:
        """Run ``engine``'s kind in worker processes; the engine must offer a picklable
        ``factory(workers)`` that builds an equivalent engine (sized for one of ``workers``
        processes: the ONNX engine gives each cores // workers threads)."""
        factory = getattr(engine, "factory", None)
        if factory is None:
            raise TypeError(f"engine {engine.name} holds the GIL but offers no factory()")
        wrapped = cls(
            factory(workers), workers, name=engine.name, model_id=engine.model_id, dim=engine.dim,
            score_is_probability=bool(getattr(engine, "score_is_probability", False)),
        )
        wrapped.pack_dir = getattr(engine, "pack_dir", None)
        return wrapped

    def _call(self, fn: Callable[..., tuple[T, dict[str, float]]], timer: StageTimer | None,
              *args: Any) -> T:
        future: Future[tuple[T, dict[str, float]]] = self._pool.submit(fn, *args)
        result, stage_ms = _result(future)
        if timer is not None:
            for stage, ms in stage_ms.items():
                timer.add(stage, ms)
        return result

    def detect(self, image: Image, timer: StageTimer | None = None) -> list[Face]:
        """Find faces (in a worker process), best first."""
        return self._call(_detect, timer, image)

    def find_faces(self, jpeg: bytes, settings: Settings, min_face_px: float,
                   timer: StageTimer | None = None, *,
                   tracks: Sequence[TrackHint] | None = None,
                   scene: SceneHint | None = None) -> FrameFaces:
        """A whole camera frame in one worker call: decode, detect, quality gate, embed
        (see :func:`server.recognition.frame_faces.find_faces`). Only the JPEG bytes (and
        the camera's track boxes and grid) go to the worker and only faces, templates, the
        crops of embedded tracked faces and the frame's grid come back; the decoded frame
        stays there.

        Raises:
            ImageRefused: ``undecodable_image`` or ``image_too_large``.
        """
        return self._call(_find_faces, timer, jpeg, settings, min_face_px, tracks, scene)

    def embed(
        self, image: Image, faces: Sequence[Face], timer: StageTimer | None = None
    ) -> Vectors:
        """One unit-length template per face, the faces shared out among the workers.

        dlib embeds ~200 ms a face, one face after another: a frame's faces split between
        two workers take half the time when the others are idle (and no longer than one
        batch when they are busy, bar the image's second trip through a pipe).
        """
        faces = list(faces)
        parts = min(self.workers, len(faces))
        if parts <= 1:
            return self._call(_embed, timer, image, faces)
        start = time.perf_counter()
        chunks = [faces[i::parts] for i in range(parts)]
        futures = [self._pool.submit(_embed, image, chunk) for chunk in chunks]
        results = [_result(future)[0] for future in futures]
        if timer is not None:  # wall time: the workers' own times overlap
            timer.add("embed", (time.perf_counter() - start) * 1000.0)
        vectors = np.empty((len(faces), self.dim), dtype=np.float32)
        for i, part in enumerate(results):
            vectors[i::parts] = part
        return vectors

    def close(self) -> None:
        """Stop the workers (waits for calls in progress; queued ones are cancelled)."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def _result(future: Future[T]) -> T:
    """A worker's result, waiting at most :data:`CALL_TIMEOUT_S`.

    Raises:
        TimeoutError: the worker did not answer in time (hung or the machine is starved).
    """
    try:
        return future.result(timeout=CALL_TIMEOUT_S)
    except TimeoutError:
        if future.done():
            raise  # the worker's own error, not a wait that ran out
        future.cancel()
        raise TimeoutError(
            f"engine worker gave no result within {CALL_TIMEOUT_S:.0f} s") from None
