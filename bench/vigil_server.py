"""The real Vigil server for the live figures: start it, give it a world, stop it clean.

:class:`BenchServer` creates a throw-away data folder, the accounts (in the store, as
``vigil token create`` does, because 1,010 REST calls would only measure account creation),
then runs :mod:`bench.serve_probe` (``create_app`` under uvicorn on 127.0.0.1, port chosen by
the OS, with the loop-lag probe) and builds the rest over REST like an operator would:
cameras, a watchlist with enrolled subjects, an authorised and started deployment. Everything
is removed at the end, the process included.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.context import Context
from bench.proc import Child
from bench.scenes import FaceCut, datasets_root

LAT, LON = 51.5074, -0.1278
"""Deployment and cameras: one street corner (officers stand within the notify radius)."""


@dataclass
class World:
    """What the server was given: tokens per role and ids."""

    tokens: dict[str, list[str]] = field(default_factory=dict)
    cameras: list[str] = field(default_factory=list)
    camera_tokens: list[str] = field(default_factory=list)
    watchlist_id: str = ""
    entries: dict[str, str] = field(default_factory=dict)
    """Subject identity -> entry id."""
    deployment_id: str = ""


def subject_photos(limit: int) -> dict[str, tuple[str, bytes]]:
    """Enrolment photos, ``person -> (photo stem, bytes)``: the first photo of people of the
    development set who have other photos to appear in (none when the set is absent)."""
    root = datasets_root() / "face_recognition_examples"
    out: dict[str, tuple[str, bytes]] = {}
    if root.is_dir():
        for person in sorted(p for p in root.iterdir() if p.is_dir()):
            photos = sorted(person.iterdir())
            if len(photos) >= 2 and len(out) < limit:
                out[person.name] = (photos[0].stem, photos[0].read_bytes())
    return out


def split_cuts(cuts: list[FaceCut], subjects: dict[str, tuple[str, bytes]],
               ) -> tuple[dict[str, list[FaceCut]], list[FaceCut]]:
    """Scene faces of each subject (never from the enrolled photo itself) and of strangers."""
    mine: dict[str, list[FaceCut]] = {s: [] for s in subjects}
    strangers: list[FaceCut] = []
    for cut in cuts:
        person, _, stem = cut.identity.partition("/")
        if person not in subjects:
            strangers.append(cut)
        elif stem.split("#")[0] != subjects[person][0]:
            mine[person].append(cut)
    return {k: v for k, v in mine.items() if v}, strangers


def model_root() -> Path | None:
    """The first model root of this checkout's settings holding a usable ONNX pack."""
    from server.recognition.packs.registry import list_packs
    from server.settings import load_settings

    for root in load_settings().model_paths:
        if root.is_dir() and any(p.manifest is not None for p in list_packs(root)):
            return root
    return None


def onnx_available() -> str | None:
    """``None`` when an ONNX model pack is installed, else why the ONNX engine cannot run."""
    if model_root() is None:
        return ("no ONNX model pack installed (`make install` or `vigil models install`); "
                "the dlib engine runs instead")
    return None


def bench_engine(name: str) -> Any:
    """The engine ``name`` (``dlib`` or ``onnx``) as the server would build it."""
    if name == "dlib":
        from server.recognition.dlib_engine import DlibEngine

        return DlibEngine(upsample=1)
    from server.recognition.engines import create_engine
    from server.settings import load_settings

    return create_engine(load_settings(engine="onnx", model_root=str(model_root())))


def matching_cuts(mine: dict[str, list[FaceCut]], subjects: dict[str, tuple[str, bytes]],
                  engine_name: str = "dlib") -> dict[str, list[FaceCut]]:
    """Keep the scene faces that the engine matches to their subject's enrolment photo at
    its calibrated default threshold (with a 0.01 margin).

    The live figures measure latency, not accuracy, so every subject appearance must be a
    real match; which photos match is the evaluation's business (``vigil eval``).
    """
    import cv2

    from server.recognition.image_io import decode_image

    engine = bench_engine(engine_name)
    threshold = default_threshold(engine.model_id)

    def template(image: Any) -> Any:
        scale = min(1.0, 600 / max(image.shape[:2]))
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        faces = engine.detect(small)
        if not faces:
            return None
        face = max(faces, key=lambda f: f.width * f.height)
        return engine.embed(small, [face])[0]

    out: dict[str, list[FaceCut]] = {}
    for name, cuts in mine.items():
        ref = template(decode_image(subjects[name][1], max_bytes=1 << 28, max_pixels=1 << 28))
        if ref is None:
            continue
        keep = [c for c in cuts
                if (v := template(c.image)) is not None and float(v @ ref) >= threshold + 0.01]
        if keep:
            out[name] = keep
    return out


def cast_for(ctx: Context, engine: str = "dlib",
             ) -> tuple[dict[str, tuple[str, bytes]], dict[str, list[FaceCut]], list[FaceCut]]:
    """Subjects to enrol, their scene faces that ``engine`` matches, and strangers (computed
    once a run per engine)."""
    cached = ctx.shared.get(f"cast_{engine}")
    if cached is None:
        from bench.scenes import cut_faces, source_photos

        subjects = subject_photos(6)
        cuts = ctx.shared.get("face_cuts") or cut_faces(source_photos())
        ctx.remember("face_cuts", cuts)
        mine, strangers = split_cuts(cuts, subjects)
        mine = matching_cuts(mine, subjects, engine) if subjects else {}
        cached = ({k: subjects[k] for k in mine}, mine, strangers)
        ctx.remember(f"cast_{engine}", cached)
    return cached  # type: ignore[no-any-return]


def default_threshold(model_id: str) -> float:
    """The server's calibrated default for ``model_id`` (0.92 before calibration exists)."""
    try:
        from server.recognition.calibration import default_threshold as calibrated

        return float(calibrated(model_id))
    except (ImportError, ValueError, KeyError, Exception):
        return 0.92


class BenchServer:
    """One server process and its data folder (use as a context manager)."""

    def __init__(self, ctx: Context, *, engine: str = "dlib", cooldown_s: float = 0.0,
                 workers: int = 2) -> None:
        self.ctx = ctx
        self.data = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
        self.env = {"VIGIL_DATA_DIR": str(self.data), "VIGIL_ENGINE": engine,
                    "VIGIL_COOLDOWN_S": str(cooldown_s), "VIGIL_WORKERS": str(workers),
                    "VIGIL_LOG_LEVEL": "WARNING"}
        root = model_root() if engine == "onnx" else None
        if root is not None:
            self.env["VIGIL_MODEL_ROOT"] = str(root)
        self.child: Child | None = None
        self.port = 0
        self.pid = 0
        self.account_ids: dict[str, list[str]] = {}
        """Account ids per role, in the order of ``create_accounts``' tokens."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def create_accounts(self, roles: list[tuple[str, int]]) -> dict[str, list[str]]:
        """``[(role, count)]`` -> tokens per role, created in one transaction."""
        from server.auth import create_account
        from server.settings import load_settings
        from server.store.db import Database

        settings = load_settings(env=self.env)

        async def make() -> dict[str, list[str]]:
            db = Database(settings.database_url)
            tokens: dict[str, list[str]] = {}
            try:
                await db.migrate()
                async with db.sessions() as session, session.begin():
                    for role, count in roles:
                        for i in range(count):
                            account, token = await create_account(session, role=role,
                                                                  name=f"bench-{role}-{i}",
                                                                  now=time.time())
                            tokens.setdefault(role, []).append(token)
                            self.account_ids.setdefault(role, []).append(account.id)
            finally:
                await db.close()
            return tokens

        return asyncio.run(make())

    def start(self) -> None:
        self.child = Child("bench.serve_probe", env=self.env,
                           stderr_path=self.data / "server.stderr")
        info = self.child.receive(timeout=180)
        self.port, self.pid = int(info["port"]), int(info["pid"])

    def rss_mb(self) -> float:
        """RSS of the server and its inference worker processes (a GIL-holding engine runs
        in a process pool, whose memory belongs to the server's footprint)."""
        import psutil

        server = psutil.Process(self.pid)
        total = server.memory_info().rss
        for child in server.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += child.memory_info().rss
        return float(total) / 2**20

    def lag(self) -> dict[str, Any]:
        assert self.child is not None
        return self.child.ask({"cmd": "lag"})

    def cpu(self) -> dict[str, float]:
        """CPU seconds of the server process so far, per kind of thread (its ``cpu``
        command)."""
        assert self.child is not None
        return dict(self.child.ask({"cmd": "cpu"})["cpu"])

    def gc(self) -> dict[str, Any]:
        """The server's garbage collections since the last call, per generation (count, total
        and longest pause in ms)."""
        assert self.child is not None
        return dict(self.child.ask({"cmd": "gc"})["gc"])

    def log_tail(self, lines: int = 20) -> str:
        path = self.data / "server.stderr"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def api(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"},
                            timeout=120)

    def build_world(self, tokens: dict[str, list[str]], cameras: int,
                    subjects: dict[str, tuple[str, bytes]]) -> World:
        """Cameras at the corner, a watchlist with the subjects, a started deployment."""
        world = World(tokens=tokens)
        with self.api(tokens["admin"][0]) as admin, \
                self.api(tokens["watchlist_manager"][0]) as wm, \
                self.api(tokens["authoriser"][0]) as auth:
            for i in range(cameras):
                cam = _ok(admin.post("/api/cameras", json={
                    "id": f"cam-bench-{i + 1}", "name": f"Bench camera {i + 1}",
                    # bound to the camera account whose token streams it (camera_tokens[i])
                    "account_id": self.account_ids["camera"][i],
                    "lat": LAT, "lon": LON}))
                world.cameras.append(cam["id"])
            world.camera_tokens = tokens["camera"][:cameras]
            wl = _ok(wm.post("/api/watchlists", json={"name": "bench"}))
            world.watchlist_id = wl["id"]
            for name, (_, photo) in subjects.items():
                entry = _ok(wm.post(f"/api/watchlists/{wl['id']}/entries", data={
                    "subject_ref": f"BENCH-{name}", "display_name": name,
                    "category": "wanted_serious_crime", "justification": "benchmark subject",
                    "legal_basis": "benchmark (synthetic deployment)",
                    "image_source": "development dataset", "image_date": "2024-01-01",
                    "expires_at": str(time.time() + 86400)},
                    files={"photo": ("photo.jpg", photo, "application/octet-stream")}))
                world.entries[name] = entry["id"]
            now = time.time()
            dep = _ok(auth.post("/api/deployments", json={
                "name": "bench", "purpose": "locate_serious_crime_suspect",
                "place": "Bench corner", "lat": LAT, "lon": LON,
                "camera_ids": world.cameras, "watchlist_id": wl["id"],
                "starts_at": now - 60, "ends_at": now + 6 * 3600, "notify_radius_m": 500}))
            world.deployment_id = dep["id"]
            _ok(auth.post(f"/api/deployments/{dep['id']}/authorisation", json={
                "authority_ref": "BENCH-AUTH", "purpose": "locate_serious_crime_suspect"}))
            _ok(auth.post(f"/api/deployments/{dep['id']}/start"))
        return world

    def close(self) -> None:
        try:
            if self.child is not None:
                self.child.close(timeout=20)
        finally:
            shutil.rmtree(self.data, ignore_errors=True)

    def __enter__(self) -> BenchServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _ok(response: httpx.Response) -> Any:
    if response.status_code >= 300:
        raise RuntimeError(f"{response.request.method} {response.request.url.path}: "
                           f"{response.status_code} {response.text[:300]}")
    return response.json()


def server_available() -> str | None:
    """``None`` when the server can be run, else the reason it cannot."""
    try:
        from server.app import create_app  # noqa: F401
        from server.auth import create_account  # noqa: F401
    except ImportError as exc:
        return f"the server is not importable: {exc}"
    return None
