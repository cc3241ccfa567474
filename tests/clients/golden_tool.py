"""Maintenance of the golden protocol messages and their quotes in ``docs/protocol.md``.

When a field (with a default) is added to a message, the round-trip test fails because the
golden files lack it. Run::

    .venv/bin/python -m tests.clients.golden_tool

to re-encode every golden file through its codec (new fields appear with their defaults;
edit the value by hand if the default makes a poor example) and to re-quote every golden file
in ``docs/protocol.md`` under its ``<!-- golden: ... -->`` marker. Review the diff.
"""

from __future__ import annotations

import re
import sys

import msgspec

from tests.clients.test_protocol_golden import DOC, GOLDEN, UNIONS

MARKER = re.compile(r"(<!-- golden: (?P<name>[\w/]+\.json) -->\s*```json\n)(.*?)(```)", re.S)


def refresh_golden() -> int:
    changed = 0
    for path in sorted(GOLDEN.glob("*/*/*.json")):
        union = UNIONS[(path.parent.parent.name, path.parent.name)]
        message = msgspec.json.decode(path.read_bytes(), type=union)
        text = msgspec.json.format(msgspec.json.encode(message), indent=2) + b"\n"
        if text != path.read_bytes():
            path.write_bytes(text)
            changed += 1
    return changed


def requote_doc() -> int:
    text = DOC.read_text(encoding="utf-8")

    def quote(match: re.Match[str]) -> str:
        body = (GOLDEN / match.group("name")).read_text(encoding="utf-8")
        return match.group(1) + body + match.group(4)

    new = MARKER.sub(quote, text)
    if new != text:
        DOC.write_text(new, encoding="utf-8")
        return 1
    return 0


if __name__ == "__main__":
    files = refresh_golden()
    doc = requote_doc()
    print(f"{files} golden file(s) rewritten; docs/protocol.md {'updated' if doc else 'unchanged'}")
    sys.exit(0)
