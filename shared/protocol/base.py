"""Base Struct, protocol version and the closed vocabularies shared by every role."""

from __future__ import annotations

from typing import Literal

import msgspec

PROTOCOL_VERSION = 1
"""Bumped only for changes old clients cannot ignore; new fields get defaults instead."""


class WireMessage(msgspec.Struct, tag_field="type", kw_only=True):
    """Base of every message. Subclasses set an explicit ``tag`` so that renaming a class
    never changes the wire."""


Role = Literal[
    "admin", "watchlist_manager", "authoriser", "dispatcher", "officer", "auditor", "camera"
]
ROLES: tuple[Role, ...] = (
    "admin", "watchlist_manager", "authoriser", "dispatcher", "officer", "auditor", "camera",
)

Category = Literal[
    "wanted_serious_crime",
    "suspect_serious_crime",
    "missing_person",
    "victim",
    "risk_to_self_or_others",
]
"""Closed list of watchlist categories. There is deliberately no catch-all."""
CATEGORIES: tuple[Category, ...] = (
    "wanted_serious_crime",
    "suspect_serious_crime",
    "missing_person",
    "victim",
    "risk_to_self_or_others",
)

Purpose = Literal[
    "locate_missing_or_victim", "prevent_imminent_threat", "locate_serious_crime_suspect"
]
PURPOSES: tuple[Purpose, ...] = (
    "locate_missing_or_victim", "prevent_imminent_threat", "locate_serious_crime_suspect",
)

AlertState = Literal["new", "assigned", "accepted", "resolved", "dismissed"]
Outcome = Literal["confirmed_match", "not_the_person", "not_located", "outdated_entry"]
OUTCOMES: tuple[Outcome, ...] = (
    "confirmed_match", "not_the_person", "not_located", "outdated_entry",
)
DismissReason = Literal[
    "different_person", "poor_image", "outdated_entry", "duplicate", "other"
]
DISMISS_REASONS: tuple[DismissReason, ...] = (
    "different_person", "poor_image", "outdated_entry", "duplicate", "other",
)
OfficerStatus = Literal["available", "busy", "off_duty"]

MATCH_NOTICE = (
    "A possible match is a lead for a human to check. It is not by itself grounds for arrest."
)
"""Shown on every alert card, to dispatchers and officers alike."""


class CloseCode:
    """Websocket close codes the server uses (documented in docs/protocol.md)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    """Server shutting down: reconnect later and resume."""
    POLICY = 1008
    TOO_BIG = 1009
    BAD_HELLO = 4000
    """The first message was not a valid ``hello``."""
    UNAUTHORISED = 4001
    """Missing, unknown, expired or wrong-role token."""
    PROTOCOL_VERSION = 4002
    RATE_LIMITED = 4008
    SLOW_CONSUMER = 4009
    """The client did not read fast enough; reconnect and resume."""
    REPLACED = 4010
    """Another connection with the same credentials took over."""


class ErrorCode:
    """Stable error codes (also used by REST error bodies)."""

    BAD_MESSAGE = "bad_message"
    NESTING_TOO_DEEP = "nesting_too_deep"
    """Arrays/maps nested deeper than the documented limit (refused before decoding)."""
    HELLO_REQUIRED = "hello_required"
    PROTOCOL_VERSION = "protocol_version"
    UNAUTHORISED = "unauthorised"
    FORBIDDEN = "forbidden"
    MESSAGE_TOO_LARGE = "message_too_large"
    FRAME_TOO_LARGE = "frame_too_large"
    UNDECODABLE_IMAGE = "undecodable_image"
    IMAGE_TOO_LARGE = "image_too_large"
    NO_ACTIVE_DEPLOYMENT = "no_active_deployment"
    RATE_LIMITED = "rate_limited"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    INVALID_STATE = "invalid_state"
    SLOW_CONSUMER = "slow_consumer"
    INTERNAL_ERROR = "internal_error"
    """The server failed on this message (logged); the connection goes on."""


FATAL_CLOSE_CODES: frozenset[int] = frozenset(
    {CloseCode.BAD_HELLO, CloseCode.UNAUTHORISED, CloseCode.PROTOCOL_VERSION, CloseCode.REPLACED}
)
"""Close codes after which reconnecting cannot help: the credentials or the protocol are
wrong, or another connection with the same credentials took over (two clients must not
fight). Clients stop on these and reconnect (with backoff) on every other close."""
FATAL_ERROR_CODES: frozenset[str] = frozenset(
    {ErrorCode.UNAUTHORISED, ErrorCode.FORBIDDEN, ErrorCode.PROTOCOL_VERSION,
     ErrorCode.HELLO_REQUIRED}
)
"""Error codes (answering ``hello``) after which reconnecting cannot help."""
