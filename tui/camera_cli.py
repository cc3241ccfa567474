"""The terminal side of ``vigil camera``: options from arguments, live progress, summary."""

from __future__ import annotations

import argparse
import asyncio
import sys

import msgspec
from rich.console import Console
from rich.live import Live
from rich.table import Table

from tui.camera import CameraOptions, CameraStats, CameraSummary, stream_camera
from tui.camera_stats import percentile
from tui.frame_source import parse_size
from tui.signals import stop_on_signals


def options_from_args(args: argparse.Namespace) -> CameraOptions:
    """Build validated streaming options from ``vigil camera`` arguments.

    Raises:
        ValueError: a bad ``--resize``, ``--jpeg-quality`` or ``--fps``.
    """
    if not 1 <= args.jpeg_quality <= 100:
        raise ValueError("--jpeg-quality must be between 1 and 100")
    if args.fps < 0:
        raise ValueError("--fps must not be negative")
    if (args.lat is None) != (args.lon is None):
        raise ValueError("--lat and --lon go together")
    return CameraOptions(
        server=args.server,
        token=args.token,
        camera_id=args.camera_id,
        source=args.source,
        fps=args.fps,
        resize=parse_size(args.resize) if args.resize else None,
        jpeg_quality=args.jpeg_quality,
        loop=args.loop,
        drop_when_behind=not args.no_drop,
        max_frames=args.max_frames,
        duration_s=args.duration,
        lat=args.lat,
        lon=args.lon,
    )


def progress_table(camera_id: str, stats: CameraStats) -> Table:
    """The live progress panel: one row of counters."""
    table = Table(title=f"camera {camera_id}", title_justify="left", expand=False)
    for name in ("link", "read", "sent", "acked", "dropped", "srv drop", "no dep.", "faces",
                 "latency"):
        table.add_column(name, justify="right")
    median = percentile(stats.round_trip_ms, 50)
    link = "up" if stats.connected else ("retrying" if stats.reconnects else "-")
    table.add_row(
        link, str(stats.frames_read), str(stats.frames_sent), str(stats.frames_acknowledged),
        str(stats.dropped_local), str(stats.dropped_server), str(stats.no_active_deployment),
        str(stats.faces_seen), "-" if median is None else f"{median:.0f} ms",
    )
    table.caption = ("dropped: by this streamer's queue; srv drop: by the server's "
                     "latest-frame slot; latency: median send -> result")
    return table


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def summary_lines(summary: CameraSummary) -> list[str]:
    p50 = "-" if summary.latency_ms_p50 is None else f"{summary.latency_ms_p50:.0f} ms"
    p99 = "-" if summary.latency_ms_p99 is None else f"{summary.latency_ms_p99:.0f} ms"
    lines = [
        f"camera {summary.camera_id}: {summary.frames_sent} frames sent, "
        f"{summary.frames_acknowledged} acknowledged, {summary.frames_processed} processed, "
        f"{summary.faces_seen} faces seen",
        f"dropped: {summary.dropped_local} here, {summary.dropped_server} by the server; "
        f"no active deployment: {summary.no_active_deployment}; refused: {summary.refused}",
        f"latency (send -> result): median {p50}, p99 {p99}; reconnects: {summary.reconnects}",
        f"capture -> send (encoding and this streamer's queue): median "
        f"{_ms(summary.capture_to_send_ms_p50)}, p99 {_ms(summary.capture_to_send_ms_p99)}",
    ]
    if summary.error:
        lines.append(f"stopped: {summary.error}")
    return lines


async def main(args: argparse.Namespace) -> int:
    """Run ``vigil camera``; exit status 0 when the source was streamed, 1 on a refusal."""
    err = Console(stderr=True)
    try:
        options = options_from_args(args)
    except ValueError as exc:
        err.print(f"vigil camera: {exc}")
        return 2
    stop = stop_on_signals()
    stats = CameraStats()
    show_live = not args.quiet and err.is_terminal
    task = asyncio.create_task(stream_camera(options, stop=stop, stats=stats))
    if show_live:
        with Live(progress_table(options.camera_id, stats), console=err,
                  refresh_per_second=4, transient=True) as live:
            while not task.done():
                await asyncio.wait({task}, timeout=0.25)
                live.update(progress_table(options.camera_id, stats))
    summary = await task
    if args.json:
        sys.stdout.write(msgspec.json.encode(summary).decode() + "\n")
    elif not args.quiet:
        for line in summary_lines(summary):
            err.print(line, highlight=False)
    return 1 if summary.error else 0
