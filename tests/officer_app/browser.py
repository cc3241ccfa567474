"""Debian's Chromium driven by Playwright for Python (never Playwright's own browser build,
which cannot be downloaded here)."""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artefacts" / "officer_app"
"""Screenshots of the alert card (gitignored), kept for a person to look at."""
PHONE = {"width": 360, "height": 740}


def require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing (make test installs Debian's chromium)")
