"""REST request and response bodies (msgspec Structs; the OpenAPI schema comes from them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import msgspec
from litestar.datastructures import UploadFile
from msgspec import Meta

from shared.protocol.base import Category, Purpose, Role
from shared.protocol.limits import (
    CallSign,
    Epoch,
    Id,
    Latitude,
    Longitude,
    NotifyRadius,
    Text,
)

RequiredName = Annotated[str, Meta(min_length=1, max_length=200)]
"""A human label that must not be empty."""


class ErrorBody(msgspec.Struct, frozen=True):
    code: str
    message: str


class AccountCreate(msgspec.Struct, frozen=True, kw_only=True):
    role: Role
    name: RequiredName
    expires_at: Epoch | None = None
    """Epoch seconds after which the token is refused; None = no expiry."""
    call_sign: CallSign | None = None
    """Officers only (defaults to the name, which must then fit a call sign: 64 characters)."""


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
    name: RequiredName
    id: Id | None = None
    """Chosen id (letters, digits, ``-``); generated when absent."""
    lat: Latitude | None = None
    lon: Longitude | None = None
    description: Text = ""
    mobile: bool = False
    account_id: Id | None = None
    """Camera account allowed to stream for this camera. None: no camera token may stream
    for it until an administrator binds one (``POST /api/cameras/{id}/bind``)."""
    min_face_px: Annotated[float, msgspec.Meta(ge=8, le=2000)] | None = None
    """Smallest face side (frame pixels) detection must find in this camera's frames; None
    uses the server's ``min_face_px`` setting. Larger is cheaper (fewer detector tiles)."""


class CameraBind(msgspec.Struct, frozen=True, kw_only=True):
    account_id: Id
    """The camera account whose token may stream for this camera (replaces any earlier)."""


class WatchlistCreate(msgspec.Struct, frozen=True, kw_only=True):
    name: RequiredName
    description: Text = ""
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
    """Multipart form of an enrolment: the reference photos (one ``photo`` part each, at
    least one) and the entry's metadata."""

    photo: list[UploadFile]
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
    background_faces: int = 0
    """Enrolment only: smaller faces in the reference photo that were left out (the dominant
    face was enrolled); check that it is the intended person."""
    photos: int = 0
    """Enrolment and adding photos only: how many reference photos the entry now holds (its
    template is fused from all of them)."""


@dataclass
class PhotoForm:
    """Multipart form adding reference photos to an entry: one ``photo`` part each."""

    photo: list[UploadFile]


class DeploymentCreate(msgspec.Struct, frozen=True, kw_only=True):
    name: RequiredName
    purpose: Purpose
    place: RequiredName
    lat: Latitude
    lon: Longitude
    camera_ids: Annotated[tuple[Id, ...], Meta(max_length=1000)]
    watchlist_id: Id
    starts_at: Epoch
    ends_at: Epoch
    notify_radius_m: NotifyRadius = 500.0
    """Officers within this distance of the camera get the alert (more than 0, <= 50 km)."""
    threshold: float | None = None
    """None = the engine's calibrated default (or the server's ``threshold`` setting)."""


class Suggestion(msgspec.Struct, frozen=True, kw_only=True):
    officer_id: str | None
    call_sign: str | None = None
    distance_m: float | None = None
