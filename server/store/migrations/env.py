"""Alembic environment: migrations run on a connection handed over by ``server.store.db``."""

from __future__ import annotations

from alembic import context

from server.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only through server.store.db.migrate
    raise RuntimeError("run migrations through server.store.db.migrate()")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
