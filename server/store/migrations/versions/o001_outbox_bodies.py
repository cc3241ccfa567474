"""outbox: a message sent to several recipients stores its encoding once (outbox_bodies)

Revision ID: o001
Revises: p001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "o001"
down_revision = "p001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_bodies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.String(length=40), nullable=True),
        sa.Column("head", sa.LargeBinary(), nullable=False),
        sa.Column("tail", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox_bodies") as batch:
        batch.create_index(batch.f("ix_outbox_bodies_alert_id"), ["alert_id"], unique=False)
    # Rows already in the outbox keep their own payload: nothing to move.
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("payload", existing_type=sa.LargeBinary(), nullable=True)
        batch.add_column(sa.Column("body_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_outbox_body_id"), ["body_id"], unique=False)
        batch.create_foreign_key("fk_outbox_body_id_outbox_bodies", "outbox_bodies",
                                 ["body_id"], ["id"])


def downgrade() -> None:
    # Shared messages get their own payload back before the bodies go.
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT o.account_id, o.seq, b.head, b.tail FROM outbox o "
        "JOIN outbox_bodies b ON b.id = o.body_id")).all()
    for account_id, seq, head, tail in rows:
        conn.execute(sa.text("UPDATE outbox SET payload = :p WHERE account_id = :a AND seq = :s"),
                     {"p": bytes(head) + str(seq).encode() + bytes(tail), "a": account_id,
                      "s": seq})
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("fk_outbox_body_id_outbox_bodies", type_="foreignkey")
        batch.drop_index(batch.f("ix_outbox_body_id"))
        batch.drop_column("body_id")
        batch.alter_column("payload", existing_type=sa.LargeBinary(), nullable=False)
    with op.batch_alter_table("outbox_bodies") as batch:
        batch.drop_index(batch.f("ix_outbox_bodies_alert_id"))
    op.drop_table("outbox_bodies")
