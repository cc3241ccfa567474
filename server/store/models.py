"""Database tables (SQLAlchemy 2, portable between SQLite and PostgreSQL).

Times are epoch seconds (UTC) stored as floats: one representation on both databases and on
the wire. Nothing here ever holds a frame or anything about a face that did not match: the
only images are enrolled reference photos and the probe crops of alerts (files under the data
dir, referenced by path), the only templates are those of enrolled entries.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.protocol.base import (
    AlertState,
    Category,
    DismissReason,
    OfficerStatus,
    Outcome,
    Purpose,
    Role,
)


class Base(DeclarativeBase):
    """Declarative base of every Vigil table."""


class Account(Base):
    """A person or device holding one role, with one bearer token (stored as sha256)."""

    __tablename__ = "accounts"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(String(32), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class Camera(Base):
    """A registered camera; ``account_id`` is the camera account allowed to stream for it."""

    __tablename__ = "cameras"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    mobile: Mapped[bool] = mapped_column(Boolean, default=False)
    account_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    frames_no_deployment: Mapped[int] = mapped_column(Integer, default=0)
    """Frames refused because no active deployment lists this camera (counted, not kept)."""
    min_face_px: Mapped[float | None] = mapped_column(Float, nullable=True, default=None)
    """Smallest face side (frame pixels) detection must find in this camera's frames; None
    uses the ``min_face_px`` setting. A camera far from where people pass needs a smaller one
    (and costs more per frame)."""


class Officer(Base):
    """Field officer state; the id is the officer's account id."""

    __tablename__ = "officers"
    id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    call_sign: Mapped[str] = mapped_column(String(64))
    status: Mapped[OfficerStatus] = mapped_column(String(16), default="available")
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_seen: Mapped[float | None] = mapped_column(Float, nullable=True)


class Watchlist(Base):
    __tablename__ = "watchlists"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    reuse: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer, default=0)
    """Increases with every enrolment or removal (indexes are rebuilt when it changes)."""


class Entry(Base):
    """One person on a watchlist, with why, on what basis and until when."""

    __tablename__ = "entries"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    watchlist_id: Mapped[str] = mapped_column(ForeignKey("watchlists.id"), index=True)
    subject_ref: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(200))
    category: Mapped[Category] = mapped_column(String(40))
    justification: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(Text)
    image_source: Mapped[str] = mapped_column(Text)
    image_date: Mapped[str] = mapped_column(String(32))
    expires_at: Mapped[float] = mapped_column(Float)
    minor: Mapped[bool] = mapped_column(Boolean, default=False)
    minor_justification: Mapped[str] = mapped_column(Text, default="")
    added_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[float] = mapped_column(Float)
    photo_path: Mapped[str] = mapped_column(Text)
    """Reference photo, relative to the data dir."""


class Template(Base):
    """An entry's template for one model id (float32 bytes, unit length)."""

    __tablename__ = "templates"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(ForeignKey("entries.id"), index=True)
    model_id: Mapped[str] = mapped_column(String(64))
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    __table_args__ = (UniqueConstraint("entry_id", "model_id"),)


class Deployment(Base):
    """Where, when, why and against which watchlist matching may run."""

    __tablename__ = "deployments"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[Purpose] = mapped_column(String(64))
    place: Mapped[str] = mapped_column(Text)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    watchlist_id: Mapped[str] = mapped_column(ForeignKey("watchlists.id"))
    threshold: Mapped[float] = mapped_column(Float)
    notify_radius_m: Mapped[float] = mapped_column(Float)
    starts_at: Mapped[float] = mapped_column(Float)
    ends_at: Mapped[float] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[float] = mapped_column(Float)
    faces_processed: Mapped[int] = mapped_column(Integer, default=0)
    frames_processed: Mapped[int] = mapped_column(Integer, default=0)
    frames_refused: Mapped[int] = mapped_column(Integer, default=0)


class DeploymentCamera(Base):
    __tablename__ = "deployment_cameras"
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id"), primary_key=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id"), primary_key=True)


class Alert(Base):
    """A possible match, kept only because it matched."""

    __tablename__ = "alerts"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id"), index=True)
    camera_id: Mapped[str] = mapped_column(String(40))
    entry_id: Mapped[str] = mapped_column(String(40))
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    similarity: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    first_seen: Mapped[float] = mapped_column(Float)
    last_seen: Mapped[float] = mapped_column(Float)
    sightings: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[AlertState] = mapped_column(String(16), index=True)
    outcome: Mapped[Outcome | None] = mapped_column(String(32), nullable=True)
    dismiss_reason: Mapped[DismissReason | None] = mapped_column(String(32), nullable=True)
    assigned_officer_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    assigned_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    probe_path: Mapped[str] = mapped_column(Text, default="")
    captured_at: Mapped[float] = mapped_column(Float, default=0.0)
    ingested_at: Mapped[float] = mapped_column(Float, default=0.0)
    matched_at: Mapped[float] = mapped_column(Float, default=0.0)
    pushed_at: Mapped[float] = mapped_column(Float, default=0.0)
    acked_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    """First officer acknowledgement (``ack`` of a message carrying this alert)."""
    created_at: Mapped[float] = mapped_column(Float)
    incident_id: Mapped[str] = mapped_column(String(40), default="", index=True)
    """The incident this alert belongs to: the id of the first alert of its watchlist entry in
    its deployment while any of them is open (see :mod:`server.store.incidents`)."""


class AlertEventRow(Base):
    __tablename__ = "alert_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id"), index=True)
    at: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")


class AlertRecipient(Base):
    """Which officers an alert was routed to (officers see only these, also over REST)."""

    __tablename__ = "alert_recipients"
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id"), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    route: Mapped[str] = mapped_column(String(16))


class Cursor(Base):
    """Per-recipient sequence numbers of durable messages."""

    __tablename__ = "cursors"
    account_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    acked_seq: Mapped[int] = mapped_column(Integer, default=0)


class OutboxBody(Base):
    """One durable message's encoding, shared by the outbox rows of all its recipients: the
    JSON before and after the seq, which is each recipient's own (``head + seq + tail`` is
    the message as sent). An alert to 1,010 recipients stored its ~3 KB card 1,010 times,
    about 3 MB of SQLite log while the store's one writer waited. Deleted with the last row
    that uses it (acknowledged) or with its alert (purge)."""

    __tablename__ = "outbox_bodies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    head: Mapped[bytes] = mapped_column(LargeBinary)
    tail: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[float] = mapped_column(Float)


class OutboxMessage(Base):
    """A durable message not yet acknowledged by its recipient (deleted on ack)."""

    __tablename__ = "outbox"
    account_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    payload: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    """The encoded JSON message, exactly as sent (replays are byte-identical); None when the
    message is shared (``body_id``)."""
    body_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_bodies.id"), nullable=True,
                                                index=True)
    """The shared encoding (:class:`OutboxBody`) of a message sent to several recipients."""
    created_at: Mapped[float] = mapped_column(Float)


Index("ix_alerts_camera_entry", Alert.camera_id, Alert.entry_id)
Index("ix_alerts_deployment_entry_created", Alert.deployment_id, Alert.entry_id,
      Alert.created_at)
"""The open incident of an entry in a deployment (:func:`server.store.incidents.incident_for`,
read in every new alert's transaction) is the first matching row in this order, not a sort of
every alert the deployment raised."""
