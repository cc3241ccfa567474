"""The server tests' helpers, re-exported from :mod:`tests.support` under the names the test
modules import (the fixtures themselves live in ``tests/conftest.py``)."""

from __future__ import annotations

from tests.support.live import LiveServer, ServerInfo, free_socket, make_settings
from tests.support.photos import Photos
from tests.support.poll import poll
from tests.support.world import Api, World, authorise_and_start, build_world, enrol, make_token
from tests.support.ws import RECV_TIMEOUT, WsClient, open_ws

__all__ = [
    "RECV_TIMEOUT",
    "Api",
    "LiveServer",
    "Photos",
    "ServerInfo",
    "World",
    "WsClient",
    "authorise_and_start",
    "build_world",
    "enrol",
    "free_socket",
    "make_settings",
    "make_token",
    "open_ws",
    "poll",
]
