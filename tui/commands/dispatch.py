"""``vigil dispatch``: open the dispatcher console (a Textual app) against a server."""

from __future__ import annotations

import argparse
import os


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server", default=os.environ.get("VIGIL_SERVER", "http://127.0.0.1:8000"),
        help="server URL (default $VIGIL_SERVER or http://127.0.0.1:8000)",
    )
    parser.add_argument(
        "--token", default=os.environ.get("VIGIL_TOKEN"),
        help="dispatcher token (role 'dispatcher'; default $VIGIL_TOKEN)",
    )
    parser.add_argument("--theme", choices=("dark", "light"), default="dark",
                        help="colour theme (toggle with 't' in the console)")
    parser.add_argument("--no-bell", action="store_true",
                        help="start with the new-alert bell off (toggle with 'b')")
    parser.add_argument(
        "--images", choices=("auto", "halfcell", "unicode", "none"), default="auto",
        help="how photos are drawn: auto = Kitty/Sixel graphics where supported, else "
        "coloured half blocks",
    )


def run(args: argparse.Namespace) -> int:
    if not args.token:
        print("vigil dispatch: a dispatcher token is required (--token or $VIGIL_TOKEN)")
        return 2
    # textual-image asks the terminal what it can draw; it must do so before Textual takes
    # the terminal over, so it is imported here, first.
    if args.images != "none":
        import textual_image.widget  # noqa: F401

    from shared.protocol.codec import dispatch_out
    from tui.connection import ResumableConnection
    from tui.dispatch.app import DispatchApp
    from tui.dispatch.config import ConsoleSettings

    settings = ConsoleSettings(server=args.server, token=args.token, theme=args.theme,
                               bell=not args.no_bell, images=args.images)
    app = DispatchApp(
        settings,
        connect=lambda: ResumableConnection(
            settings.server, settings.token, "/ws/dispatch", dispatch_out,
            client="vigil-dispatch/0.1",
        ),
    )
    return app.run() or 0
