"""Bounds on every value a client may send, as msgspec constraints (docs/protocol.md, Limits).

A value outside its bound is refused when the message is decoded: ``bad_message`` on a
websocket, 400 ``bad_request`` over REST, never a 500 or a silently wrong state. The bounds
are generous for real use and small enough for every store (SQLite and PostgreSQL integers
are signed 64-bit) and every computation (distances, time windows).
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

MAX_INT64 = 2**63 - 1
"""Largest integer any store column holds."""

MAX_EPOCH = 253_402_300_799.0
"""9999-12-31T23:59:59Z: the latest time any message or request may name."""

MAX_NESTING_DEPTH = 32
"""Deepest nesting of arrays/maps a message may have (protocol messages use under 8); deeper
input is refused before it is decoded (``nesting_too_deep``)."""

Seq = Annotated[int, Meta(ge=0, le=MAX_INT64)]
"""A sequence number (durable messages, acknowledgements, frames, audit records)."""

Ref = Annotated[int, Meta(ge=0, le=MAX_INT64)]
"""A client's request reference, echoed in the answer."""

Epoch = Annotated[float, Meta(ge=0.0, le=MAX_EPOCH)]
"""Epoch seconds (UTC), from 1970 to the end of year 9999."""

Latitude = Annotated[float, Meta(ge=-90.0, le=90.0)]
Longitude = Annotated[float, Meta(ge=-180.0, le=180.0)]

Metres = Annotated[float, Meta(ge=0.0, le=100_000.0)]
"""A distance or accuracy in metres (at most 100 km)."""

NotifyRadius = Annotated[float, Meta(gt=0.0, le=50_000.0)]
"""A deployment's notify radius: more than 0, at most 50 km."""

Id = Annotated[str, Meta(max_length=64)]
"""An identifier (alert, officer, camera, account, watchlist, deployment)."""

Name = Annotated[str, Meta(max_length=200)]
"""A short human label: names, call signs, places, references."""

CallSign = Annotated[str, Meta(max_length=64)]
"""An officer's call sign (what dispatchers and alert timelines show)."""

Text = Annotated[str, Meta(max_length=4000)]
"""Free text: notes, descriptions, reasons."""

Token = Annotated[str, Meta(max_length=512)]
"""A bearer token (``vgl_`` and 43 characters today)."""
