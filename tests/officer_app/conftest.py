"""Fixtures for the officer web app tests: the live server of ``tests/server`` with a world
(accounts, camera, watchlist, active deployment), and helpers to raise an alert."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.recognition.dlib_engine import DlibEngine
from tests.server.conftest import (  # noqa: F401  (fixtures re-exported for this package)
    LiveServer,
    engine,
    make_settings,
    photos,
)


@pytest.fixture
async def app_live(tmp_path: Path, engine: DlibEngine) -> AsyncIterator[LiveServer]:  # noqa: F811
    async with LiveServer(make_settings(tmp_path, ack_timeout_s=600), engine) as server:
        yield server
