"""One error tree for the whole server.

Every refusal the server makes is a :class:`VigilError` with a stable ``code``; the REST layer
maps it to an HTTP status and a JSON body, the websocket layer to a typed ``error`` message and,
where the connection cannot go on, a documented close code. No traceback ever reaches a client.
"""

from __future__ import annotations


class VigilError(Exception):
    """Base of every error a client may see.

    Attributes:
        code: stable machine-readable code (``snake_case``; a ``:detail`` suffix is allowed,
            e.g. ``low_quality:blur``).
        message: human-readable explanation.
        status: HTTP status used when the error crosses the REST boundary.
    """

    status: int = 400

    def __init__(self, code: str, message: str = "", *, status: int | None = None) -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message or code
        if status is not None:
            self.status = status


class ImageRefused(VigilError):
    """An image could not be used: undecodable, too large, no usable face, ..."""

    status = 422


class EnrolmentRefused(VigilError):
    """Enrolment refused: the photo does not hold exactly one acceptable face."""

    status = 422


class ModelMismatch(VigilError):
    """A template from one model was offered to an index of another model."""

    status = 409


class PackError(VigilError):
    """A model pack is missing, partial, tampered with or unloadable."""

    status = 400


class NotFound(VigilError):
    status = 404

    def __init__(self, message: str = "not found") -> None:
        super().__init__("not_found", message)


class Conflict(VigilError):
    status = 409

    def __init__(self, message: str = "conflict") -> None:
        super().__init__("conflict", message)


class Unauthorised(VigilError):
    status = 401

    def __init__(self, message: str = "a valid token is required") -> None:
        super().__init__("unauthorised", message)


class Forbidden(VigilError):
    status = 403

    def __init__(self, message: str = "this role may not do that") -> None:
        super().__init__("forbidden", message)
