"""``vigil demo``: a self-contained end-to-end demo (server, watchlist, cameras, officers).

The one place the server package hands over to the terminal clients (the camera streamer,
the officer client and, with ``--tui``, the dispatcher console): import-linter allows exactly
this module to import ``tui``, lazily, inside :func:`run`.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the runtime imports are lazy, inside run()
    from server.demo.orchestrate import (
        CameraJob,
        CameraReport,
        Delivery,
        DispatcherRunner,
        OfficerJob,
    )


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=None,
                        help="fresh (empty) folder for this run; default: a temporary folder "
                        "removed at the end")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary data dir (database, probe crops, scenes, log)")
    parser.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                        help="run headless this long, then print a summary (non-zero exit if "
                        "no alert reached an officer)")
    parser.add_argument("--json", action="store_true",
                        help="print the summary as one JSON object on stdout")
    parser.add_argument("--tui", action="store_true",
                        help="open the dispatcher console in this terminal")
    parser.add_argument("--port", type=int, default=0,
                        help="server port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--fps", type=float, default=2.0,
                        help="frame rate cap per camera (default 2)")
    parser.add_argument("--engine", choices=("auto", "dlib", "onnx"), default="auto",
                        help="face engine (default auto: the best installed model pack, "
                        "else dlib)")


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_main(args))


async def _main(args: argparse.Namespace) -> int:
    import contextlib
    import signal
    import sys

    import msgspec

    from server.demo.orchestrate import DemoClients, DemoOptions, run_demo
    from server.demo.provision import ProvisionError
    from server.demo.scene_set import DemoPhotosMissing

    def say(line: str) -> None:
        if not args.tui:
            print(line, file=sys.stderr, flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def first_interrupt() -> None:
        # The first Ctrl-C stops cleanly; a second one interrupts at once.
        stop.set()
        loop.remove_signal_handler(signal.SIGINT)

    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, first_interrupt)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    options = DemoOptions(data_dir=args.data_dir, keep=args.keep, duration_s=args.duration,
                          port=args.port, fps=args.fps, engine=args.engine)
    clients = DemoClients(camera=_camera, officer=_officer,
                          dispatcher=_dispatcher() if args.tui else None)
    try:
        summary = await run_demo(options, clients, stop=stop, say=say)
    except (FileExistsError, ProvisionError, DemoPhotosMissing, TimeoutError, OSError) as exc:
        print(f"vigil demo: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(msgspec.json.encode(summary).decode(), flush=True)
    else:
        p50 = "-" if summary.latency_ms_p50 is None else f"{summary.latency_ms_p50:.0f} ms"
        p99 = "-" if summary.latency_ms_p99 is None else f"{summary.latency_ms_p99:.0f} ms"
        print(f"demo summary ({summary.duration_s:.0f} s): {summary.frames} frames sent, "
              f"{summary.faces_processed} faces processed, {summary.alerts_raised} alerts "
              f"raised, {summary.alerts_delivered} delivered to officers "
              f"({summary.deliveries} deliveries); capture -> officer latency median {p50}, "
              f"p99 {p99}", file=sys.stderr)
        print("  the server has stopped; " + (
            f"data dir kept at {summary.data_dir}" if summary.data_dir
            else "its temporary data dir was removed (--keep keeps it)"), file=sys.stderr)
        for error in summary.errors:
            print(f"  problem: {error}", file=sys.stderr)
    if args.duration is not None and summary.alerts_delivered == 0:
        return 1
    return 0


async def _camera(job: CameraJob, stop: asyncio.Event) -> CameraReport:
    from server.demo.orchestrate import CameraReport
    from tui.camera import CameraOptions, stream_camera

    summary = await stream_camera(CameraOptions(
        server=job.server, token=job.token, camera_id=job.camera_id, source=job.folder,
        fps=job.fps, loop=True, drop_when_behind=False, max_in_flight=1, queue_size=1,
    ), stop=stop)
    return CameraReport(frames_sent=summary.frames_sent,
                        frames_processed=summary.frames_processed,
                        faces=summary.faces_seen, error=summary.error)


async def _officer(job: OfficerJob, record: Callable[[Delivery], None],
                   stop: asyncio.Event) -> None:
    from server.demo.orchestrate import Delivery
    from shared.protocol.alerts import AlertView
    from shared.protocol.common import CommandResult
    from shared.protocol.officer import AlertAssigned, AlertRaised, OfficerOut
    from tui.connection import ConnectionStatus
    from tui.officer import OfficerOptions, run_officer

    class Recorder:
        """Counts first deliveries of each alert to this officer."""

        def message(self, message: OfficerOut, alert: AlertView | None,
                    received_at: float) -> None:
            if isinstance(message, AlertRaised | AlertAssigned) and alert is not None:
                record(Delivery(call_sign=job.call_sign, alert_id=alert.id,
                                received_at=received_at,
                                captured_at=alert.times.captured or alert.first_seen,
                                assigned=isinstance(message, AlertAssigned)))

        def status(self, status: ConnectionStatus) -> None:
            pass

        def result(self, action: str, alert_id: str, result: CommandResult) -> None:
            pass

    await run_officer(OfficerOptions(
        server=job.server, token=job.token, walk=job.walk, walk_radius_m=job.radius_m,
        position_interval_s=5.0, seed=job.seed, auto_accept=True,
        # Demo subjects are who the watchlist says (another photo of the same person), so a
        # simulated officer who reaches them confirms the match.
        auto_resolve="confirmed_match", resolve_delay_s=15.0,
    ), Recorder(), stop=stop)


def _dispatcher() -> DispatcherRunner:
    async def open_console(server: str, token: str) -> None:
        from shared.protocol.codec import dispatch_out
        from tui.connection import ResumableConnection
        from tui.dispatch.app import DispatchApp
        from tui.dispatch.config import ConsoleSettings

        settings = ConsoleSettings(server=server, token=token)
        app = DispatchApp(settings, connect=lambda: ResumableConnection(
            server, token, "/ws/dispatch", dispatch_out, client="vigil-dispatch/0.1"))
        await app.run_async()

    return open_console
