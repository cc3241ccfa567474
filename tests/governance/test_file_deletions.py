"""Files a transaction makes unreachable go only once it committed: a rolled-back purge keeps
its probe crops; a committed one deletes them (off the event loop, after the commit)."""

from __future__ import annotations

import pytest

from server.runtime import Runtime
from server.store.file_deletions import delete_doomed
from server.store.models import Alert
from server.store.retention import purge_alerts
from tests.governance import rows
from tests.governance.conftest import count_rows


class Refused(Exception):
    """Stands for anything failing later in the same transaction."""


async def test_a_rolled_back_purge_keeps_its_files_and_a_committed_one_deletes_them(
    runtime: Runtime,
) -> None:
    data = runtime.settings.data_path
    now = runtime.clock()
    async with runtime.db.sessions() as session, session.begin():
        await rows.deployment(session, "dep-1", now)
        crop = await rows.alert(session, data, "alr-1", "dep-1", now)
    assert crop.is_file()

    async def purge_then_fail() -> None:
        async with runtime.db.sessions() as session, session.begin():
            counts = await purge_alerts(session, data, Alert.id == "alr-1")
            assert counts.probe_crops == 1
            assert crop.is_file()  # not inside the transaction
            raise Refused

    with pytest.raises(Refused):
        await purge_then_fail()
    assert crop.is_file()  # rolled back: the alert is still there, so is its crop
    async with runtime.db.sessions() as session:
        assert await count_rows(session, "alerts") == 1

    async with runtime.db.sessions() as session, session.begin():
        await purge_alerts(session, data, Alert.id == "alr-1")
        assert crop.is_file()
    assert crop.is_file()  # committed (and the session closed): the owner deletes it next
    await delete_doomed(session)
    assert not crop.exists()
    async with runtime.db.sessions() as session:
        assert await count_rows(session, "alerts") == 0
