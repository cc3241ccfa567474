"""The Alembic migrations form one line: two migrations revising the same parent give two
heads, and ``Database.migrate`` (upgrade to "head") then fails on every fresh data dir."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from server.store.db import alembic_config


def test_the_migrations_have_a_single_head() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    heads = script.get_heads()  # what `alembic heads` prints
    assert len(heads) == 1, f"several Alembic heads {heads}: chain the newest migrations"
