"""Privacy invariants 1 and 2: a face that does not match leaves no trace; frames never touch
the disk. 200 frames of people on no watchlist go through the whole pipeline; afterwards only
counters have changed."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from server.recognition.dlib_engine import DlibEngine
from server.recognition.image_io import decode_image
from tests.server.conftest import LiveServer, Photos, build_world, open_ws

pytestmark = pytest.mark.real_engine  # real faces are the point here

FRAMES = 200


def chunks(data: bytes, n: int = 3, size: int = 48) -> list[bytes]:
    """Distinctive slices from the middle of an encoded frame."""
    step = len(data) // (n + 1)
    return [data[step * (i + 1): step * (i + 1) + size] for i in range(n)]


def files_under(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file()}


def all_bytes(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.slow
async def test_non_matching_faces_leave_no_trace(
    live: LiveServer, photos: Photos, engine: DlibEngine, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = await build_world(live, photos, extra_cameras=1)
    data_dir = Path(live.settings.data_dir)
    before = files_under(data_dir)
    officer, _ = await open_ws(live, "/ws/officer", world.tokens["pc1"])
    await officer.send({"type": "position", "lat": 51.5075, "lon": -0.1278})
    dispatcher, _ = await open_ws(live, "/ws/dispatch", world.tokens["dispatcher"])
    await dispatcher.recv_type("snapshot")

    # One face per frame (people from insightface's t1.jpg, on no watchlist).
    frames = [f for f in photos.strangers]
    templates = []
    for data in frames:
        image = decode_image(data, max_bytes=10**7, max_pixels=10**8)
        templates.append(engine.embed(image, engine.detect(image)))
    cams = [await open_ws(live, "/ws/camera", world.tokens["camera"], camera_id=cid)
            for cid in (world.camera_id, "cam-2")]

    caplog.set_level(logging.DEBUG)
    faces_seen = 0

    async def stream(index: int) -> int:
        camera, _ = cams[index]
        faces = 0
        for seq in range(FRAMES // 2):
            data = frames[(seq + index) % len(frames)]
            await camera.send({"type": "frame", "seq": seq, "captured_at": time.time(),
                               "jpeg": data})
            result = await camera.recv_type("frame_result")
            assert result["status"] == "processed", result
            assert result["seq"] == seq
            faces += result["faces"]
        return faces

    faces_seen = sum(await asyncio.gather(stream(0), stream(1)))
    log_text = "\n".join(r.getMessage() for r in caplog.records)
    # Our own log lines (SQL echo legitimately names columns such as alerts.similarity).
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("vigil"))
    caplog.set_level(logging.WARNING)

    # Only counters changed.
    stats = await world.api["dispatcher"].call(
        "GET", f"/api/deployments/{world.deployment_id}/stats")
    assert stats["frames_processed"] == FRAMES
    assert stats["faces_processed"] == faces_seen == FRAMES
    assert stats["alerts"] == 0
    await officer.send({"type": "ping", "ref": 1})
    assert (await officer.recv_type("pong", "alert_raised"))["type"] == "pong"
    for client in (officer, dispatcher, cams[0][0], cams[1][0]):
        await client.close()
    for api in world.api.values():
        await api.close()

    # No new file (no frame, no crop) in the data dir, nor anywhere under the test's tmp.
    after = files_under(data_dir)
    # (the watchlist's index, built from enrolled templates at the first frame, may appear)
    new = {str(p) for p in after - before if p.parts[0] != "indexes"}
    assert new <= {"vigil.db-wal", "vigil.db-shm"}
    assert not (data_dir / "probes").exists()

    db = sqlite3.connect(data_dir / "vigil.db")
    try:
        for table in ("alerts", "outbox", "outbox_bodies", "alert_events", "alert_recipients"):
            assert db.execute(f"select count(*) from {table}").fetchone() == (0,), table
        assert db.execute("select count(*) from templates").fetchone() == (1,)
    finally:
        db.close()

    # Byte-level search of everything on disk (database, WAL, photos) and of the DEBUG log.
    needles = [c for data in frames for c in chunks(data)]
    for vectors in templates:
        for row in vectors:
            needles.append(np.asarray(row, dtype=np.float32)[:8].tobytes())
            needles.append(np.asarray(row, dtype=np.float64)[:8].tobytes())
    for path, content in all_bytes(tmp_path).items():
        for needle in needles:
            assert needle not in content, f"face data found in {path}"
    for vectors in templates:
        for row in vectors:
            assert f"{float(row[0]):.6f}"[:8] not in log_text
    for word in ("similarity", "landmark", "embedding", "box=", "entry="):
        assert word not in ours, word
