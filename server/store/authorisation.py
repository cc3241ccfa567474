"""The authorisation record of a deployment (one row per deployment, kept with it).

Separate from ``deployments`` so that the live server's tables stay as they are: a deployment
without a row here has never been authorised and cannot start.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.store.models import Base

AuthState = Literal["authorised", "urgent", "confirmed", "refused", "revoked"]
LIVE_STATES: frozenset[str] = frozenset({"authorised", "urgent", "confirmed"})
"""States in which the deployment may run."""


class DeploymentAuthorisation(Base):
    """Who authorised a deployment, on what authority, for which purpose, and what became of it."""

    __tablename__ = "deployment_authorisations"
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id"), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    authoriser_id: Mapped[str] = mapped_column(String(40))
    authoriser_name: Mapped[str] = mapped_column(String(200))
    authority_ref: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(64))
    granted_at: Mapped[float] = mapped_column(Float)
    urgent: Mapped[bool] = mapped_column(default=False)
    confirm_by: Mapped[float | None] = mapped_column(Float, nullable=True)
    """Urgent starts only: the deployment stops at this time unless confirmed."""
    requested_ends_at: Mapped[float] = mapped_column(Float)
    """The window end asked for (an urgent start runs to ``confirm_by`` until confirmed)."""
    confirmed_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    confirmed_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    closed_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    """Refused or revoked at."""
    closed_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    close_reason: Mapped[str] = mapped_column(Text, default="")
    ended_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    """Stopped, revoked, refused or past its window: it never runs again."""
    watchlist_hash: Mapped[str] = mapped_column(String(64), default="")
    """Version hash of the watchlist, frozen when the deployment activated."""
    watchlist_size: Mapped[int] = mapped_column(Integer, default=0)
