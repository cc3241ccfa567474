"""incidents: alerts of one watchlist entry in one deployment grouped while open

Revision ID: i001
Revises: g001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i001"
down_revision = "g001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("incident_id", sa.String(length=40), nullable=False,
                                   server_default=""))
        batch.create_index("ix_alerts_incident_id", ["incident_id"], unique=False)
    # Alerts raised before incidents existed are each their own incident.
    op.execute("UPDATE alerts SET incident_id = id WHERE incident_id = ''")


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_index("ix_alerts_incident_id")
        batch.drop_column("incident_id")
