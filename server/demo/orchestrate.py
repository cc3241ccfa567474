"""``vigil demo`` behind the command line: server, set-up, cameras, officers, summary.

The server runs in this process (uvicorn on 127.0.0.1) with a fresh data dir; the camera
streamers and the three simulated officers are the real clients, handed in by the command
module (the server package never imports the terminal clients itself). Everything the run
writes stays in its data dir: the SQLite file, watchlist photos, probe crops, scenes and the
log file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import shlex
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import uvicorn

from server.demo.provision import OFFICERS, PLACES, Provisioned, bootstrap_admin, provision
from server.demo.scene_set import ORL, ORL_CREDIT, build_scenes
from server.demo.scenes import SceneSet
from server.officer_app.demo import phone_pairing_line
from server.recognition.engines import create_engine, describe
from server.serving import VigilServer
from server.settings import load_settings

log = logging.getLogger("vigil.demo")


class CameraJob(msgspec.Struct, frozen=True, kw_only=True):
    server: str
    token: str
    camera_id: str
    folder: str
    fps: float


class CameraReport(msgspec.Struct, frozen=True, kw_only=True):
    frames_sent: int
    frames_processed: int
    faces: int
    error: str | None = None


class OfficerJob(msgspec.Struct, frozen=True, kw_only=True):
    server: str
    token: str
    call_sign: str
    walk: tuple[float, float]
    radius_m: float
    seed: int


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """An alert reaching an officer's client."""

    call_sign: str
    alert_id: str
    received_at: float
    captured_at: float
    """Capture time of the frame that raised the alert (same clock: same machine)."""
    assigned: bool = False
    """Delivered by a dispatcher's assignment, not by the push of a new alert: its delay is
    the dispatcher's decision time, so it counts as delivered but not in the latency."""


CameraRunner = Callable[[CameraJob, asyncio.Event], Coroutine[Any, Any, CameraReport]]
OfficerRunner = Callable[[OfficerJob, Callable[[Delivery], None], asyncio.Event],
                         Coroutine[Any, Any, None]]
DispatcherRunner = Callable[[str, str], Coroutine[Any, Any, None]]


class DemoOptions(msgspec.Struct, frozen=True, kw_only=True):
    data_dir: str | None = None
    """Fresh folder for the run; None: a new temporary folder, removed at the end."""
    keep: bool = False
    """Keep an automatically created data dir."""
    duration_s: float | None = None
    """Run this long, then stop with a summary; None: until Ctrl-C (or the console quits)."""
    port: int = 0
    fps: float = 2.0
    """Frame rate cap per camera (frames still wait for the server; none are dropped)."""
    scenes_per_camera: int = 12
    workers: int = 2
    engine: str = "auto"
    """Face engine: ``auto`` runs the best installed model pack (shared model root), else dlib."""


class DemoSummary(msgspec.Struct, frozen=True, kw_only=True):
    frames: int
    """Frames the cameras sent."""
    frames_processed: int
    faces_processed: int
    alerts_raised: int
    alerts_delivered: int
    """Distinct alerts that reached at least one officer's client."""
    deliveries: int
    """(officer, alert) pairs delivered."""
    latency_ms_p50: float | None
    latency_ms_p99: float | None
    """Frame capture to officer's client, over every delivery pushed as a new alert (not
    those that came by a dispatcher's assignment: they wait for a person)."""
    duration_s: float
    server: str
    """Where the server listened; it stops with the demo (nothing listens there after)."""
    data_dir: str | None
    """The run's data dir when it outlives the run (``--data-dir`` or ``--keep``); None when
    it was a temporary folder, removed at the end. The dispatcher command printed at start-up
    is not repeated here: its server and token end with the run."""
    errors: tuple[str, ...] = ()


class DemoClients(msgspec.Struct, frozen=True):
    camera: CameraRunner
    officer: OfficerRunner
    dispatcher: DispatcherRunner | None = None
    """Opens the dispatcher console in this terminal (``--tui``)."""


def dispatcher_command(url: str, token: str) -> str:
    """The command that opens the console on this demo, working as printed in a new terminal.

    A new terminal has no virtualenv activated, so a bare ``vigil`` is not found there: the
    command names the ``vigil`` script beside this interpreter (``.venv/bin/vigil`` after
    ``make demo``) by its absolute path, or this interpreter with ``-m server.cli``.
    """
    script = Path(sys.executable).with_name("vigil")
    program = ([str(script)] if script.is_file()
               else [sys.executable, "-m", "server.cli"])
    return shlex.join([*program, "dispatch", "--server", url, "--token", token])


def push_latencies(deliveries: list[Delivery]) -> list[float]:
    """Seconds from frame capture to an officer's client, for alerts pushed as new (an
    assignment's delay is the dispatcher's decision time, not the system's)."""
    return [d.received_at - d.captured_at for d in deliveries
            if d.captured_at > 0 and not d.assigned]


def percentile_ms(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of seconds, in milliseconds (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return round(ordered[rank] * 1000, 1)


class _Server(VigilServer):
    """The server without uvicorn's own signal handling (the demo owns Ctrl-C)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def fresh_data_dir(requested: str | None) -> tuple[Path, bool]:
    """The run's data dir and whether this run created it as a temporary folder.

    Raises:
        FileExistsError: the requested folder exists and is not empty (a demo needs a fresh
            one: it must never mix with real data).
    """
    if requested is None:
        return Path(tempfile.mkdtemp(prefix="vigil-demo-")), True
    path = Path(requested)
    if path.exists() and any(path.iterdir()):
        raise FileExistsError(f"{path} is not empty; the demo needs a fresh data dir")
    path.mkdir(parents=True, exist_ok=True)
    return path, False


async def _wait_for(check: Callable[[], Awaitable[bool]], limit_s: float, what: str) -> None:
    deadline = time.monotonic() + limit_s
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def run_demo(
    options: DemoOptions, clients: DemoClients, *, stop: asyncio.Event,
    say: Callable[[str], None],
) -> DemoSummary:
    """Run the whole demo; returns its summary (see the module docstring).

    Args:
        options: data dir, duration, port, frame rate.
        clients: the camera, officer (and optionally dispatcher) client runners.
        stop: set it (Ctrl-C) to end the run early, cleanly.
        say: progress lines for the person watching (stderr).

    Raises:
        FileExistsError: the requested data dir is not empty.
        ProvisionError: the server refused part of the set-up.
    """
    data_dir, temporary = fresh_data_dir(options.data_dir)
    handler = logging.FileHandler(data_dir / "demo.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        summary = await _run(options, clients, stop, say, data_dir)
        if temporary and not options.keep:
            summary = msgspec.structs.replace(summary, data_dir=None)
        return summary
    finally:
        root.removeHandler(handler)
        handler.close()
        if temporary and not options.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


async def _run(options: DemoOptions, clients: DemoClients, stop: asyncio.Event,
               say: Callable[[str], None], data_dir: Path) -> DemoSummary:
    from server.app import create_app, websocket_transport

    started = time.monotonic()
    settings = load_settings(env={}, data_dir=str(data_dir), engine=options.engine,
                             model_root=os.environ.get("VIGIL_MODEL_ROOT"), host="127.0.0.1",
                             port=options.port, workers=options.workers, log_level="INFO")
    say("loading the face engine and building the demo scenes ...")
    engine = await asyncio.to_thread(create_engine, settings)
    say(f"demo runs {describe(engine, settings)}")
    scene_dir = data_dir / "demo"
    scenes: SceneSet = await asyncio.to_thread(
        build_scenes, scene_dir, engine, cameras=[p.key for p in PLACES],
        scenes_per_camera=options.scenes_per_camera)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", options.port))
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    app = create_app(settings, engine=engine)
    _log_to_file_only()
    server = _Server(uvicorn.Config(app, log_level="warning", lifespan="on",
                                    **websocket_transport(settings)), app)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    tasks: list[asyncio.Task[Any]] = []
    client_stop = asyncio.Event()
    deliveries: list[Delivery] = []
    reports: list[CameraReport] = []
    errors: list[str] = []
    try:
        async def up() -> bool:
            if serving.done():
                serving.result()  # raises the start-up failure
            return bool(server.started)

        await _wait_for(up, 60, "the server to start")
        _log_to_file_only()
        async with httpx.AsyncClient(base_url=url, timeout=30, trust_env=False) as client:
            admin = await bootstrap_admin(app.state.runtime)
            setup = await provision(client, admin, scenes, scene_dir,
                                    duration_s=options.duration_s)
            for i, seat in enumerate(OFFICERS):
                job = OfficerJob(server=url, token=setup.tokens.officers[seat.call_sign],
                                 call_sign=seat.call_sign, walk=(seat.lat, seat.lon),
                                 radius_m=seat.radius_m, seed=i + 1)
                tasks.append(asyncio.create_task(
                    clients.officer(job, deliveries.append, client_stop)))

            async def officers_on_patrol() -> bool:
                listed = _ok(await client.get("/api/officers",
                                              headers={"Authorization": f"Bearer {admin}"}))
                return sum(1 for o in listed if o.get("lat") is not None) >= len(OFFICERS)

            await _wait_for(officers_on_patrol, 30, "the officers to connect")
            camera_tasks = [asyncio.create_task(clients.camera(CameraJob(
                server=url, token=setup.tokens.cameras[place.camera_id],
                camera_id=place.camera_id, folder=str(scene_dir / "scenes" / place.key),
                fps=options.fps), client_stop)) for place in PLACES]
            command = dispatcher_command(url, setup.tokens.dispatcher)
            _announce(say, url, data_dir, scenes, command, options)
            say(await phone_pairing_line(client, admin, setup.tokens.dispatcher))
            await _until_done(options, clients, stop, url, setup, say, deliveries, client)
            client_stop.set()
            say("stopping: cameras first, then officers once the last alerts arrived ...")
            for report in await asyncio.gather(*camera_tasks, return_exceptions=True):
                if isinstance(report, CameraReport):
                    reports.append(report)
                    if report.error:
                        errors.append(report.error)
                else:
                    errors.append(f"camera: {report!r}")
            await _settle(client, setup, deliveries)
            stats = await _stats(client, setup)
    finally:
        client_stop.set()
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, BaseException):
                errors.append(f"officer: {result!r}")
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(serving, 30)
        sock.close()
    latencies = push_latencies(deliveries)
    return DemoSummary(
        frames=sum(r.frames_sent for r in reports),
        frames_processed=int(stats.get("frames_processed", 0)),
        faces_processed=int(stats.get("faces_processed", 0)),
        alerts_raised=int(stats.get("alerts", 0)),
        alerts_delivered=len({d.alert_id for d in deliveries}),
        deliveries=len(deliveries),
        latency_ms_p50=percentile_ms(latencies, 50),
        latency_ms_p99=percentile_ms(latencies, 99),
        duration_s=round(time.monotonic() - started, 1),
        server=url, data_dir=str(data_dir),
        errors=tuple(errors),
    )


def _log_to_file_only() -> None:
    """Keep the person's terminal for the demo's own lines: the web framework configures a
    console handler at start-up; in the demo every log line goes to the data dir's log."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if not isinstance(handler, logging.FileHandler):
            root.removeHandler(handler)
    for name in ("litestar", "uvicorn", "uvicorn.error", "uvicorn.access"):
        for handler in list(logging.getLogger(name).handlers):
            logging.getLogger(name).removeHandler(handler)
        logging.getLogger(name).propagate = True
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _ok(response: httpx.Response) -> Any:
    response.raise_for_status()
    return response.json()


async def _stats(client: httpx.AsyncClient, setup: Provisioned) -> dict[str, Any]:
    stats: dict[str, Any] = _ok(await client.get(
        f"/api/deployments/{setup.deployment_id}/stats",
        headers={"Authorization": f"Bearer {setup.tokens.authoriser}"}))
    return stats


async def _settle(client: httpx.AsyncClient, setup: Provisioned,
                  deliveries: list[Delivery]) -> None:
    """Give alerts raised by the last frames a few seconds to reach the officers."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        raised = int((await _stats(client, setup)).get("alerts", 0))
        if len({d.alert_id for d in deliveries}) >= raised:
            return
        await asyncio.sleep(0.2)


async def _until_done(options: DemoOptions, clients: DemoClients, stop: asyncio.Event,
                      url: str, setup: Provisioned, say: Callable[[str], None],
                      deliveries: list[Delivery], client: httpx.AsyncClient) -> None:
    """Wait for the end of the run: duration, Ctrl-C, or the console closing."""
    console = (asyncio.create_task(clients.dispatcher(url, setup.tokens.dispatcher))
               if clients.dispatcher is not None else None)
    deadline = (time.monotonic() + options.duration_s) if options.duration_s else None
    last_report = time.monotonic()
    try:
        while not stop.is_set():
            if console is not None and console.done():
                return
            if deadline is not None and time.monotonic() >= deadline:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            if console is None and time.monotonic() - last_report >= 10:
                last_report = time.monotonic()
                stats = await _stats(client, setup)
                say(f"faces processed {stats.get('faces_processed', 0)}, alerts raised "
                    f"{stats.get('alerts', 0)}, delivered to officers "
                    f"{len({d.alert_id for d in deliveries})}")
    finally:
        if console is not None and not console.done():
            console.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await console


def _announce(say: Callable[[str], None], url: str, data_dir: Path, scenes: SceneSet,
              command: str, options: DemoOptions) -> None:
    say("Vigil demo running. A possible match is a lead for a human to check, never a verdict.")
    say(f"  server     {url}  (OpenAPI schema at {url}/schema)")
    say(f"  data dir   {data_dir}")
    for place in PLACES:
        say(f"  camera     {place.name} ({place.lat:.5f}, {place.lon:.5f})")
    say("  officers   " + ", ".join(s.call_sign for s in OFFICERS) + " patrolling nearby")
    for subject in scenes.subjects:
        say(f"  watchlist  {subject.display_name} ({subject.category}, fictional demo entry): "
            f"enrolled from {subject.image_source}; cameras see {subject.probe_source}")
    if any(s.image_source.startswith(ORL) for s in scenes.subjects):
        say(f"  photos     {ORL_CREDIT}: anonymous research volunteers, no real case")
    if options.duration_s:
        say(f"running headless for {options.duration_s:.0f} s ...")
    else:
        say("Open the dispatcher console in another terminal with (works as printed):")
        say(f"  {command}")
        say("Ctrl-C stops the demo and prints a summary.")
