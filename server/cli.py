"""The ``vigil`` command line: one sub-command per module, imported lazily.

Each command module defines ``configure(parser)`` (arguments only, cheap imports) and
``run(args) -> int`` (imports what it needs). So ``vigil dispatch --help`` never loads the
server's web framework or the inference runtime.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Protocol, cast

# numpy's BLAS on one thread, set before any command imports numpy (the count is fixed when it
# loads; worker processes inherit it). A watchlist is searched by one matrix-vector product per
# face, too small to split: with a thread per core, on 2 cores already busy with inference, the
# threads mostly wait for each other. 8,000 x 512 at load ~3: p99 8.0 ms default, 0.8 ms on one
# thread (medians 0.28 and 0.42 ms). The index's exact-vs-binary crossover was measured on one
# thread too.
# An operator's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("server.commands.serve", "run the Vigil server"),
    "token": ("server.commands.token", "create and list access tokens"),
    "models": ("server.commands.models", "install and list model packs"),
    "eval": ("server.commands.eval", "measure recognition accuracy on labelled photos"),
    "audit": ("server.commands.audit", "verify and export the hash-chained audit log"),
    "stats": ("server.commands.stats", "statistics and transparency record of a deployment"),
    "deployments": ("server.commands.deployments", "list deployments (ids for vigil stats)"),
    "dispatch": ("tui.commands.dispatch", "open the dispatcher console"),
    "camera": ("tui.commands.camera", "stream a video, folder, webcam or URL as a camera"),
    "officer": ("tui.commands.officer", "terminal client for a field officer"),
    "demo": ("server.commands.demo", "run a self-contained end-to-end demo"),
}


class CommandModule(Protocol):
    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _load(module: str) -> CommandModule:
    return cast(CommandModule, importlib.import_module(module))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vigil",
        description="Vigil: live facial recognition alerting. An alert is a lead for a human "
        "to check, never a verdict.",
    )
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        mod = _load(module)
        sub = subs.add_parser(name, help=help_text, description=help_text)
        mod.configure(sub)
        sub.set_defaults(_module=mod)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    module = cast(CommandModule, args._module)
    try:
        return module.run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`vigil models list | head`): stop quietly, as a shell tool
        # does, and keep Python's exit-time flush from raising the same error again.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
