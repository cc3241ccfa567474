"""Hypothesis strategies for the websocket protocol: well-formed messages of every client
type (with values at and beyond their bounds), arbitrary JSON/msgpack values, deep nesting
and raw bytes."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import strategies as st

INT64 = 2**63
ints = st.one_of(st.integers(-5, 5), st.integers(-(2**64), 2**64 - 1),
                 st.sampled_from([0, 1, INT64 - 1, INT64, -INT64, 2**64 - 1]))
floats = st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                   st.sampled_from([0.0, -0.0, 1e300, -1e300, 90.0, -180.0, 180.0001]))
texts = st.one_of(st.text(max_size=40), st.text(min_size=3990, max_size=4100).map(str))
ids = st.one_of(st.text(max_size=70), st.sampled_from(["alr-x", "off-x", "", "a" * 65]))
scalars = st.one_of(st.none(), st.booleans(), ints, floats, st.text(max_size=20))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20)
anything = st.one_of(scalars, json_values)


def field(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a value of the right kind, sometimes anything at all."""
    return st.one_of(good, good, good, anything)


def message(tag: str, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A message of one tag; each field present or missing, of the right kind or not."""
    optional = {name: field(s) for name, s in fields.items()}
    return st.fixed_dictionaries({"type": st.just(tag)}, optional=optional)


COMMON = [
    message("hello", token=st.text(max_size=60), protocol=ints, camera_id=ids,
            client=texts),
    message("ping", ref=ints),
    message("ack", seq=ints),
    message("resume", last_seq=ints),
    message("no_such_type", x=anything),
]
OFFICER = [
    message("position", lat=floats, lon=floats, accuracy_m=floats),
    message("status", status=st.sampled_from(["available", "busy", "off_duty", "gone"])),
    message("accept", ref=ints, alert_id=ids),
    message("decline", ref=ints, alert_id=ids, reason=texts),
    message("resolve", ref=ints, alert_id=ids, note=texts,
            outcome=st.sampled_from(["confirmed_match", "not_the_person", "not_located",
                                     "outdated_entry", "maybe"])),
]
DISPATCH = [
    message("assign", ref=ints, alert_id=ids, officer_id=ids),
    message("dismiss", ref=ints, alert_id=ids, text=texts,
            reason=st.sampled_from(["different_person", "poor_image", "other", "bored"])),
    message("note", ref=ints, alert_id=ids, text=texts),
    message("reopen", ref=ints, alert_id=ids),
]


def deep(depth: int, *, msgpack: bool) -> bytes:
    if msgpack:
        return b"\x81\xa4type\xa4ping" + b"\x91" * depth + b"\x90"
    return ('{"type": "ping", "x": ' + "[" * depth + "]" * depth + "}").encode()


def jpegs(sample: bytes) -> st.SearchStrategy[bytes]:
    """A real JPEG, cut short (with or without an end marker), corrupted, or random bytes."""
    cut = st.integers(0, len(sample)).map(lambda n: sample[:n])
    return st.one_of(
        st.just(sample),
        cut,
        cut.map(lambda b: b + b"\xff\xd9"),
        st.tuples(st.integers(0, len(sample) - 1), st.binary(min_size=1, max_size=8)).map(
            lambda t: sample[: t[0]] + t[1] + sample[t[0] + len(t[1]):]),
        st.binary(max_size=2000),
        st.binary(max_size=64).map(lambda b: b"\xff\xd8" + b),
    )


def _json(value: Any) -> bytes:
    try:
        return msgspec.json.encode(value)
    except (OverflowError, TypeError, msgspec.EncodeError):
        return b"{}"


def _msgpack(value: Any) -> bytes:
    try:
        return msgspec.msgpack.encode(value)
    except (OverflowError, TypeError, msgspec.EncodeError):
        return b"\x80"


def json_frames(messages: list[st.SearchStrategy[dict[str, Any]]]) -> st.SearchStrategy[Any]:
    """What an officer or dispatcher socket may be sent: text (mostly) or bytes."""
    protocol = st.one_of(*messages, *COMMON)
    return st.one_of(
        protocol.map(lambda m: _json(m).decode()),
        protocol.map(lambda m: _json(m).decode()),
        json_values.map(lambda v: _json(v).decode()),
        st.text(max_size=200),
        st.binary(max_size=200),
        st.integers(1, 5000).map(lambda d: deep(d, msgpack=False).decode()),
    )


def camera_frames(sample_jpeg: bytes) -> st.SearchStrategy[Any]:
    """What a camera socket may be sent: msgpack (mostly), text or random bytes."""
    frame = st.fixed_dictionaries(
        {"type": st.just("frame")},
        optional={"seq": field(ints), "captured_at": field(floats),
                  "jpeg": st.one_of(jpegs(sample_jpeg), anything),
                  "lat": field(floats), "lon": field(floats)})
    protocol = st.one_of(frame, frame, *COMMON)
    return st.one_of(
        protocol.map(_msgpack),
        protocol.map(_msgpack),
        json_values.map(_msgpack),
        st.binary(max_size=300),
        st.text(max_size=100),
        st.integers(1, 5000).map(lambda d: deep(d, msgpack=True)),
    )
