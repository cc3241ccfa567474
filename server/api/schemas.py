"""REST request and response bodies (msgspec Structs; the OpenAPI schema comes from them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import msgspec
from litestar.datastructures import UploadFile

from shared.protocol.base import Category, Purpose, Role


class ErrorBody(msgspec.Struct, frozen=True):
    code: str
    message: str


class AccountCreate(msgspec.Struct, frozen=True, kw_only=True):
    role: Role
    name: str
    expires_at: float | None = None
    """Epoch seconds after which the token is refused; None = no expiry."""
    call_sign: str | None = None
    """Officers only (defaults to the name)."""


class AccountCreated(msgspec.Struct, frozen=True, kw_only=True):
    account_id: str
    role: Role
    name: str
    token: str
    """Shown once: only its hash is stored."""


class AccountOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    role: Role
    name: str
    created_at: float
    expires_at: float | None
    revoked: bool


class CameraCreate(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    id: str | None = None
    """Chosen id (letters, digits, ``-``); generated when absent."""
    lat: float | None = None
    lon: float | None = None
    description: str = ""
    mobile: bool = False
    account_id: str | None = None
    """Camera account allowed to stream for this camera; None lets any camera token."""
    min_face_px: Annotated[float, msgspec.Meta(ge=8, le=2000)] | None = None
    """Smallest face side (frame pixels) detection must find in this camera's frames; None
    uses the server's ``min_face_px`` setting. Larger is cheaper (fewer detector tiles)."""


class WatchlistCreate(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    description: str = ""
    reuse: bool = False


class WatchlistOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    description: str
    reuse: bool
    version: int
    entries: int


@dataclass
class EntryForm:
    """Multipart form of an enrolment: the reference photo and the entry's metadata."""

    photo: UploadFile
    subject_ref: str
    display_name: str
    category: str
    justification: str
    legal_basis: str
    image_source: str
    image_date: str
    expires_at: float
    minor: bool = False
    minor_justification: str = ""


class EntryOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    watchlist_id: str
    subject_ref: str
    display_name: str
    category: Category
    justification: str
    legal_basis: str
    image_source: str
    image_date: str
    expires_at: float
    minor: bool
    added_by: str
    created_at: float
    models: tuple[str, ...]
    """Model ids this entry has a template for."""


class DeploymentCreate(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    purpose: Purpose
    place: str
    lat: float
    lon: float
    camera_ids: tuple[str, ...]
    watchlist_id: str
    starts_at: float
    ends_at: float
    notify_radius_m: float = 500.0
    threshold: float | None = None
    """None = the engine's calibrated default (or the server's ``threshold`` setting)."""


class Suggestion(msgspec.Struct, frozen=True, kw_only=True):
    officer_id: str | None
    call_sign: str | None = None
    distance_m: float | None = None
