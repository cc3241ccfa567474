"""``vigil camera``: stream a video file, image folder, webcam or stream URL as a camera."""

from __future__ import annotations

import argparse

from shared.protocol.base import PROTOCOL_VERSION


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="SOURCE",
                        help="video file, folder of images (name order), webcam index (e.g. 0) "
                        "or stream URL (rtsp://, http://)")
    parser.add_argument("--server", required=True, help="server URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--token", required=True, help="the camera's token (role 'camera')")
    parser.add_argument("--camera-id", required=True, help="registered camera id")
    parser.add_argument("--fps", type=float, default=5.0,
                        help="frames per second cap; 0 = as fast as the server keeps up "
                        "(default 5)")
    parser.add_argument("--resize", metavar="WxH", default=None,
                        help="resize every frame, e.g. 1280x720")
    parser.add_argument("--jpeg-quality", type=int, default=85, help="1-100 (default 85)")
    parser.add_argument("--loop", action="store_true",
                        help="start again at the end (folders and video files)")
    parser.add_argument("--no-drop", action="store_true",
                        help="files and folders: wait for the server instead of dropping "
                        "frames when it falls behind")
    parser.add_argument("--max-frames", type=int, default=0, help="stop after N frames")
    parser.add_argument("--duration", type=float, default=0.0, help="stop after S seconds")
    parser.add_argument("--lat", type=float, default=None, help="position (mobile units)")
    parser.add_argument("--lon", type=float, default=None, help="position (mobile units)")
    parser.add_argument("--quiet", action="store_true", help="no live progress")
    parser.add_argument("--json", action="store_true",
                        help="print a JSON summary on stdout at the end")
    parser.epilog = f"Speaks protocol version {PROTOCOL_VERSION} (docs/protocol.md)."


def run(args: argparse.Namespace) -> int:
    import asyncio

    from tui.camera_cli import main

    return asyncio.run(main(args))
