"""A captioned photo (probe crop or reference photo) drawn with textual-image.

Kitty/Sixel/iTerm graphics where the terminal supports them, coloured half blocks elsewhere.
Photos are held in memory only, never written to disk (they are personal data).
"""

from __future__ import annotations

import io
from collections.abc import Callable

from PIL import Image as PILImage
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Label, Static

from tui.dispatch.config import ImageMode


def image_widget_class(mode: ImageMode) -> Callable[..., Widget] | None:
    """The textual-image widget for ``mode`` (None for ``none``).

    ``textual_image.widget`` probes the terminal when first imported, which must happen
    before Textual takes the terminal over: ``vigil dispatch`` imports it early.
    """
    if mode == "none":
        return None
    import textual_image.widget as tiw

    if mode == "halfcell":
        return tiw.HalfcellImage  # type: ignore[no-any-return]
    if mode == "unicode":
        return tiw.UnicodeImage  # type: ignore[no-any-return]
    return tiw.Image  # type: ignore[no-any-return]


class PhotoPanel(Vertical):
    """Caption on top, the photo (or why there is none) below."""

    DEFAULT_CSS = """
    PhotoPanel { width: 1fr; height: 1fr; border: round $primary-darken-1; }
    PhotoPanel > .photo-caption { width: 1fr; height: 1; text-style: bold; }
    PhotoPanel > .photo-body { width: 1fr; height: 1fr; content-align: center middle; }
    PhotoPanel > .photo-image { width: auto; height: 1fr; }
    """

    def __init__(self, caption: str, mode: ImageMode, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.caption = caption
        self.mode = mode

    def compose(self) -> ComposeResult:
        yield Label(self.caption, classes="photo-caption")
        yield Static("loading…", classes="photo-body")

    def set_caption(self, caption: str) -> None:
        self.caption = caption
        self.query_one(".photo-caption", Label).update(caption)

    async def show_message(self, message: str) -> None:
        await self._replace(Static(message, classes="photo-body"))

    async def show_image(self, data: bytes) -> None:
        """Draw the photo in ``data`` (any format PIL reads); a bad file shows a message."""
        cls = image_widget_class(self.mode)
        if cls is None:
            await self.show_message("photos off (--images none)")
            return
        try:
            picture = PILImage.open(io.BytesIO(data))
            picture.load()
        except (OSError, ValueError) as exc:
            await self.show_message(f"unreadable image: {exc}")
            return
        await self._replace(cls(picture.convert("RGB"), classes="photo-image"))

    async def _replace(self, widget: Widget) -> None:
        for child in list(self.children)[1:]:
            await child.remove()
        await self.mount(widget)
