"""The demo: its scenes, and ``vigil demo --duration N --json`` end to end.

The end-to-end run starts the real server (dlib engine, SQLite), enrols the watchlist over
REST, streams the scenes with the real camera streamer and patrols with three real officer
clients. The scene builder puts a watchlist subject in each camera's first scenes, so an
alert comes within the first few frames and a short run suffices.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from server.demo.orchestrate import (
    Delivery,
    dispatcher_command,
    fresh_data_dir,
    percentile_ms,
    push_latencies,
)
from server.demo.scene_set import DATASETS, ORL, DemoPhotosMissing, build_scenes
from server.recognition.image_io import read_image_file

needs_orl = pytest.mark.skipif(
    not (DATASETS / ORL).is_dir(),
    reason=f"the demo's photos, the ORL face database, are not at {DATASETS / ORL}",
)

REQUIRED = ("frames", "faces_processed", "alerts_raised", "alerts_delivered",
            "latency_ms_p50", "latency_ms_p99")


def test_fresh_data_dir_refuses_a_used_folder(tmp_path: Path) -> None:
    used = tmp_path / "used"
    used.mkdir()
    (used / "vigil.db").write_bytes(b"")
    with pytest.raises(FileExistsError):
        fresh_data_dir(str(used))
    path, temporary = fresh_data_dir(str(tmp_path / "new"))
    assert path.is_dir()
    assert not temporary


def test_percentile_ms() -> None:
    assert percentile_ms([], 50) is None
    assert percentile_ms([0.5, 1.0, 2.0], 50) == 1000.0
    assert percentile_ms([0.5, 1.0, 2.0], 99) == 2000.0


def test_latency_counts_pushed_alerts_not_a_dispatchers_assignment() -> None:
    pushed = Delivery(call_sign="PC 1", alert_id="a", received_at=10.5, captured_at=10.0)
    assigned = Delivery(call_sign="PC 2", alert_id="a", received_at=50.0, captured_at=10.0,
                        assigned=True)
    assert push_latencies([pushed, assigned]) == [0.5]


def test_dispatcher_command_works_without_an_activated_virtualenv() -> None:
    words = shlex.split(dispatcher_command("http://127.0.0.1:8123", "vgl_a b"))
    program = Path(words[0])
    assert program.is_absolute(), "a bare `vigil` is not found in a new terminal"
    assert program.is_file()
    assert os.access(program, os.X_OK)
    assert words[-5:] == ["dispatch", "--server", "http://127.0.0.1:8123", "--token", "vgl_a b"]


def _best_similarity(engine: Any, image: np.ndarray, template: np.ndarray) -> list[float]:
    faces = engine.detect(image)
    vectors = engine.embed(image, faces)
    return sorted((float(v @ template) for v in vectors), reverse=True)


@needs_orl
def test_scenes_show_subjects_in_other_photos_among_passers_by(
    tmp_path: Path, dlib_engine: Any
) -> None:
    scenes = build_scenes(tmp_path, dlib_engine, scenes_per_camera=3, subject_every=2)
    assert scenes.subjects
    assert json.loads((tmp_path / "scenes.json").read_bytes())["size"] == [960, 540]
    for subject in scenes.subjects:
        assert (tmp_path / subject.enrol_photo).is_file()
        # Cameras never see the enrolment photo itself.
        assert subject.probe_source != subject.image_source
        # Demo entries are labelled as such and never show a real, named person as sought.
        assert subject.display_name.startswith("Demo subject")
        assert "DEMO ONLY" in subject.reason
        assert subject.image_source.startswith("orl_faces/")
        assert subject.probe_source.startswith("orl_faces/")
    # Every face in the scenes, passers-by too, is an anonymous ORL volunteer.
    assert scenes.crowd_sources
    assert all(source.startswith("orl_faces/") for source in scenes.crowd_sources)
    first = scenes.cameras["a"][0]
    assert first.subjects, "camera a shows a subject in its first scene"
    assert first.passers_by >= 3
    assert any(not s.subjects for s in scenes.cameras["a"]), "some scenes are crowd only"
    # The subject in the scene is recognisable against the reference photo, and stands out
    # from the passers-by.
    subject = next(s for s in scenes.subjects if s.key == first.subjects[0])
    reference = read_image_file(str(tmp_path / subject.enrol_photo))
    ref_faces = dlib_engine.detect(reference)
    template = dlib_engine.embed(reference, ref_faces[:1])[0]
    image = cv2.imread(str(tmp_path / first.file))
    sims = _best_similarity(dlib_engine, np.ascontiguousarray(image), template)
    assert len(sims) >= first.passers_by
    assert sims[0] - sims[1] > 0.02


def test_without_the_orl_photos_the_demo_says_what_it_needs(
    tmp_path: Path, dlib_engine: Any
) -> None:
    with pytest.raises(DemoPhotosMissing, match="ORL face database"):
        build_scenes(tmp_path / "out", dlib_engine, datasets=tmp_path / "no-datasets")


@needs_orl
@pytest.mark.slow
async def test_demo_headless_raises_and_delivers_alerts(tmp_path: Path) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    data_dir = tmp_path / "demo-data"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server.cli", "demo", "--duration", "20", "--json",
        "--data-dir", str(data_dir),
        cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 240)
    assert proc.returncode == 0, err.decode()[-3000:]
    summary = json.loads(out)
    for key in REQUIRED:
        assert key in summary
    assert summary["frames"] > 0
    assert summary["faces_processed"] > 0
    assert summary["alerts_raised"] >= 1
    assert summary["alerts_delivered"] >= 1
    assert summary["latency_ms_p50"] is not None
    assert summary["errors"] == []
    assert summary["data_dir"] == str(data_dir)
    assert (data_dir / "vigil.db").is_file()
    assert list(cwd.iterdir()) == [], "the demo wrote outside its data dir"
    # The officer app's pairing link for a phone (tests/officer_app pairs a browser with it).
    assert re.search(r"officer app http://127\.0\.0\.1:\d+/officer/#pair=\w{4}-\w{4}-\w{4} ",
                     err.decode())


async def _read_until(stream: asyncio.StreamReader, marker: str, seen: list[str]) -> None:
    while True:
        line = (await stream.readline()).decode()
        if not line:
            raise AssertionError("the demo ended before printing " + repr(marker))
        seen.append(line)
        if marker in line:
            return


@needs_orl
@pytest.mark.slow
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
async def test_ctrl_c_stops_the_demo_with_a_summary_that_points_at_nothing_gone(
    tmp_path: Path, as_json: bool
) -> None:
    """``make demo`` then Ctrl-C: a summary, exit 0, and no pointer to what the run removed
    (its temporary data dir, its server's dispatcher command)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server.cli", "demo", *(["--json"] if as_json else []),
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert proc.stderr is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(240):
            await _read_until(proc.stderr, "Ctrl-C stops the demo", seen)
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    stderr = "".join(seen) + err.decode()
    assert proc.returncode == 0, stderr[-3000:]
    # It says which engine runs (the best installed model pack, else dlib; README).
    assert any(line.startswith("demo runs engine ") for line in seen), seen
    data_dir = next(line.split()[-1] for line in seen if line.startswith("  data dir"))
    assert data_dir.startswith(str(tmp_path))
    assert not await asyncio.to_thread(Path(data_dir).exists), "the data dir outlived the run"
    if as_json:
        summary = json.loads(out)
        assert summary["data_dir"] is None
        assert "dispatcher_command" not in summary
        assert summary["frames"] > 0
    else:
        assert "demo summary (" in stderr
        assert "the server has stopped; its temporary data dir was removed" in stderr
