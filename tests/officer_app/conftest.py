"""Fixtures for the officer web app tests: the live server (``engine`` and ``photos`` come from
``tests/conftest.py``: the fake engine, or dlib and real photos in ``real_engine`` modules) and
Debian's Chromium."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from server.recognition.engine import FaceEngine
from tests.officer_app.browser import ARGS, CHROMIUM, require_chromium
from tests.support.live import LiveServer, make_settings


@pytest.fixture
async def app_live(tmp_path: Path, engine: FaceEngine) -> AsyncIterator[LiveServer]:
    """The real server; assignments never time out while a browser test runs."""
    async with LiveServer(make_settings(tmp_path, ack_timeout_s=600), engine) as server:
        yield server


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless (skips with the reason when it is not installed)."""
    require_chromium()
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        await b.close()
