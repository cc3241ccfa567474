"""Settings of one console session (what ``vigil dispatch`` was given)."""

from __future__ import annotations

from typing import Literal

import msgspec

Theme = Literal["dark", "light"]
ImageMode = Literal["auto", "halfcell", "unicode", "none"]

THEMES: dict[Theme, str] = {"dark": "textual-dark", "light": "textual-light"}


class ConsoleSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Settings of the dispatcher console."""

    server: str = "http://127.0.0.1:8000"
    """Server address (http(s) or ws(s)); REST and websocket share it."""
    token: str = ""
    """Dispatcher bearer token (also sent on REST image requests)."""
    theme: Theme = "dark"
    bell: bool = True
    """Ring the terminal bell when a new alert arrives (toggle with ``b``)."""
    images: ImageMode = "auto"
    """How photos are drawn: ``auto`` picks Kitty/Sixel graphics where the terminal supports
    them, else coloured half blocks; ``none`` shows no photos (e.g. over a slow link)."""
    image_timeout_s: float = 10.0
    """Timeout of one photo download."""
