"""Golden protocol messages: each round-trips through ``shared.protocol.codec`` unchanged, every
message type of every role has one, and ``docs/protocol.md`` quotes exactly these messages."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path
from typing import Any

import msgspec
import pytest

from shared.protocol import codec
from shared.protocol.camera import CameraIn, CameraOut
from shared.protocol.dispatch import DispatchIn, DispatchOut
from shared.protocol.officer import OfficerIn, OfficerOut

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "fixtures" / "protocol"
DOC = ROOT / "docs" / "protocol.md"

UNIONS: dict[tuple[str, str], Any] = {
    ("camera", "in"): CameraIn,
    ("camera", "out"): CameraOut,
    ("officer", "in"): OfficerIn,
    ("officer", "out"): OfficerOut,
    ("dispatch", "in"): DispatchIn,
    ("dispatch", "out"): DispatchOut,
}
# The codec the server uses for each role and direction (cameras speak msgpack).
CODECS: dict[tuple[str, str], Any] = {
    ("camera", "in"): codec.camera_in,
    ("camera", "out"): codec.camera_out,
    ("officer", "in"): codec.officer_in,
    ("officer", "out"): codec.officer_out,
    ("dispatch", "in"): codec.dispatch_in,
    ("dispatch", "out"): codec.dispatch_out,
}
GOLDEN_FILES = sorted(GOLDEN.glob("*/*/*.json"))


def _key(path: Path) -> tuple[str, str]:
    return path.parent.parent.name, path.parent.name


def _tags(union: Any) -> set[str]:
    return {msgspec.inspect.type_info(t).tag for t in typing.get_args(union)}  # type: ignore[attr-defined]


def test_golden_files_exist() -> None:
    assert len(GOLDEN_FILES) >= 40


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: str(p.relative_to(GOLDEN)))
def test_golden_message_round_trips(path: Path) -> None:
    role, direction = _key(path)
    union = UNIONS[(role, direction)]
    raw = path.read_bytes()
    original = json.loads(raw)
    assert original["type"] == path.stem, "file name must be the message's wire tag"
    # Camera messages are msgpack on the wire; the golden file is their JSON equivalent.
    message = msgspec.json.decode(raw, type=union)
    wire = CODECS[(role, direction)].encode(message)
    again = CODECS[(role, direction)].decode(wire)
    assert again == message
    assert json.loads(msgspec.json.encode(again)) == original, "a field is missing or extra"


@pytest.mark.parametrize(("role", "direction"), sorted(UNIONS))
def test_every_message_type_has_a_golden_message(role: str, direction: str) -> None:
    have = {p.stem for p in (GOLDEN / role / direction).glob("*.json")}
    assert have == _tags(UNIONS[(role, direction)])


MARKER = re.compile(r"<!-- golden: (?P<name>[\w/]+\.json) -->\s*```json\n(?P<body>.*?)```", re.S)


def _doc() -> str:
    if not DOC.exists():
        pytest.fail("docs/protocol.md is missing")
    return DOC.read_text(encoding="utf-8")


def test_every_example_in_the_docs_is_a_golden_message() -> None:
    text = _doc()
    quoted = MARKER.findall(text)
    assert quoted, "docs/protocol.md quotes no golden message"
    for name, body in quoted:
        path = GOLDEN / name
        assert path.exists(), f"docs quote {name}, which is not a golden message"
        assert json.loads(body) == json.loads(path.read_bytes()), f"docs drifted from {name}"
    # No unverified JSON example: every json block carries a golden marker.
    assert text.count("```json") == len(quoted)


def test_every_golden_message_is_quoted_in_the_docs() -> None:
    quoted = {name for name, _ in MARKER.findall(_doc())}
    files = {str(p.relative_to(GOLDEN)) for p in GOLDEN_FILES}
    assert files - quoted == set()


def test_documented_close_and_error_codes_match_the_code() -> None:
    from shared.protocol.base import CloseCode, ErrorCode

    text = _doc()
    for name, value in vars(CloseCode).items():
        if name.isupper():
            assert f"| {value} |" in text, f"close code {name} ({value}) is not documented"
    for name, value in vars(ErrorCode).items():
        if name.isupper():
            assert f"`{value}`" in text, f"error code {value} is not documented"
