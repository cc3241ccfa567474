"""Types shared by the websocket clients: connection status, client errors, URLs.

Kept apart from :mod:`tui.connection` (which re-exports them) so that UIs and tests can use
them without the socket machinery. No Textual, no websockets here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol, TypeVar

import msgspec

from shared.protocol.common import CommandResult

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

ConnState = Literal["connecting", "connected", "reconnecting", "offline"]



class ConnectionStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What a UI shows about the link to the server.

    ``connecting`` (first attempt), ``connected``, ``reconnecting`` (waiting ``retry_in``
    seconds before attempt ``attempt``; a fresh status is reported about every second so the
    countdown moves), ``offline`` (given up for good, or closed by the user; see ``reason``).
    """

    state: ConnState
    retry_in: float = 0.0
    """Seconds until the next attempt (``reconnecting`` only)."""
    attempt: int = 0
    """Consecutive failed attempts so far."""
    reason: str = ""
    """Why the last connection ended (or why the client is offline)."""
    name: str = ""
    """The account name the server welcomed (``connected`` only)."""


class ClientError(Exception):
    """Base of the errors the connection raises to its caller."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message or code


class NotConnected(ClientError):
    """A send or request while no connection is up (commands are never queued silently)."""

    def __init__(self, message: str = "not connected to the server") -> None:
        super().__init__("not_connected", message)


class RequestTimeout(ClientError):
    """No ``result`` arrived for a request in time; its outcome is unknown."""

    def __init__(self, ref: int) -> None:
        super().__init__("timeout", f"no answer from the server for request {ref}")


OnMessage = Callable[[T], Awaitable[None] | None]
OnStatus = Callable[[ConnectionStatus], Awaitable[None] | None]


class Connection(Protocol[T_co]):
    """What a client UI needs from a connection (tests inject their own)."""

    @property
    def last_seq(self) -> int: ...

    def next_ref(self) -> int: ...

    async def run(self, on_message: OnMessage[T_co], on_status: OnStatus) -> None: ...

    async def send(self, message: Any) -> None: ...

    async def request(self, message: Any) -> CommandResult: ...

    async def close(self) -> None: ...


def websocket_url(base: str, path: str) -> str:
    """``http(s)://host:port`` or ``ws(s)://...`` plus a path -> the websocket URL."""
    base = base.rstrip("/")
    if base.startswith("http://"):
        base = "ws://" + base[len("http://"):]
    elif base.startswith("https://"):
        base = "wss://" + base[len("https://"):]
    elif not base.startswith(("ws://", "wss://")):
        base = "ws://" + base
    return base + "/" + path.lstrip("/")


def http_url(base: str) -> str:
    """The REST base URL for a server address given as http(s) or ws(s)."""
    base = base.rstrip("/")
    if base.startswith("ws://"):
        return "http://" + base[len("ws://"):]
    if base.startswith("wss://"):
        return "https://" + base[len("wss://"):]
    if not base.startswith(("http://", "https://")):
        return "http://" + base
    return base
