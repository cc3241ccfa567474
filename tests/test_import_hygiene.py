"""``vigil dispatch --help`` must stay light: no web framework, no inference, no server.

Run in a fresh interpreter so that modules other tests imported do not count (harlequin's
tests/unit_tests/test_import_hygiene.py does the same).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import contextlib, io, json, sys
from server.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        main(["dispatch", "--help"])
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "help": out.getvalue(), "modules": sorted(sys.modules)}))
"""

FORBIDDEN_PREFIXES = ("litestar", "onnxruntime", "openvino", "dlib", "uvicorn", "sqlalchemy",
                      "hnswlib", "faiss", "insightface", "cv2")
ALLOWED_SERVER = {"server", "server.cli", "server.commands"}
"""The CLI itself and its command package; each command module's top level is cheap by the
CLI's contract (heavy imports inside ``run``), so ``server.commands.*`` are allowed too."""


def _probe() -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_dispatch_help_loads_no_server_or_inference_modules() -> None:
    result = _probe()
    assert result["code"] == 0
    assert "--token" in str(result["help"])
    modules = [str(m) for m in result["modules"]]  # type: ignore[attr-defined]
    heavy = [m for m in modules if m.split(".")[0] in FORBIDDEN_PREFIXES]
    assert heavy == []
    server = [m for m in modules if m.split(".")[0] == "server"
              and m not in ALLOWED_SERVER and not m.startswith("server.commands.")]
    assert server == []
    # Not even the console itself: help needs no Textual.
    assert not [m for m in modules if m.split(".")[0] in ("textual", "textual_image")]
