"""Tables of the officer web app: one-time pairing codes and Web Push subscriptions.

They share the store's declarative base (so one Alembic history creates them) but live here,
beside the only code that reads them.
"""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.store.models import Base


class PairingCode(Base):
    """A one-time code that lets a phone obtain an officer's credential.

    Only the sha256 of the code is kept; a code is single use and short-lived.
    """

    __tablename__ = "pairing_codes"
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    used_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_by: Mapped[str] = mapped_column(String(40))


class PushSubscription(Base):
    """A browser's Web Push subscription (RFC 8030 endpoint + RFC 8291 keys) for an officer."""

    __tablename__ = "push_subscriptions"
    endpoint: Mapped[str] = mapped_column(Text, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
