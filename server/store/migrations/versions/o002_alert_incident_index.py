"""alerts: index (deployment_id, entry_id, created_at) for the open-incident lookup

Revision ID: o002
Revises: o001
"""
from __future__ import annotations

from alembic import op

revision = "o002"
down_revision = "o001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_alerts_deployment_entry_created", "alerts",
                    ["deployment_id", "entry_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_alerts_deployment_entry_created", table_name="alerts")
