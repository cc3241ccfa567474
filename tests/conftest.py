"""Fixtures shared by every test package.

Engines: ``engine`` and ``photos`` are the deterministic :class:`~tests.fakes.engine.FakeEngine`
and its marker-face photos, unless the test module says ``pytestmark = pytest.mark.real_engine``
(then the dlib engine and real photos). Recognition, end-to-end, privacy and restart tests use
the real engines; protocol, governance and lifecycle tests, where the face is not the point,
use the fake (milliseconds a frame instead of a second).

Servers: ``live`` is the real app under uvicorn on 127.0.0.1 port 0 (``live_server`` is the same
fixture under the name the client tests use); ``clock`` is a :class:`FakeClock`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from server.recognition import calibration
from server.recognition.engine import FaceEngine
from tests.fakes.engine import FAKE_CALIBRATION, FakeEngine
from tests.support.clock import FakeClock
from tests.support.live import LiveServer, make_settings
from tests.support.photos import Photos
from tests.support.photos import fake_photos as build_fake_photos
from tests.support.photos import real_photos as build_real_photos

FAKE_NOISE = 0.1
"""Per-photo perturbation of the fake templates: one identity in two photos matches at ~0.995."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "real_engine: (module level) this module's `engine` and `photos` are the dlib "
        "engine and real photos instead of the fake engine and marker faces")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # `engine` is module-scoped (module fixtures depend on it), so it reads the mark of the
    # module: a mark on a single test would be silently ignored. Refuse it instead.
    for item in items:
        own = list(item.iter_markers("real_engine"))
        module = item.getparent(pytest.Module)
        if own and (module is None or module.get_closest_marker("real_engine") is None):
            raise pytest.UsageError(
                f"{item.nodeid}: put `pytestmark = pytest.mark.real_engine` at module level")


@pytest.fixture(scope="session")
def dlib_engine() -> FaceEngine:
    """One loaded dlib engine for the whole session (about a second to load)."""
    from server.recognition.dlib_engine import DlibEngine

    return DlibEngine(upsample=1)


@pytest.fixture(scope="session")
def fake_engine() -> Iterator[FakeEngine]:
    """The fake engine, with its calibration registered while the session runs (so the server
    derives thresholds for it like for a real model)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(calibration.CALIBRATIONS, FAKE_CALIBRATION.model_id, FAKE_CALIBRATION)
        yield FakeEngine(noise=FAKE_NOISE)


@pytest.fixture(scope="session")
def real_photos(dlib_engine: FaceEngine) -> Photos:
    """Real face photos (skips when the development dataset is absent)."""
    return build_real_photos(dlib_engine)


@pytest.fixture(scope="session")
def fake_photos() -> Photos:
    """Marker-face photos for the fake engine."""
    return build_fake_photos()


def _wants_real(request: pytest.FixtureRequest) -> bool:
    return request.node.get_closest_marker("real_engine") is not None


@pytest.fixture(scope="module")
def engine(request: pytest.FixtureRequest) -> FaceEngine:
    """The fake engine, or dlib in modules marked ``real_engine``."""
    name = "dlib_engine" if _wants_real(request) else "fake_engine"
    chosen: FaceEngine = request.getfixturevalue(name)
    return chosen


@pytest.fixture(scope="module")
def photos(request: pytest.FixtureRequest, engine: FaceEngine) -> Photos:
    """Photos for ``engine``: real ones in ``real_engine`` modules, marker faces elsewhere."""
    name = "real_photos" if _wants_real(request) else "fake_photos"
    chosen: Photos = request.getfixturevalue(name)
    return chosen


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def live(tmp_path: Path, engine: FaceEngine) -> AsyncIterator[LiveServer]:
    """The real server on a fresh data dir (real time; see ``clock`` for a fake one)."""
    async with LiveServer(make_settings(tmp_path), engine) as server:
        yield server


@pytest.fixture
async def live_server(live: LiveServer) -> LiveServer:
    """``live`` under the name the client tests use (restartable: ``stop()``, ``start()``)."""
    return live

