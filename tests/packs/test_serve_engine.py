"""``vigil serve --data-dir NEW`` runs the pack installed in the shared model root and says so
in its start-up line (issue 12.4)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _startup_lines(env: dict[str, str], data_dir: Path, limit_s: float = 120) -> list[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", "0", "--data-dir",
         str(data_dir), "--workers", "1"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + limit_s
    try:
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.strip())
            if "listening on" in line:
                break
    finally:
        proc.terminate()
        proc.wait(30)
    return lines


def test_serve_on_a_new_data_dir_runs_the_shared_pack(faceplugin_pack: Path,
                                                      tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    shutil.copytree(faceplugin_pack, xdg / "vigil" / "models" / "faceplugin")
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIGIL_ENGINE", "VIGIL_MODEL_ROOT", "VIGIL_MODEL_PACK")}
    env.update(XDG_DATA_HOME=str(xdg), PYTHONPATH=str(ROOT))
    lines = _startup_lines(env, tmp_path / "brand-new")
    engine = [line for line in lines if line.startswith("vigil engine")]
    assert engine, lines
    assert "engine onnx model faceplugin-fr-feature-512" in engine[0]
    assert str(xdg / "vigil" / "models" / "faceplugin") in engine[0]
    assert "best installed model pack" in engine[0]
    assert not (tmp_path / "brand-new" / "models").exists()
