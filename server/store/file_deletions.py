"""Files a transaction makes unreachable (reference photos, probe crops, index folders),
deleted only once it committed, and in a worker thread.

Deleting inside the transaction had two faults: a rollback after the unlink left rows pointing
at files already gone, and the unlinks (a whole watchlist's photos, an index folder) ran on the
event loop while the store's writer was held. Code working inside a transaction registers what
to delete with :func:`doomed`; whoever owns the transaction calls :func:`delete_doomed` after it
committed. A transaction that rolls back never reaches that call, so its files stay.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger("vigil.store")

_KEY = "vigil.doomed_files"


class Doomed:
    """Files and folders to delete after the commit (see module docstring)."""

    def __init__(self) -> None:
        self.files: list[Path] = []
        self.folders: list[Path] = []

    def file(self, path: Path) -> None:
        self.files.append(path)

    def folder(self, path: Path) -> None:
        self.folders.append(path)


def doomed(session: AsyncSession) -> Doomed:
    """What the session's transaction will delete once committed (created on first use)."""
    found = session.info.get(_KEY)
    if not isinstance(found, Doomed):
        found = Doomed()
        session.info[_KEY] = found
    return found


async def delete_doomed(session: AsyncSession) -> None:
    """Delete what the session's committed transaction registered, off the event loop. Call
    after the ``session.begin()`` block ended without an exception."""
    found = session.info.pop(_KEY, None)
    if isinstance(found, Doomed) and (found.files or found.folders):
        await asyncio.to_thread(_delete, found)


def _delete(found: Doomed) -> None:
    for path in found.files:
        try:
            path.unlink(missing_ok=True)
        except OSError:  # the rows are gone already; a file left behind must be seen
            log.exception("could not delete %s", path)
    for folder in found.folders:
        shutil.rmtree(folder, ignore_errors=True)
