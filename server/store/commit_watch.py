"""Hear of every committed write to some tables: what keeps in-memory copies of the store
(routing data, push subscriptions) exact.

Session events on the database's own Session class note a write to a watched table, whether
an ORM flush (new, changed or deleted objects) or a DML statement run through a session
(``insert``/``update``/``delete``, Core or ORM); ``after_commit`` then calls the owner, and a
rollback forgets the note. Only sessions of this database are seen: a write through a bare
connection is not, and nothing in the server writes these tables that way.
(:mod:`server.store.frame_targets` does the same with a finer rule, for its counter columns.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction


class CommitWatch:
    """Calls ``on_commit`` after each committed transaction that wrote one of ``tables``."""

    def __init__(self, session_class: type[Session], tables: Iterable[str],
                 on_commit: Callable[[], None]) -> None:
        self._tables = frozenset(tables)
        self._on_commit = on_commit
        self._key = f"vigil.commit_watch.{id(self)}"
        event.listen(session_class, "after_flush", self._flushed)
        event.listen(session_class, "do_orm_execute", self._statement)
        event.listen(session_class, "after_commit", self._committed)
        event.listen(session_class, "after_rollback", self._rolled_back)

    def _flushed(self, session: Session, _flush: UOWTransaction) -> None:
        for obj in (*session.new, *session.deleted, *session.dirty):
            if getattr(obj, "__tablename__", None) in self._tables:
                session.info[self._key] = True
                return

    def _statement(self, state: ORMExecuteState) -> None:
        if not (state.is_update or state.is_delete or state.is_insert):
            return
        table: Any = getattr(state.statement, "table", None)
        if isinstance(table, Table) and table.name in self._tables:
            state.session.info[self._key] = True

    def _committed(self, session: Session) -> None:
        if session.info.pop(self._key, False):
            self._on_commit()

    def _rolled_back(self, session: Session) -> None:
        session.info.pop(self._key, None)
