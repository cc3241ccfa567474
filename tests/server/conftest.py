"""Fixtures for the server tests: a shared dlib engine, a real uvicorn server on 127.0.0.1
port 0, REST and websocket helpers, and test frames built from real photos."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from server.app import create_app, drain
from server.auth import create_account
from server.recognition.dlib_engine import DlibEngine
from server.runtime import Runtime
from server.settings import Settings, load_settings
from server.store.db import Database
from shared.protocol.base import PROTOCOL_VERSION
from tests.server.frames import DATASET, compose, face_tiles, insightface_image, jpeg

RECV_TIMEOUT = 60.0
"""Upper bound for any single receive (a frame costs about a second on a busy machine)."""


@pytest.fixture(scope="session")
def engine() -> DlibEngine:
    return DlibEngine(upsample=1)


@dataclass
class Photos:
    subject: bytes
    """Enrolment photo of the subject (obama.jpg)."""
    second_subject: bytes
    """Enrolment photo of a second subject (biden.jpg)."""
    frame_subject: bytes
    """640x360 frame: a DIFFERENT photo of the subject (obama2.jpg) between two strangers."""
    frame_second: bytes
    """640x360 frame: another photo of the second subject (biden2.jpg) with a stranger."""
    strangers: list[bytes] = field(default_factory=list)
    """200x180 frames of one person on no watchlist each (insightface's t1.jpg crowd)."""


@pytest.fixture(scope="session")
def photos(engine: DlibEngine) -> Photos:
    if not DATASET.is_dir():
        pytest.skip(f"dataset {DATASET} is not present")
    crowd = face_tiles(engine, insightface_image("t1.jpg"), size=150)
    subject_tile = face_tiles(engine, DATASET / "obama" / "obama2.jpg", size=150)[0]
    second_tile = face_tiles(engine, DATASET / "biden" / "biden2.jpg", size=150)[0]
    strangers = [jpeg(compose([tile], 200, 180)) for tile in crowd]
    return Photos(
        subject=(DATASET / "obama" / "obama.jpg").read_bytes(),
        second_subject=(DATASET / "biden" / "biden.jpg").read_bytes(),
        frame_subject=jpeg(compose([crowd[0], subject_tile, crowd[1]])),
        frame_second=jpeg(compose([second_tile, crowd[2]])),
        strangers=strangers,
    )


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


async def poll(predicate: Callable[[], bool], wait_s: float = 30.0, what: str = "") -> None:
    """Wait until ``predicate()`` holds, failing after ``wait_s`` seconds."""
    deadline = time.monotonic() + wait_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.02)


class ServerInfo:
    """Where a test server listens and the settings it runs with."""

    settings: Settings
    port: int

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


class LiveServer(ServerInfo):
    """A real uvicorn server running our app in this event loop."""

    def __init__(self, settings: Settings, engine: DlibEngine,
                 clock: Callable[[], float] | None = None) -> None:
        self.settings = settings
        self.app = create_app(settings, engine=engine, clock=clock)
        self.sock = free_socket()
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(
            self.app, lifespan="on", log_level="warning",
            ws_max_size=settings.max_image_bytes + 65_536,
        ))
        self.task: asyncio.Task[None] | None = None

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    async def __aenter__(self) -> LiveServer:
        self.task = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        await poll(lambda: self.server.started or self.task is None or self.task.done(),
                   60, "server start")
        assert self.server.started, "server failed to start"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await drain(self.runtime)
        self.server.should_exit = True
        assert self.task is not None
        await asyncio.wait_for(self.task, 30)
        self.sock.close()


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": str(tmp_path / "data"), "workers": 2,
                              "upsample": 1, "max_image_bytes": 2_000_000}
    values.update(overrides)
    return load_settings(env={}, **values)


async def make_token(settings: Settings, role: str, name: str,
                     expires_at: float | None = None) -> tuple[str, str]:
    """Create an account directly in the store (like ``vigil token create``)."""
    db = Database(settings.database_url)
    await db.migrate()
    async with db.sessions() as session, session.begin():
        account, token = await create_account(session, role=role, name=name, now=time.time(),
                                              expires_at=expires_at)
    await db.close()
    return account.id, token


class Api:
    """A tiny REST client with one token."""

    def __init__(self, base: str, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.AsyncClient(base_url=base, headers=headers, timeout=120)

    async def call(self, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        r = await self.client.request(method, path, **kw)
        assert r.status_code == expect, f"{method} {path}: {r.status_code} {r.text}"
        ctype = r.headers.get("content-type", "")
        return r.json() if ctype.startswith("application/json") else r.content

    async def close(self) -> None:
        await self.client.aclose()


@dataclass
class World:
    """A running server with accounts, a camera, a watchlist with one subject enrolled and
    an active deployment around the camera."""

    server: ServerInfo
    tokens: dict[str, str]
    ids: dict[str, str]
    api: dict[str, Api]
    camera_id: str
    watchlist_id: str
    entry_id: str
    deployment_id: str
    lat: float = 51.5074
    lon: float = -0.1278


async def build_world(server: ServerInfo, photos: Photos, *, start: bool = True,
                      second: bool = False, extra_cameras: int = 0) -> World:
    settings = server.settings
    tokens: dict[str, str] = {}
    ids: dict[str, str] = {}
    for role, name in [("admin", "root"), ("watchlist_manager", "wm"), ("authoriser", "supt"),
                       ("dispatcher", "disp"), ("officer", "pc1"), ("officer", "pc2"),
                       ("camera", "cam")]:
        key = name if role == "officer" else role
        ids[key], tokens[key] = await make_token(settings, role, name)
    api = {k: Api(server.http, t) for k, t in tokens.items()}
    cam = await api["admin"].call("POST", "/api/cameras", 201, json={
        "id": "cam-1", "name": "Oxford Circus N", "lat": 51.5074, "lon": -0.1278,
        "account_id": ids["camera"]})
    cameras = [cam["id"]]
    for i in range(extra_cameras):
        extra = await api["admin"].call("POST", "/api/cameras", 201, json={
            "id": f"cam-{i + 2}", "name": f"camera {i + 2}", "lat": 51.5074, "lon": -0.1278,
            "account_id": ids["camera"]})
        cameras.append(extra["id"])
    wl = await api["watchlist_manager"].call("POST", "/api/watchlists", 201,
                                             json={"name": "op-test"})
    entry = await enrol(api["watchlist_manager"], wl["id"], photos.subject, "Subject A")
    if second:
        await enrol(api["watchlist_manager"], wl["id"], photos.second_subject, "Subject B")
    now = time.time()
    dep = await api["authoriser"].call("POST", "/api/deployments", 201, json={
        "name": "test", "purpose": "locate_serious_crime_suspect", "place": "Oxford Circus",
        "lat": 51.5074, "lon": -0.1278, "camera_ids": cameras, "watchlist_id": wl["id"],
        "starts_at": now - 60, "ends_at": now + 3600, "notify_radius_m": 500})
    if start:
        # Governance (issue 4): no start without an authoriser's authorisation.
        await api["authoriser"].call("POST", f"/api/deployments/{dep['id']}/authorisation", 201,
                                     json={"authority_ref": "TEST-AUTH-1",
                                           "purpose": "locate_serious_crime_suspect"})
        await api["authoriser"].call("POST", f"/api/deployments/{dep['id']}/start")
    return World(server, tokens, ids, api, cam["id"], wl["id"], entry["id"], dep["id"])


async def authorise_and_start(authoriser: Api, deployment_id: str, purpose: str) -> None:
    """Record an authorisation (the governance layer requires one) and start."""
    await authoriser.call("POST", f"/api/deployments/{deployment_id}/authorisation", 201,
                          json={"authority_ref": "ORDER-1", "purpose": purpose})
    await authoriser.call("POST", f"/api/deployments/{deployment_id}/start")


async def enrol(api: Api, watchlist_id: str, photo: bytes, name: str,
                expect: int = 201, **fields: Any) -> Any:
    data = {"subject_ref": f"REF-{name}", "display_name": name,
            "category": "wanted_serious_crime", "justification": "warrant 123",
            "legal_basis": "PACE s.24", "image_source": "custody record",
            "image_date": "2024-01-02", "expires_at": str(time.time() + 86400)}
    data.update({k: str(v) for k, v in fields.items()})
    return await api.call("POST", f"/api/watchlists/{watchlist_id}/entries", expect,
                          data=data, files={"photo": ("photo.jpg", photo, "image/jpeg")})


class WsClient:
    """A websocket client speaking JSON (officers, dispatchers) or msgpack (cameras)."""

    def __init__(self, ws: ClientConnection, binary: bool) -> None:
        self.ws = ws
        self.binary = binary

    async def send(self, message: Any) -> None:
        if self.binary:
            await self.ws.send(msgspec.msgpack.encode(message))
        else:
            await self.ws.send(msgspec.json.encode(message).decode())

    async def recv(self, wait_s: float = RECV_TIMEOUT) -> dict[str, Any]:
        async with asyncio.timeout(wait_s):
            raw = await self.ws.recv()
        if isinstance(raw, bytes) and self.binary:
            out: dict[str, Any] = msgspec.msgpack.decode(raw)
        else:
            out = msgspec.json.decode(raw)
        return out

    async def recv_type(self, *types: str, wait_s: float = RECV_TIMEOUT) -> dict[str, Any]:
        """Next message of one of ``types`` (others are skipped: pongs, officer updates)."""
        deadline = time.monotonic() + wait_s
        while True:
            msg = await self.recv(max(0.1, deadline - time.monotonic()))
            if msg["type"] in types:
                return msg

    async def close(self) -> None:
        await self.ws.close()

    async def until_closed(self, wait_s: float = RECV_TIMEOUT) -> list[dict[str, Any]]:
        """Every message until the server closes the connection (then ``ws.close_code``)."""
        messages: list[dict[str, Any]] = []
        try:
            while True:
                messages.append(await self.recv(wait_s))
        except ConnectionClosed:
            return messages


async def open_ws(server: ServerInfo, path: str, token: str, *, camera_id: str | None = None,
                  resume: int | None = 0) -> tuple[WsClient, dict[str, Any]]:
    """Connect, hello, and (officers/dispatchers) resume; returns the client and welcome."""
    binary = path == "/ws/camera"
    ws = await connect(server.ws + path, max_size=None, open_timeout=30)
    client = WsClient(ws, binary)
    hello: dict[str, Any] = {"type": "hello", "token": token, "protocol": PROTOCOL_VERSION}
    if camera_id:
        hello["camera_id"] = camera_id
    await client.send(hello)
    welcome = await client.recv()
    assert welcome["type"] == "welcome", welcome
    if not binary and resume is not None:
        await client.send({"type": "resume", "last_seq": resume})
    return client, welcome


@pytest.fixture
async def live(tmp_path: Path, engine: DlibEngine) -> AsyncIterator[LiveServer]:
    async with LiveServer(make_settings(tmp_path), engine) as server:
        yield server
