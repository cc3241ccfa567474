"""cameras: the smallest face size detection must find, per camera

Revision ID: c001
Revises: i001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c001"
down_revision = "i001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.add_column(sa.Column("min_face_px", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("min_face_px")
