"""Fixtures of the dispatcher console tests: a real face photo, and import set-up."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import pytest

# textual-image probes the terminal on first import; under pytest there is none, and it
# must happen before any app starts (as ``vigil dispatch`` does).
import textual_image.widget  # noqa: F401

from tests.paths import DATASETS


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
    """A real face photo of an anonymous research volunteer (ORL face database; its terms ask
    only for credit to the Olivetti Research Laboratory): the snapshots pair it with fictional
    watchlist entries, which a real, recognisable person's photo must never be."""
    from PIL import Image

    path = DATASETS / "orl_faces" / "s40" / "1.pgm"
    if not path.is_file():
        pytest.skip(f"{path} (ORL face database) is not present")
    picture = Image.open(path).convert("RGB")
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()
