"""Unit tests of the pure parts: state machine, tracker, routing, slot, session, limiter."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from server.domain.alerts import InvalidTransition, next_state
from server.domain.assignment import Candidate, nearest_available, within_radius
from server.errors import VigilError
from server.pipeline.ingest import FrameSlot, Pending
from server.recognition.tracker import CooldownTracker
from server.ws.connection import RateLimiter
from server.ws.session import Session
from shared.protocol.camera import Frame


@pytest.mark.parametrize(("state", "action", "kw", "expected"), [
    ("new", "assign", {}, "assigned"),
    ("assigned", "assign", {}, "assigned"),
    ("assigned", "accept", {}, "accepted"),
    ("accepted", "resolve", {"outcome": "confirmed_match"}, "resolved"),
    ("new", "dismiss", {"reason": "different_person"}, "dismissed"),
    ("assigned", "dismiss", {"reason": "poor_image"}, "dismissed"),
    ("dismissed", "reopen", {}, "new"),
    ("resolved", "reopen", {}, "new"),
    ("assigned", "ack_timeout", {}, "new"),
    ("accepted", "note", {}, "accepted"),
])
def test_allowed_transitions(state: str, action: Any, kw: dict[str, str],
                             expected: str) -> None:
    assert next_state(state, action, **kw) == expected


@pytest.mark.parametrize(("state", "action"), [
    ("new", "accept"), ("new", "resolve"), ("assigned", "resolve"), ("accepted", "dismiss"),
    ("resolved", "assign"), ("new", "reopen"), ("accepted", "ack_timeout"),
])
def test_refused_transitions(state: str, action: Any) -> None:
    with pytest.raises(InvalidTransition) as info:
        next_state(state, action, outcome="confirmed_match", reason="other")
    assert info.value.code == "invalid_state"


def test_no_close_without_outcome_or_reason() -> None:
    with pytest.raises(VigilError) as info:
        next_state("accepted", "resolve")
    assert info.value.code == "outcome_required"
    with pytest.raises(VigilError) as info:
        next_state("accepted", "resolve", outcome="probably")
    assert info.value.code == "outcome_required"
    with pytest.raises(VigilError) as info:
        next_state("new", "dismiss", reason="")
    assert info.value.code == "reason_required"


def test_tracker_cooldown_slides_with_sightings() -> None:
    t = CooldownTracker(60)
    assert t.current("c", "e", 0) is None
    t.seen("c", "e", "a1", 0)
    assert t.current("c", "e", 50) == "a1"
    t.seen("c", "e", "a1", 50)
    assert t.current("c", "e", 105) == "a1"  # within 60 s of the last sighting
    assert t.current("c2", "e", 105) is None  # another camera: another alert
    assert t.current("c", "e", 200) is None  # window over: a new alert
    t.seen("c", "e", "a2", 200)
    t.forget_alert("a2")
    assert t.current("c", "e", 201) is None


def test_routing_and_suggestion() -> None:
    here = (51.5074, -0.1278)
    officers = [
        Candidate("near-busy", "busy", 51.5075, -0.1278),       # ~11 m
        Candidate("near", "available", 51.5080, -0.1278),       # ~67 m
        Candidate("off", "off_duty", 51.5074, -0.1279),         # ~7 m, off duty
        Candidate("far", "available", 51.55, -0.1278),          # ~4.7 km
        Candidate("unknown", "available", None, None),
    ]
    assert sorted(within_radius(officers, *here, 500)) == ["near", "near-busy"]
    best = nearest_available(officers, *here)
    assert best is not None
    assert best.officer_id == "near"
    assert 60 < best.distance_m < 75
    assert nearest_available(officers, None, None) is None
    assert within_radius(officers, None, None, 500) == []


async def test_frame_slot_latest_wins() -> None:
    slot = FrameSlot()

    def pending(seq: int) -> Pending:
        return Pending(Frame(seq=seq, captured_at=0.0, jpeg=b""), 0.0, 0.0)

    assert slot.put(pending(1)) is None
    dropped = slot.put(pending(2))
    assert dropped is not None
    assert dropped.frame.seq == 1
    assert slot.dropped == 1
    assert (await asyncio.wait_for(slot.take(), 5)).frame.seq == 2
    waiter = asyncio.ensure_future(slot.take())
    slot.put(pending(3))
    assert (await asyncio.wait_for(waiter, 5)).frame.seq == 3


class StuckSocket:
    """A peer that never reads: every send blocks."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed_with: int | None = None
        self.blocked = asyncio.Event()

    async def send_text(self, data: str) -> None:
        self.sent.append(data)
        self.blocked.set()
        await asyncio.Event().wait()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed_with = code


async def test_slow_consumer_is_disconnected_not_buffered() -> None:
    sock = StuckSocket()
    session = Session(sock, mode="text", queue_limit=4)  # type: ignore[arg-type]
    session.start()
    assert session.send(b'"m0"')
    await asyncio.wait_for(sock.blocked.wait(), 5)  # m0 is stuck in the socket
    for i in range(1, 5):
        assert session.send(f'"m{i}"'.encode())
    assert not session.send(b'"one too many"')
    assert not session.send(b'"and another"')  # refused: nothing grows after the limit
    await session.stop()
    assert sock.sent == ['"m0"']


class ListSocket:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_text(self, data: str) -> None:
        self.sent.append(data)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        pass


async def test_durable_replay_then_live_in_order_without_duplicates() -> None:
    store = {i: f'"{i}"'.encode() for i in range(1, 6)}
    sock = ListSocket()
    session = Session(sock, mode="text", queue_limit=100)  # type: ignore[arg-type]
    session.start()

    async def fetch(after: int) -> list[tuple[int, bytes]]:
        await asyncio.sleep(0)
        return [(s, p) for s, p in sorted(store.items()) if s > after][:2]

    session.go_live(2, fetch)
    store[6] = b'"6"'
    session.deliver(6, store[6])  # arrives while replaying: read from the store in order
    session.deliver(3, store[3])  # an old one: ignored
    for _ in range(100):
        if session.live and len(sock.sent) == 4:
            break
        await asyncio.sleep(0)
    store[7] = b'"7"'
    session.deliver(7, store[7])  # live: straight through
    for _ in range(100):
        if len(sock.sent) == 5:
            break
        await asyncio.sleep(0)
    assert sock.sent == ['"3"', '"4"', '"5"', '"6"', '"7"']
    await session.stop()


async def test_a_backlog_longer_than_the_send_queue_is_replayed_not_refused() -> None:
    store = {i: f'"{i}"'.encode() for i in range(1, 31)}
    sock = ListSocket()
    session = Session(sock, mode="text", queue_limit=4)  # type: ignore[arg-type]
    session.start()

    async def fetch(after: int) -> list[tuple[int, bytes]]:
        await asyncio.sleep(0)
        return [(s, p) for s, p in sorted(store.items()) if s > after][:10]

    session.go_live(0, fetch)
    for _ in range(1000):
        if session.live:
            break
        await asyncio.sleep(0)
    assert session.close_code is None  # not taken for a slow consumer
    assert sock.sent == [f'"{i}"' for i in range(1, 31)]
    await session.stop()


async def test_updates_during_the_snapshot_are_held_then_sent_after_it() -> None:
    sock = ListSocket()
    session = Session(sock, mode="text", queue_limit=100)  # type: ignore[arg-type]
    session.start()
    session.send_update(b'"before resume"')  # not subscribed yet: dropped
    session.hold_updates()
    session.send_update(b'"during snapshot"')
    session.send(b'"snapshot"')
    session.release_updates()
    session.send_update(b'"after"')
    for _ in range(100):
        if len(sock.sent) == 3:
            break
        await asyncio.sleep(0)
    assert sock.sent == ['"snapshot"', '"during snapshot"', '"after"']
    await session.stop()


def test_rate_limiter_bucket() -> None:
    limiter = RateLimiter(10)
    allowed = sum(limiter.allow() for _ in range(100))
    assert 20 <= allowed <= 21  # a burst of two seconds' worth, then refused
