"""End-to-end accuracy on live-like scenes through the real server (``vigil eval --scenes``).

The run starts ``vigil serve`` in a subprocess on a fresh data dir (port 0), creates the
accounts in its database, enrols the watchlist over REST (one photo per entry; refused photos
are counted and their people leave the scenes), authorises and starts a deployment with the
server's own default threshold for that watchlist (unless one is given), then streams the
scenes (:mod:`server.evaluation.scenes`) over the camera websocket one frame at a time,
waiting for each frame's result so that none is dropped. Cooldown is 0, so each sighting of
each frame raises or updates its own alert; alerts are then read over REST and matched to
the frame they were captured in (``times.captured``).

Counting (per face = per pasted face of a frame):

- an alert is *true* when the alerted entry's person is one of the faces of its frame, else
  *false*; precision = true / all alerts;
- recall = watchlisted faces with a true alert / watchlisted faces pasted;
- false alerts per 1,000 faces = false alerts / faces pasted x 1,000 (faces pasted, not
  faces detected: a face the detector misses still walked past the camera).

Walking mode (``walk=True``, :func:`server.evaluation.scenes.compose_walks`): a face is a
person-frame, and the same counts are also made per person: a watchlisted walker is found when
one of their frames has a true alert; false alerts are also counted as *episodes* (false alerts
of one entry in frames at most 2 apart are one episode, what an operator with a cooldown
would see) per 1,000 walkers. The server runs with face tracking on or off
(``tracking``: decisions per track or per frame), and the faces it embedded are read from its
log (the stream's closing line), so embeddings per frame can be compared.

Independent frames (the default mode) are run with tracking off: faces of unrelated frames
must not be associated.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import msgspec

from server.evaluation.scenes import (
    Cast,
    Scene,
    SceneOptions,
    cast_for,
    compose_scenes,
    compose_walks,
)

LAT, LON = 51.5154, -0.1416
FRAME_INTERVAL_S = 0.2
"""Capture interval of the simulated camera (5 fps)."""
SERVE_START_S = 300.0


class SweepPoint(msgspec.Struct, frozen=True):
    """Counts of a scenes run recounted at a higher threshold."""

    threshold: float
    alerts: int
    false_alerts: int
    precision: float | None
    recall: float | None
    false_alerts_per_1000_faces: float


class SceneReport(msgspec.Struct, kw_only=True):
    """Figures of one scenes run (``vigil eval --scenes --json`` prints it)."""

    engine: str
    model_id: str
    face_px: int
    frames: int
    faces: int
    watchlisted_faces: int
    watchlist_size: int
    enrol_refused: dict[str, int]
    threshold: float
    alerts: int
    true_alerts: int
    false_alerts: int
    found_watchlisted: int
    precision: float | None
    recall: float | None
    false_alerts_per_1000_faces: float
    faces_processed: int
    """The server's count of faces processed (detected, quality gate included)."""
    seconds: float
    part: str
    dataset: str
    sweep: list[SweepPoint] = []
    """The same counts at higher thresholds (an alert at threshold t' >= t is an alert of
    this run whose similarity reaches t': cooldown is 0, so each sighting is its own alert)."""
    mode: str = "still"
    """``still`` (independent frames) or ``walk`` (people walking across, several frames)."""
    decision: str = "frame"
    """``frame`` (tracking off: each face of each frame decided alone) or ``track``."""
    embedded: int | None = None
    """Faces the server embedded (from its log; None when not found)."""
    embeds_per_frame: float | None = None
    persons: int = 0
    """Walking mode: walkers (each several person-frames)."""
    watchlisted_persons: int = 0
    found_persons: int = 0
    recall_persons: float | None = None
    false_episodes: int = 0
    """Walking mode: false alerts of one entry in frames at most 2 apart count once."""
    false_episodes_per_1000_persons: float = 0.0


def _ok(response: httpx.Response) -> Any:
    if response.status_code >= 300:
        raise RuntimeError(f"{response.request.method} {response.request.url.path}: "
                           f"{response.status_code} {response.text[:300]}")
    return response.json()


def _create_accounts(env: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Tokens and account ids per role, created in the server's database before it starts."""
    from server.auth import create_account
    from server.settings import load_settings
    from server.store.db import Database

    settings = load_settings(env=env)

    async def make() -> tuple[dict[str, str], dict[str, str]]:
        db = Database(settings.database_url)
        tokens: dict[str, str] = {}
        ids: dict[str, str] = {}
        try:
            await db.migrate()
            async with db.sessions() as session, session.begin():
                for role in ("admin", "watchlist_manager", "authoriser", "camera", "auditor",
                             "dispatcher"):
                    account, tokens[role] = await create_account(
                        session, role=role, name=f"eval-{role}", now=time.time())
                    ids[role] = account.id
        finally:
            await db.close()
        return tokens, ids

    return asyncio.run(make())


PASSED_SETTINGS = ("model_pack", "embedder_runtime", "min_face_px", "upsample",
                   "max_frame_pixels", "downscale_frames", "track_max_age_s",
                   "track_max_life_s", "track_max_per_camera", "track_refresh_s",
                   "detect_full_every")
"""Settings of how faces are found and followed that the evaluated server takes from this
process's ``VIGIL_*`` environment (and every ``VIGIL_QUALITY_*``), so that a configuration can
be evaluated. Nothing else passes: above all not where data lives (``VIGIL_DATA_DIR``,
``VIGIL_DB_URL``), since an evaluation must never touch a server's real store."""


def evaluated_env(environ: dict[str, str]) -> dict[str, str]:
    """``environ`` without its ``VIGIL_*`` variables, except :data:`PASSED_SETTINGS` and the
    quality gate's."""
    passed = {f"VIGIL_{name.upper()}" for name in PASSED_SETTINGS}
    return {k: v for k, v in environ.items() if not k.startswith("VIGIL_") or k in passed
            or k.startswith("VIGIL_QUALITY_")}


class _Server:
    """``vigil serve`` in a subprocess on a fresh data dir."""

    def __init__(self, engine: str, model_root: str | None, workers: int,
                 tracking: bool = False) -> None:
        self.data = Path(tempfile.mkdtemp(prefix="vigil-scenes-"))
        self.env = evaluated_env(dict(os.environ))
        # INFO: the stream's closing line says how many faces were embedded.
        self.env.update(VIGIL_DATA_DIR=str(self.data), VIGIL_ENGINE=engine,
                        VIGIL_COOLDOWN_S="0", VIGIL_WORKERS=str(workers),
                        VIGIL_LOG_LEVEL="INFO", VIGIL_MAX_MESSAGES_PER_SECOND="1000",
                        VIGIL_TRACK_FACES=str(tracking).lower())
        if model_root:
            self.env["VIGIL_MODEL_ROOT"] = model_root
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.engine_line = ""

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--port", "0"], env=self.env,
            stdout=subprocess.PIPE, stderr=(self.data / "server.log").open("wb"), text=True)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + SERVE_START_S
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith("vigil engine"):
                self.engine_line = line.strip()
            if "listening on" in line:
                self.url = line.rsplit(" ", 1)[-1].strip()
                return
        log = (self.data / "server.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"vigil serve did not start: {log}")

    def embedded(self, camera_id: str, wait_s: float = 30.0) -> int | None:
        """Faces embedded in the camera's stream, from the server's log line at its end."""
        pattern = re.compile(rf"camera stream ended camera={re.escape(camera_id)} "
                             r"frames=\d+ faces=\d+ embedded=(\d+)")
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            found = pattern.findall((self.data / "server.log").read_text(errors="replace"))
            if found:
                return int(found[-1])
            time.sleep(0.2)
        return None

    def close(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.data, ignore_errors=True)


def _enrol(api: httpx.Client, watchlist_id: str, cast: Cast,
           progress: Callable[[str], None]) -> tuple[dict[str, str], dict[str, int]]:
    entries: dict[str, str] = {}
    refused: dict[str, int] = {}
    for i, (name, photo) in enumerate(sorted(cast.watchlist.items())):
        r = api.post(f"/api/watchlists/{watchlist_id}/entries", data={
            "subject_ref": f"EVAL-{i:05d}", "display_name": name,
            "category": "wanted_serious_crime", "justification": "evaluation subject",
            "legal_basis": "evaluation (synthetic deployment)",
            "image_source": "development dataset", "image_date": "2024-01-01",
            "expires_at": str(time.time() + 86400)},
            files={"photo": ("photo.jpg", photo.read_bytes(), "application/octet-stream")})
        if r.status_code == 422:
            code = str(r.json().get("code", "refused")).split(":")[0]
            refused[code] = refused.get(code, 0) + 1
            cast.skipped[name] = code
            continue
        entries[_ok(r)["id"]] = name
        if i % 50 == 49:
            progress(f"enrolled {i + 1}/{len(cast.watchlist)}")
    for name in cast.skipped:  # refused people are on no watchlist: leave the scenes
        cast.watchlist.pop(name, None)
        cast.appearances.pop(name, None)
    return entries, refused


async def _stream(url: str, token: str, camera_id: str, scenes: list[Scene],
                  progress: Callable[[str], None]) -> list[float]:
    """Send every scene, one at a time; returns each frame's ``captured_at``."""
    import websockets

    from shared.protocol.camera import Frame, FrameResult
    from shared.protocol.codec import camera_out
    from shared.protocol.common import Hello, Welcome

    captured: list[float] = []
    ws_url = url.replace("http://", "ws://") + "/ws/camera"
    async with websockets.connect(ws_url, max_size=None) as ws:
        await ws.send(msgspec.msgpack.encode(Hello(token=token, camera_id=camera_id,
                                                   client="vigil-eval-scenes")))
        welcome = camera_out.decode(await asyncio.wait_for(ws.recv(), 30))  # type: ignore[arg-type]
        if not isinstance(welcome, Welcome):
            raise RuntimeError(f"camera refused: {welcome}")
        start = time.time()
        for i, scene in enumerate(scenes):
            # A camera at 5 fps: capture times 0.2 s apart, however long the server takes
            # (each frame waits for the previous result, so none is dropped).
            at = start + i * FRAME_INTERVAL_S
            captured.append(at)
            await ws.send(msgspec.msgpack.encode(Frame(seq=i + 1, captured_at=at,
                                                       jpeg=scene.jpeg)))
            while True:
                reply = camera_out.decode(await asyncio.wait_for(ws.recv(), 120))  # type: ignore[arg-type]
                if isinstance(reply, FrameResult) and reply.seq == i + 1:
                    if reply.status != "processed":
                        raise RuntimeError(f"frame {i + 1}: {reply.status} {reply.code}")
                    break
            if i % 50 == 49:
                progress(f"streamed {i + 1}/{len(scenes)} frames")
    return captured


def run_scenes(
    dataset: Path, options: SceneOptions, *, engine: str = "auto",
    model_root: str | None = None, threshold: float | None = None, workers: int = 2,
    face_sizes: tuple[int, ...] = (), progress: Callable[[str], None] = lambda _: None,
    walk: bool = False, decisions: tuple[str, ...] = (),
) -> list[SceneReport]:
    """Build the scenes, run them through a real server, count (see module docstring).

    Args:
        dataset: the labelled photo folder.
        options: the scene protocol; ``options.face_px`` unless ``face_sizes`` lists several.
        engine: ``auto``, ``onnx`` or ``dlib`` for the server.
        model_root: model root for the server (default: its own default).
        threshold: deployment threshold (default: the server's default for the watchlist).
        workers: the server's inference workers.
        face_sizes: one camera per face size, each streaming the same cast at that size
            (the watchlist is enrolled once per server).
        progress: one line at a time for the person waiting.
        walk: people walking across the frame for several frames instead of independent
            frames.
        decisions: ``frame`` and/or ``track``: one server each, with face tracking off or
            on (default: ``track`` when walking, else ``frame``).

    Returns:
        One report per decision and face size.

    Raises:
        RuntimeError: the server did not start or refused part of the set-up.
        ValueError: the dataset cannot provide the cast, or a decision is unknown.
    """
    decisions = decisions or (("track",) if walk else ("frame",))
    if not set(decisions) <= {"frame", "track"}:
        raise ValueError(f"decisions are frame and/or track, not {decisions}")
    cast = cast_for(dataset, options)
    reports: list[SceneReport] = []
    for decision in decisions:
        reports += _run_server(dataset, cast, options, engine=engine, model_root=model_root,
                               threshold=threshold, workers=workers,
                               sizes=face_sizes or (options.face_px,), progress=progress,
                               walk=walk, decision=decision)
    return reports


def _run_server(
    dataset: Path, cast: Cast, options: SceneOptions, *, engine: str, model_root: str | None,
    threshold: float | None, workers: int, sizes: tuple[int, ...],
    progress: Callable[[str], None], walk: bool, decision: str,
) -> list[SceneReport]:
    started = time.monotonic()
    server = _Server(engine, model_root, workers, tracking=decision == "track")
    try:
        tokens, ids = _create_accounts(server.env)
        server.start()
        progress(f"{server.engine_line} (decisions per {decision})")
        with _client(server.url, tokens["admin"]) as admin, \
                _client(server.url, tokens["watchlist_manager"]) as wm, \
                _client(server.url, tokens["authoriser"]) as auth, \
                _client(server.url, tokens["auditor"]) as auditor, \
                _client(server.url, tokens["dispatcher"]) as dispatcher:
            health = _ok(admin.get("/api/health"))
            cameras = [_ok(admin.post("/api/cameras", json={
                "id": f"cam-eval-{px}px", "name": f"Evaluation camera {px} px", "lat": LAT,
                "lon": LON, "account_id": ids["camera"]}))["id"] for px in sizes]
            wl = _ok(wm.post("/api/watchlists", json={"name": "scenes"}))
            entries, refused = _enrol(wm, wl["id"], cast, progress)
            now = time.time()
            body: dict[str, Any] = {
                "name": "scenes", "purpose": "locate_serious_crime_suspect",
                "place": "Evaluation", "lat": LAT, "lon": LON, "camera_ids": cameras,
                "watchlist_id": wl["id"], "starts_at": now - 60, "ends_at": now + 86400,
                "notify_radius_m": 500}
            if threshold is not None:
                body["threshold"] = threshold
            dep = _ok(auth.post("/api/deployments", json=body))
            _ok(auth.post(f"/api/deployments/{dep['id']}/authorisation", json={
                "authority_ref": "EVAL-AUTH", "purpose": "locate_serious_crime_suspect"}))
            _ok(auth.post(f"/api/deployments/{dep['id']}/start"))
            reports: list[SceneReport] = []
            for px, camera in zip(sizes, cameras, strict=True):
                sized = SceneOptions(**{**options.__dict__, "face_px": px})
                scenes = compose_walks(cast, sized) if walk else compose_scenes(cast, sized)
                t0 = time.monotonic()
                captured = asyncio.run(_stream(server.url, tokens["camera"], camera, scenes,
                                               progress))
                seconds = time.monotonic() - t0
                embedded = server.embedded(camera)
                alerts = _ok(dispatcher.get("/api/alerts", params={"limit": 1000,
                                                                "camera_id": camera}))
                stats = _ok(auditor.get(f"/api/deployments/{dep['id']}/stats"))
                processed = int(stats.get("faces_processed", 0)) - sum(
                    r.faces_processed for r in reports)
                report = count(
                    scenes, captured, alerts, entries, health=health, options=sized,
                    threshold=float(dep["threshold"]), refused=refused,
                    faces_processed=processed, seconds=seconds, dataset=str(dataset))
                reports.append(msgspec.structs.replace(
                    report, mode="walk" if walk else "still", decision=decision,
                    embedded=embedded,
                    embeds_per_frame=None if embedded is None else round(
                        embedded / max(1, len(scenes)), 3)))
                progress(f"{px} px ({decision}) done in {time.monotonic() - started:.0f} s")
        return reports
    finally:
        server.close()


def _client(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=120, trust_env=False,
                        headers={"Authorization": f"Bearer {token}"})


def count(scenes: list[Scene], captured: list[float], alerts: list[dict[str, Any]],
          entries: dict[str, str], *, health: dict[str, Any], options: SceneOptions,
          threshold: float, refused: dict[str, int], faces_processed: int, seconds: float,
          dataset: str) -> SceneReport:
    """Match alerts to their frames and count (rules in the module docstring)."""
    by_time = {round(at, 6): i for i, at in enumerate(captured)}
    judged: list[tuple[float, int | None, str | None, bool]] = []
    for alert in alerts:
        frame = by_time.get(round(float(alert["times"]["captured"]), 6))
        person = entries.get(alert["entry_id"])
        present = frame is not None and any(f.identity == person
                                            for f in scenes[frame].faces)
        judged.append((float(alert["similarity"]), frame, person, present))
    found = {(frame, person) for _, frame, person, ok in judged if ok}
    true = sum(1 for *_, ok in judged if ok)
    false = len(judged) - true
    faces = sum(len(s.faces) for s in scenes)
    listed = sum(1 for s in scenes for f in s.faces if f.watchlisted)
    walkers = _walkers(scenes, judged)
    return SceneReport(
        engine=str(health.get("engine")), model_id=str(health.get("model_id")),
        face_px=options.face_px, frames=len(scenes), faces=faces, watchlisted_faces=listed,
        watchlist_size=len(entries), enrol_refused=refused, threshold=threshold,
        alerts=len(alerts), true_alerts=true, false_alerts=false,
        found_watchlisted=len(found),
        precision=true / len(alerts) if alerts else None,
        recall=len(found) / listed if listed else None,
        false_alerts_per_1000_faces=1000.0 * false / faces if faces else 0.0,
        faces_processed=faces_processed, seconds=round(seconds, 1), part=options.part,
        dataset=dataset, sweep=_sweep(judged, threshold, faces, listed), **walkers,
    )


def _walkers(scenes: list[Scene], judged: list[tuple[float, int | None, str | None, bool]],
             ) -> dict[str, Any]:
    """Per-person counts of a walking run (nothing when the faces carry no walker)."""
    people: dict[int, tuple[str, bool]] = {f.person: (f.identity, f.watchlisted)
                                           for s in scenes for f in s.faces if f.person >= 0}
    if not people:
        return {}
    listed = {p for p, (_, watch) in people.items() if watch}
    found: set[int] = set()
    for _, frame, name, ok in judged:
        if ok and frame is not None:
            found |= {f.person for f in scenes[frame].faces if f.identity == name} & listed
    false_frames: dict[str | None, list[int]] = {}
    for _, frame, name, ok in judged:
        if not ok:
            false_frames.setdefault(name, []).append(-10 if frame is None else frame)
    episodes = 0
    for frames in false_frames.values():
        frames.sort()
        episodes += 1 + sum(1 for a, b in pairwise(frames) if b - a > 2)
    return {"persons": len(people), "watchlisted_persons": len(listed),
            "found_persons": len(found),
            "recall_persons": len(found) / len(listed) if listed else None,
            "false_episodes": episodes,
            "false_episodes_per_1000_persons": round(1000.0 * episodes / len(people), 3)}


def _sweep(judged: list[tuple[float, int | None, str | None, bool]], threshold: float,
           faces: int, listed: int) -> list[SweepPoint]:
    points = []
    for k in range(0, 31):
        t = round(threshold + 0.01 * k, 4)
        kept = [j for j in judged if j[0] >= t]
        true = sum(1 for *_, ok in kept if ok)
        found = len({(frame, person) for _, frame, person, ok in kept if ok})
        points.append(SweepPoint(
            threshold=t, alerts=len(kept), false_alerts=len(kept) - true,
            precision=round(true / len(kept), 4) if kept else None,
            recall=round(found / listed, 4) if listed else None,
            false_alerts_per_1000_faces=round(1000.0 * (len(kept) - true) / faces, 3)
            if faces else 0.0))
    return points
