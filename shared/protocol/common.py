"""Messages every role uses: handshake, errors, acknowledgement and resume."""

from __future__ import annotations

from typing import Literal

import msgspec

from shared.protocol.base import PROTOCOL_VERSION, Role, WireMessage
from shared.protocol.limits import Id, Name, Ref, Seq, Token


class Durable(WireMessage):
    """Base of every durable server -> client message: ``seq`` numbers it in its recipient's
    stream (gapless, increasing); the client acknowledges it with ``ack`` and resumes after
    the highest one it handled. Not a message of its own (no tag on the wire); ``seq`` is the
    first field of every subclass."""

    seq: int


class AlertCommand(WireMessage):
    """Base of every human decision on an alert (client -> server): ``ref`` correlates the
    ``result`` (or ``error``) answering it, ``alert_id`` names the alert. Not a message of its
    own; ``ref`` and ``alert_id`` are the first two fields of every subclass."""

    ref: Ref
    alert_id: Id


class Hello(WireMessage, tag="hello"):
    """First message of every connection (client -> server)."""

    token: Token
    """Bearer token of the account (cameras: the camera's own token)."""
    protocol: int = PROTOCOL_VERSION
    camera_id: Id | None = None
    """Cameras only: the registered camera id this connection streams for."""
    client: Name = ""
    """Free text naming the client software and version, for logs."""


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """Limits the server enforces on this connection."""

    max_message_bytes: int
    max_frame_bytes: int
    max_messages_per_second: float


class Welcome(WireMessage, tag="welcome"):
    """Answer to a valid ``hello`` (server -> client)."""

    protocol: int
    role: Role
    account_id: str
    name: str
    server_time: float
    """Server clock, seconds since the epoch (UTC)."""
    last_seq: int
    """Highest sequence number the server has issued to this recipient so far."""
    acked_seq: int
    """Highest sequence number this recipient has acknowledged."""
    limits: Limits


class Error(WireMessage, tag="error"):
    """A typed refusal. ``ref`` echoes the client's request reference when there is one."""

    code: str
    message: str = ""
    ref: int | None = None
    fatal: bool = False
    """True when the server closes the connection after this message."""


class Ack(WireMessage, tag="ack"):
    """Client -> server: every message with ``seq`` up to and including this one arrived."""

    seq: Seq


class Resume(WireMessage, tag="resume"):
    """Client -> server, after ``welcome``: replay every durable message with a sequence
    number above ``last_seq``, then go live. Send 0 on a first connection."""

    last_seq: Seq = 0


class Ping(WireMessage, tag="ping"):
    """Application-level ping; the server answers ``pong`` with the same ``ref``."""

    ref: Ref = 0


class Pong(WireMessage, tag="pong"):
    ref: int = 0
    server_time: float = 0.0


class CommandResult(WireMessage, tag="result"):
    """Answer to a command that carries ``ref``: ``ok`` or an error code."""

    ref: int
    ok: bool
    code: str = ""
    message: str = ""
    alert_id: str | None = None


Direction = Literal["in", "out"]
