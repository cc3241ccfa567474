"""``vigil serve``: run the server under uvicorn."""

from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="interface to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=None,
                        help="port (8000; 0 picks a free one, printed at start)")
    parser.add_argument("--data-dir", default=None, help="data folder (./data)")
    parser.add_argument("--db-url", default=None,
                        help="SQLAlchemy async URL (default: SQLite under the data dir; "
                        "postgresql+asyncpg://... for PostgreSQL)")
    parser.add_argument("--engine", default=None, choices=["auto", "dlib", "onnx"],
                        help="face engine (auto)")
    parser.add_argument("--model-root", default=None,
                        help="installed model packs folder (default: ~/.local/share/vigil/"
                        "models, then <data-dir>/models)")
    parser.add_argument("--model-pack", default=None,
                        help="installed pack for --engine onnx (default: the best one)")
    parser.add_argument("--embedder-runtime", default=None,
                        choices=["auto", "onnxruntime", "openvino"],
                        help="runtime of the ONNX engine's embedder on the CPU (auto: OpenVINO "
                        "when installed and in agreement with ONNX Runtime)")
    parser.add_argument("--workers", type=int, default=None, help="inference threads (2)")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING (INFO)")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import socket as socketlib

    import uvicorn

    from server.app import create_app, websocket_transport
    from server.recognition.engines import describe
    from server.serving import VigilServer
    from server.settings import load_settings

    settings = load_settings(
        host=args.host, port=args.port, data_dir=args.data_dir, db_url=args.db_url,
        engine=args.engine, model_root=args.model_root, model_pack=args.model_pack,
        embedder_runtime=args.embedder_runtime, workers=args.workers, log_level=args.log_level,
    )
    level = settings.log_level.upper()
    if not isinstance(logging.getLevelName(level), int):
        print(f"vigil serve: unknown log level {settings.log_level!r} "
              "(DEBUG, INFO, WARNING, ERROR)", file=sys.stderr)
        return 2
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app(settings)
    # Litestar's default logging config sets the root logger to INFO when the app is built:
    # apply the chosen level after it (our loggers and alembic's propagate to the root).
    logging.getLogger().setLevel(level)

    class AnnouncingServer(VigilServer):
        """Says which engine it runs and where it listens once started."""

        async def startup(self, sockets: list[socketlib.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            runtime = getattr(self.app.state, "runtime", None)
            if runtime is not None and runtime.engine is not None:
                print(f"vigil {describe(runtime.engine, settings)}", flush=True)
            for server in self.servers:
                for sock in server.sockets:
                    host, port = sock.getsockname()[:2]
                    print(f"vigil listening on http://{host}:{port}", flush=True)

    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
        lifespan="on", **websocket_transport(settings),
    )
    server = AnnouncingServer(config, app)
    asyncio.run(server.serve())
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(run(argparse.Namespace()))
