"""The app's request class: JSON bodies are checked for nesting depth before decoding.

msgspec's decoder recurses once per nesting level, so a few kilobytes of ``[[[[...`` in a
request body made it raise ``RecursionError``: a 500 and a logged traceback per request, from
any caller with a token of the right role, and from anyone on the endpoints that take no
token (the officer app's pairing-code exchange). The websockets' cheap, non-recursive scan
(:mod:`shared.protocol.nesting`) refuses such a body first, with ``400 nesting_too_deep``.
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from server.errors import VigilError
from shared.protocol.limits import MAX_NESTING_DEPTH
from shared.protocol.nesting import json_depth_exceeds


class NestingTooDeep(VigilError):
    """A request body nests arrays/objects deeper than the protocol allows."""

    def __init__(self) -> None:
        super().__init__("nesting_too_deep",
                         f"the body nests arrays/objects deeper than {MAX_NESTING_DEPTH} levels")


class VigilRequest(Request[Any, Any, Any]):
    """Litestar's request, refusing too deeply nested JSON bodies before decoding them."""

    async def json(self) -> Any:
        if json_depth_exceeds(await self.body(), MAX_NESTING_DEPTH):
            raise NestingTooDeep()
        return await super().json()
