"""Privacy: loading and running the embedder on OpenVINO contacts nothing and writes nothing.

``import openvino`` on its own sends a usage event to Google Analytics and writes a client id
under ``~/intel`` (its converter's telemetry, on unless a consent file says no);
``server.recognition.openvino_runtime.import_openvino`` keeps that telemetry from loading. A
fresh interpreter with an empty home, every socket connection and name lookup recorded and
refused, loads the real embedder through it, runs it and waits for any background sender.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from server.recognition import openvino_runtime

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, os, socket, sys, threading, time
attempts = []

def refuse(name):
    def call(*args, **kwargs):
        attempts.append(f"{name}{args[1:2] if name == 'connect' else args[:1]}")
        raise OSError("network refused by the test")
    return call

socket.socket.connect = refuse("connect")
socket.socket.connect_ex = refuse("connect")
socket.getaddrinfo = refuse("getaddrinfo")
socket.create_connection = refuse("create_connection")

import numpy as np
from server.recognition.openvino_runtime import OpenVinoEmbedder

embedder = OpenVinoEmbedder(sys.argv[1], 1)
out = embedder.run(np.zeros((2, 3, 112, 112), dtype=np.float32))
time.sleep(2.0)  # a telemetry sender would run in a background thread
telemetry = sys.modules.get("openvino_telemetry")
print(json.dumps({
    "shape": list(out.shape),
    "attempts": attempts,
    "telemetry_loaded": telemetry is not None,
    "threads": sorted(t.name for t in threading.enumerate()),
}))
"""


@pytest.mark.skipif(openvino_runtime.import_openvino() is None,
                    reason="OpenVINO is not installed (pip install openvino)")
def test_openvino_sends_nothing_and_writes_nothing(faceplugin_pack: Path,
                                                   tmp_path: Path) -> None:
    from server.recognition.packs.manifest import read_manifest

    graph = faceplugin_pack / read_manifest(faceplugin_pack).embedder.file
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("CI", "TF_BUILD", "JENKINS_URL")}  # telemetry stays off in CI anyway
    env.update(HOME=str(home), PYTHONPATH=str(ROOT), XDG_DATA_HOME=str(home / "share"),
               XDG_CONFIG_HOME=str(home / "config"), XDG_CACHE_HOME=str(home / "cache"))
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(graph)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["shape"] == [2, 512]
    assert result["attempts"] == []
    assert not result["telemetry_loaded"]
    assert [p for p in home.rglob("*")] == []  # no client id, consent file or cache
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]
