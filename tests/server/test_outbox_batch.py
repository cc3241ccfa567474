"""Bulk staging and group-committed acknowledgements keep the outbox's delivery rules:
per-recipient seq, monotonic, nothing acknowledged twice, replay of what is not acknowledged,
and an officer's first ack stamps the alert."""

from __future__ import annotations

import asyncio
import typing
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import event, func, select

from server.store.db import Database
from server.store.group_commit import AckBatcher
from server.store.models import Alert, Cursor, Deployment, OutboxBody, OutboxMessage, Watchlist
from server.store.outbox import (
    SHARED_BODY_MIN_RECIPIENTS,
    acknowledge_many,
    encoder_for,
    pending,
    positions,
    stage,
)
from server.store.retention import purge_alerts
from shared.protocol.common import AlertCommand, Durable
from shared.protocol.dispatch import DispatchIn, DispatchOut
from shared.protocol.officer import AlertWithdrawn, OfficerIn, OfficerOut
from tests.server.conftest import make_settings

ACCOUNTS = [f"acc-{i:04d}" for i in range(1_200)]
"""More than one ``IN (...)`` chunk (500) of recipients."""


# Any durable wire message will do: the outbox stores the encoded bytes.
_build = AlertWithdrawn(seq=0, alert_id="alr-1", reason="test")


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(make_settings(tmp_path).database_url)
    await database.migrate()
    async with database.sessions() as session, session.begin():
        session.add(Watchlist(id="wl-1", name="w", created_at=0.0, created_by="t"))
        await session.flush()
        session.add(Deployment(id="dep-1", name="d", purpose="p", place="x", lat=0.0, lon=0.0,
                               watchlist_id="wl-1", threshold=0.5, notify_radius_m=100.0,
                               starts_at=0.0, ends_at=1e12, created_by="t", created_at=0.0))
        await session.flush()  # no ORM relationships: insert the parents first
        for alert_id in ("alr-1", "alr-2"):
            session.add(Alert(id=alert_id, deployment_id="dep-1", camera_id="c", entry_id="e",
                              similarity=0.9, threshold=0.5, first_seen=0.0, last_seen=0.0,
                              state="new", created_at=0.0))
    yield database
    await database.close()


async def test_stage_allocates_consecutive_seqs_per_recipient(db: Database) -> None:
    async with db.sessions() as session, session.begin():
        first = await stage(session, [*ACCOUNTS, ACCOUNTS[0]], _build, alert_id="alr-1",
                            now=1.0)
    async with db.sessions() as session, session.begin():
        second = await stage(session, ACCOUNTS[:3], _build, alert_id="alr-2", now=2.0)
    assert [s.account_id for s in first] == ACCOUNTS  # each recipient once, in order
    assert {s.seq for s in first} == {1}
    assert [s.seq for s in second] == [2, 2, 2]
    async with db.sessions() as session:
        rows = (await session.execute(select(func.count()).select_from(OutboxMessage))).scalar()
        assert rows == len(ACCOUNTS) + 3
        assert await positions(session, ACCOUNTS[0]) == (2, 0)
        replay = await pending(session, ACCOUNTS[0], 0, 10)
    assert [seq for seq, _ in replay] == [1, 2]
    assert replay[0][1] == first[0].payload  # byte for byte as first sent


async def test_concurrent_acks_share_transactions(db: Database) -> None:
    officers = ACCOUNTS[:300]
    async with db.sessions() as session, session.begin():
        await stage(session, officers, _build, alert_id="alr-1", now=1.0)
        await stage(session, officers, _build, alert_id="alr-2", now=1.0)
    tasks: set[asyncio.Task[Any]] = set()

    def spawn(coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        tasks.add(task)
        return task

    batcher = AckBatcher(db, asyncio.Lock(), spawn)
    # Every officer acknowledges seq 1 (alr-1), the first one also seq 2 (alr-2) later, and
    # one tries to acknowledge the future (clamped to what was issued).
    await asyncio.gather(*(batcher.ack(a, 1, 100.0 + i, officer=True)
                           for i, a in enumerate(officers)))
    assert 1 <= batcher.flushes < len(officers)
    await batcher.ack(officers[0], 2, 500.0, officer=True)
    await batcher.ack(officers[1], 99, 600.0, officer=True)
    await batcher.ack(officers[0], 1, 700.0, officer=True)  # older ack: nothing moves back
    async with db.sessions() as session:
        assert await positions(session, officers[0]) == (2, 2)
        assert await positions(session, officers[1]) == (2, 2)
        assert await positions(session, officers[2]) == (2, 1)
        assert [s for s, _ in await pending(session, officers[2], 0, 10)] == [2]
        assert await pending(session, officers[0], 0, 10) == []
        stamps = dict((await session.execute(select(Alert.id, Alert.acked_at))).all())
    # The first ack to arrive that covered each alert's message.
    assert stamps == {"alr-1": 100.0, "alr-2": 500.0}
    await asyncio.gather(*tasks)


GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "protocol" / "officer" / "out"


@pytest.mark.parametrize("name", ["alert_raised", "alert_updated", "alert_assigned",
                                  "alert_withdrawn"])
def test_one_encode_gives_every_recipients_bytes(name: str) -> None:
    """The spliced payload of each seq is byte for byte the message encoded with that seq."""
    message = msgspec.json.decode((GOLDEN / f"{name}.json").read_bytes(), type=OfficerOut)
    encode = encoder_for(message)
    for seq in (0, 1, 9, 10, 12345, 2**40):
        expected = msgspec.json.encode(msgspec.structs.replace(message, seq=seq))
        assert encode(seq) == expected


def test_every_message_with_a_seq_is_durable_with_seq_first() -> None:
    """The splice above, and the clients' resume, rely on it: a server message carrying ``seq``
    is a ``Durable`` (nothing else is), and ``seq`` is its first field."""
    for union in (OfficerOut, DispatchOut):
        for cls in typing.get_args(union):
            assert ("seq" in cls.__struct_fields__) == issubclass(cls, Durable), cls
            if issubclass(cls, Durable):
                assert cls.__struct_fields__[0] == "seq", cls


def test_every_alert_decision_is_an_alert_command() -> None:
    """A client message naming an alert is an ``AlertCommand`` (``ref`` then ``alert_id``), so
    the server answers every one with a ``result`` carrying its ``ref``."""
    for union in (OfficerIn, DispatchIn):
        for cls in typing.get_args(union):
            assert ("alert_id" in cls.__struct_fields__) == issubclass(cls, AlertCommand), cls
            if issubclass(cls, AlertCommand):
                assert cls.__struct_fields__[:2] == ("ref", "alert_id"), cls


async def test_fan_out_and_its_ack_burst_build_no_orm_object_per_recipient(db: Database) -> None:
    """Staging to 1,200 recipients and their acks (all of what was issued, or part of it) are
    Core statements: no ORM object is built or loaded for a recipient's cursor or outbox row,
    and the outcome is the one the delivery rules give."""
    built: list[str] = []

    def on_object(target: Any, *_: Any) -> None:
        built.append(type(target).__name__)

    hooks = [(model, name) for model in (Cursor, OutboxMessage) for name in ("init", "load")]
    for model, name in hooks:
        event.listen(model, name, on_object)
    try:
        async with db.sessions() as session, session.begin():
            await stage(session, ACCOUNTS, _build, alert_id="alr-1", now=1.0)
            await stage(session, ACCOUNTS[:2], _build, alert_id="alr-2", now=1.0)
        acks = {a: [(1, 10.0)] for a in ACCOUNTS}  # the first two also hold seq 2: partial
        acks["nobody"] = [(5, 10.0)]  # never sent anything: stays at 0
        async with db.sessions() as session, session.begin():
            done = await acknowledge_many(session, acks, set(ACCOUNTS))
    finally:
        for model, name in hooks:
            event.remove(model, name, on_object)
    assert built == []
    assert done == {**{a: 1 for a in ACCOUNTS}, "nobody": 0}
    async with db.sessions() as session:
        assert await positions(session, ACCOUNTS[0]) == (2, 1)
        assert await positions(session, ACCOUNTS[5]) == (1, 1)
        assert await positions(session, "nobody") == (0, 0)
        assert [s for s, _ in await pending(session, ACCOUNTS[0], 0, 10)] == [2]
        left = (await session.execute(select(func.count()).select_from(OutboxMessage))).scalar()
        acked_at = (await session.execute(select(Alert.acked_at).where(Alert.id == "alr-1")))
    assert left == 2
    assert acked_at.scalar() == 10.0


async def _bodies(db: Database) -> list[tuple[int, str | None]]:
    async with db.sessions() as session:
        return [(int(i), a) for i, a in (await session.execute(
            select(OutboxBody.id, OutboxBody.alert_id).order_by(OutboxBody.id))).all()]


async def test_a_message_to_many_recipients_is_stored_once(db: Database) -> None:
    """One encoding per message to many (``outbox_bodies``), each recipient's row only its
    seq; a replay is still byte for byte what was pushed, and the encoding leaves with the
    last row that uses it, whether acknowledged whole or in part."""
    officers = ACCOUNTS[:600]  # two IN chunks
    few = officers[:SHARED_BODY_MIN_RECIPIENTS]
    async with db.sessions() as session, session.begin():
        alone = await stage(session, few[:-1], _build, alert_id="alr-1", now=1.0)
        first = await stage(session, officers, _build, alert_id="alr-1", now=1.0)
        second = await stage(session, few, _build, alert_id="alr-2", now=2.0)
    bodies = await _bodies(db)
    assert [a for _, a in bodies] == ["alr-1", "alr-2"]  # none for one recipient too few
    async with db.sessions() as session:
        stored = (await session.execute(
            select(OutboxMessage.account_id, OutboxMessage.seq, OutboxMessage.payload)
            .where(OutboxMessage.alert_id == "alr-1"))).all()
        own = {(x.account_id, x.seq): x.payload for x in alone}
        assert {(a, s): p for a, s, p in stored if (a, s) in own} == own
        assert {p for a, s, p in stored if (a, s) not in own} == {None}
        for staged in (alone[0], first[0], first[-1], second[1]):
            replay = await pending(session, staged.account_id, staged.seq - 1, 1)
            assert replay == [(staged.seq, staged.payload)]
    assert first[0].payload == encoder_for(_build)(first[0].seq)
    # Everyone outside ``few`` acknowledges all they have: alr-1's body stays for ``few``.
    async with db.sessions() as session, session.begin():
        await acknowledge_many(session, {a: [(2, 5.0)] for a in officers[len(few):]}, set())
    assert [a for _, a in await _bodies(db)] == ["alr-1", "alr-2"]
    # ``few`` acknowledge up to alr-1's message, not alr-2's (in part): alr-1's body goes.
    async with db.sessions() as session, session.begin():
        await acknowledge_many(session, {a: [(s.seq, 6.0)] for a, s in zip(
            few, first, strict=False)}, set())
    assert [a for _, a in await _bodies(db)] == ["alr-2"]
    async with db.sessions() as session:
        assert await pending(session, few[0], 0, 10) == [(3, second[0].payload)]
    async with db.sessions() as session, session.begin():
        await acknowledge_many(session, {a: [(3, 7.0)] for a in few}, set())
    assert await _bodies(db) == []


async def test_purging_an_alert_removes_its_shared_messages(db: Database, tmp_path: Path) -> None:
    many = ACCOUNTS[:SHARED_BODY_MIN_RECIPIENTS]
    async with db.sessions() as session, session.begin():
        await stage(session, many, _build, alert_id="alr-1", now=1.0)
        await stage(session, many, _build, alert_id="alr-2", now=1.0)
    async with db.sessions() as session, session.begin():
        counts = await purge_alerts(session, tmp_path, Alert.id == "alr-1")
    assert counts.outbox_messages == len(many)
    assert [a for _, a in await _bodies(db)] == ["alr-2"]
