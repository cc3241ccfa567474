"""Fixtures of the dispatcher console tests: a real face photo, and import set-up."""

from __future__ import annotations

import importlib.util
import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# textual-image probes the terminal on first import; under pytest there is none, and it
# must happen before any app starts (as ``vigil dispatch`` does).
import textual_image.widget  # noqa: F401


def _installed_image(name: str) -> Path | None:
    spec = importlib.util.find_spec("insightface")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "images" / name
    return path if path.exists() else None


@pytest.fixture(autouse=True)
def utc_local_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The console shows local time; tests (and snapshots) pin the zone to UTC."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(scope="session")
def face_png() -> bytes:
    """A real face photo (shipped with insightface), shrunk to a probe-crop size."""
    from PIL import Image

    path = _installed_image("Tom_Hanks_54745.png")
    if path is None:
        pytest.skip("insightface's sample photo Tom_Hanks_54745.png is not installed")
    picture = Image.open(path).convert("RGB")
    picture.thumbnail((96, 96))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()
