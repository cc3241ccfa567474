"""Invariant 5: the audit log is append-only and hash-chained; ``verify`` finds any edited,
removed or inserted record and says which; export writes it as JSON lines."""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import pytest
from sqlalchemy import delete, text, update

from server.cli import main as vigil
from server.recognition.tracker import CooldownTracker
from server.runtime import Core, Runtime
from server.store.audit import (
    GENESIS,
    AuditRecord,
    append,
    canonical,
    export_lines,
    record_hash,
    verify,
)
from server.ws.hub import Hub
from tests.governance.conftest import FakeClock, audit_entries


async def write_log(rt: Runtime, n: int = 6) -> None:
    for i in range(n):
        async with rt.db.sessions() as session, session.begin():
            await rt.audit.record(session, actor=f"acc-{i % 2}", action="alert_assigned",
                                  at=rt.clock() + i, alert_id=f"alr-{i}", officer_id="off-1",
                                  outcome=None, sightings=i)


async def check(rt: Runtime) -> tuple[bool, int | None, str]:
    async with rt.db.sessions() as session:
        report = await verify(session)
    return report.ok, report.bad_seq, report.problem


async def test_intact_chain_verifies_and_links(runtime: Runtime) -> None:
    await write_log(runtime)
    assert await check(runtime) == (True, None, "")
    entries = await audit_entries(runtime)
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
    assert entries[0].prev_hash == GENESIS
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash
    first = entries[0]
    assert first.object_ids == {"alert_id": "alr-0", "officer_id": "off-1"}
    assert first.details == {"sightings": 0}  # None values are left out
    body = {"seq": 1, "at": first.at, "actor": "acc-0", "action": "alert_assigned",
            "object_ids": first.object_ids, "details": first.details, "prev_hash": GENESIS}
    assert first.hash == hashlib.sha256(canonical(body)).hexdigest()


async def test_one_edited_byte_fails_at_that_record(runtime: Runtime) -> None:
    await write_log(runtime)
    async with runtime.db.sessions() as session, session.begin():
        await session.execute(update(AuditRecord).where(AuditRecord.seq == 4)
                              .values(details='{"sightings":4}'.replace("4", "5", 1)))
    assert await check(runtime) == (False, 4, "edited")


async def test_edit_with_recomputed_hash_is_named_at_the_edited_record(
        runtime: Runtime) -> None:
    await write_log(runtime)
    async with runtime.db.sessions() as session, session.begin():
        row = await session.get(AuditRecord, 3)
        assert row is not None
        row.actor = "someone-else"
        row.hash = record_hash(seq=3, at=row.at, actor=row.actor, action=row.action,
                               object_ids=json.loads(row.object_ids),
                               details=json.loads(row.details), prev_hash=row.prev_hash)
    assert await check(runtime) == (False, 3, "edited")


async def test_removed_record_is_detected_where_it_was(runtime: Runtime) -> None:
    await write_log(runtime)
    async with runtime.db.sessions() as session, session.begin():
        await session.execute(delete(AuditRecord).where(AuditRecord.seq == 2))
    assert await check(runtime) == (False, 2, "removed")


@pytest.mark.parametrize("seq", [1, 3])
async def test_removal_with_the_later_records_renumbered_is_named(
        runtime: Runtime, seq: int) -> None:
    """The gap a removal leaves closed by renumbering the later records down by one (with the
    head row rewound too): still named as the removed record, not an edit of the next."""
    await write_log(runtime)
    async with runtime.db.sessions() as session, session.begin():
        await session.execute(delete(AuditRecord).where(AuditRecord.seq == seq))
        await session.execute(text(f"UPDATE audit_log SET seq = seq + 10 WHERE seq > {seq}"))
        await session.execute(text("UPDATE audit_log SET seq = seq - 11 WHERE seq > 10"))
        await session.execute(text("UPDATE audit_head SET seq = seq - 1"))
    assert await check(runtime) == (False, seq, "removed")


async def test_removed_newest_record_is_detected(runtime: Runtime) -> None:
    await write_log(runtime)
    async with runtime.db.sessions() as session, session.begin():
        await session.execute(delete(AuditRecord).where(AuditRecord.seq == 6))
    assert await check(runtime) == (False, 6, "truncated")


async def test_inserted_record_is_detected(runtime: Runtime) -> None:
    await write_log(runtime, 4)
    entries = await audit_entries(runtime)
    # A well-formed record chained after the last one, but not written by the audit writer.
    forged = record_hash(seq=5, at=entries[-1].at + 1, actor="x", action="alert_dismissed",
                         object_ids={}, details={}, prev_hash=entries[-1].hash)
    async with runtime.db.sessions() as session, session.begin():
        session.add(AuditRecord(seq=5, at=entries[-1].at + 1, actor="x",
                                action="alert_dismissed", object_ids="{}", details="{}",
                                prev_hash=entries[-1].hash, hash=forged))
    assert await check(runtime) == (False, 5, "inserted")


async def test_renumbered_insertion_in_the_middle_is_detected(runtime: Runtime) -> None:
    await write_log(runtime, 4)
    async with runtime.db.sessions() as session, session.begin():
        # Make room at seq 3 by shifting 3..4 up, then insert a record there.
        await session.execute(text("UPDATE audit_log SET seq = seq + 10 WHERE seq >= 3"))
        await session.execute(text("UPDATE audit_log SET seq = seq - 9 WHERE seq >= 13"))
        session.add(AuditRecord(seq=3, at=0.0, actor="x", action="alert_dismissed",
                                object_ids="{}", details="{}", prev_hash=GENESIS,
                                hash=GENESIS))
    ok, bad, _problem = await check(runtime)
    assert not ok
    assert bad == 3


def forged(seq: int, prev_hash: str, at: float = 1.0) -> AuditRecord:
    """A well-formed record (its hash matches its fields) not written by the audit writer."""
    digest = record_hash(seq=seq, at=at, actor="x", action="alert_dismissed", object_ids={},
                         details={}, prev_hash=prev_hash)
    return AuditRecord(seq=seq, at=at, actor="x", action="alert_dismissed", object_ids="{}",
                       details="{}", prev_hash=prev_hash, hash=digest)


@pytest.mark.parametrize("seq", [0, -1, -(2**62)])
async def test_inserted_record_at_or_below_zero_is_named(runtime: Runtime, seq: int) -> None:
    await write_log(runtime, 4)
    async with runtime.db.sessions() as session, session.begin():
        session.add(forged(seq, GENESIS))
    assert await check(runtime) == (False, seq, "inserted")


async def test_inserted_record_past_a_gap_is_named(runtime: Runtime) -> None:
    await write_log(runtime, 4)
    async with runtime.db.sessions() as session, session.begin():
        session.add(forged(9, GENESIS))
    assert await check(runtime) == (False, 9, "inserted")


async def test_well_chained_insertion_in_the_middle_is_named(runtime: Runtime) -> None:
    await write_log(runtime, 4)
    entries = await audit_entries(runtime)
    async with runtime.db.sessions() as session, session.begin():
        # Shift 3..4 up by one, then insert a record at 3 chained to record 2.
        await session.execute(text("UPDATE audit_log SET seq = seq + 10 WHERE seq >= 3"))
        await session.execute(text("UPDATE audit_log SET seq = seq - 9 WHERE seq >= 13"))
        session.add(forged(3, entries[1].hash))
    assert await check(runtime) == (False, 3, "inserted")


async def test_newest_record_edited_and_rehashed_is_named(runtime: Runtime) -> None:
    await write_log(runtime)
    async with runtime.db.sessions() as session, session.begin():
        row = await session.get(AuditRecord, 6)
        assert row is not None
        row.action = "alert_dismissed"
        row.hash = record_hash(seq=6, at=row.at, actor=row.actor, action=row.action,
                               object_ids=json.loads(row.object_ids),
                               details=json.loads(row.details), prev_hash=row.prev_hash)
    assert await check(runtime) == (False, 6, "edited")


async def test_truncation_names_the_first_missing_record(runtime: Runtime) -> None:
    await write_log(runtime)
    async with runtime.db.sessions() as session, session.begin():
        await session.execute(delete(AuditRecord).where(AuditRecord.seq >= 5))
    assert await check(runtime) == (False, 5, "truncated")


async def test_details_refuse_bytes_and_long_text(runtime: Runtime) -> None:
    async with runtime.db.sessions() as session, session.begin():
        with pytest.raises(TypeError):
            await append(session, actor="a", action="x", at=1.0, jpeg=b"\xff\xd8\xff")
        with pytest.raises(TypeError):
            await append(session, actor="a", action="x", at=1.0, vector=[0.1, 0.2])
        with pytest.raises(ValueError, match="longer"):
            await append(session, actor="a", action="x", at=1.0, reason="x" * 501)
    assert await audit_entries(runtime) == []


async def test_export_is_json_lines_that_recompute(runtime: Runtime) -> None:
    await write_log(runtime, 3)
    async with runtime.db.sessions() as session:
        lines = [line async for line in export_lines(session)]
    assert len(lines) == 3
    prev = GENESIS
    for line in lines:
        assert line.endswith(b"\n")
        rec = json.loads(line)
        assert rec["prev_hash"] == prev
        assert rec["hash"] == record_hash(
            seq=rec["seq"], at=rec["at"], actor=rec["actor"], action=rec["action"],
            object_ids=rec["object_ids"], details=rec["details"], prev_hash=rec["prev_hash"])
        prev = rec["hash"]


def test_cli_verify_and_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from server.store.audit import ChainAudit
    from server.store.db import Database
    from tests.server.conftest import make_settings

    settings = make_settings(tmp_path)

    async def prepare(tamper: bool) -> None:
        db = Database(settings.database_url)
        await db.migrate()
        rt = Core(settings=settings, db=db, clock=FakeClock(), audit=ChainAudit(),
                     publisher=Hub(),
                 tracker=CooldownTracker(settings.cooldown_s))
        if not tamper:
            await write_log(rt, 3)
        else:
            async with db.sessions() as session, session.begin():
                await session.execute(update(AuditRecord).where(AuditRecord.seq == 2)
                                      .values(actor="mallory"))
        await db.close()

    asyncio.run(prepare(False))
    args = ["--data-dir", settings.data_dir]
    assert vigil(["audit", "verify", *args]) == 0
    assert "intact: 3 records" in capsys.readouterr().out
    out = tmp_path / "audit.jsonl"
    assert vigil(["audit", "export", "--out", str(out), *args]) == 0
    assert [json.loads(x)["seq"] for x in out.read_text().splitlines()] == [1, 2, 3]
    asyncio.run(prepare(True))
    assert vigil(["audit", "verify", *args]) == 1
    assert "record 2 (edited)" in capsys.readouterr().err
    # --after-seq holds what the store's integers hold: past 2^63 - 1 it is a usage error (it
    # was an OverflowError traceback from the SQLite driver).
    for bad in (str(2**63), "-1", "ten"):
        with pytest.raises(SystemExit) as usage:
            vigil(["audit", "export", "--after-seq", bad, "--out", str(out), *args])
        assert usage.value.code == 2
        assert "--after-seq" in capsys.readouterr().err
    assert vigil(["audit", "export", "--after-seq", str(2**63 - 1), "--out", str(out),
                  *args]) == 0
    assert out.read_text() == ""
