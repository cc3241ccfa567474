"""Cheap checks of a message's shape before it is decoded.

A decoder walks nested arrays and maps recursively: a few kilobytes of ``[[[[...`` would make
it raise ``RecursionError`` (a traceback per message, from anyone, even before ``hello``).
These scans refuse such input first, in time linear in the message and without recursion.
"""

from __future__ import annotations

import re
import struct

_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)

MAX_MSGPACK_VALUES = 4096
"""Most values a msgpack message may hold (a camera frame holds about a dozen): bounds the
scan's work, since each value costs one step of a Python loop."""


def json_depth_exceeds(data: bytes, limit: int) -> bool:
    """Whether JSON text nests arrays/objects deeper than ``limit``.

    Brackets inside strings do not count. Every step is a C-speed bytes operation: strings
    are cut out, only brackets are kept (``{}`` as ``[]``), then innermost pairs are removed
    ``limit`` times; a pair still left sits deeper than ``limit``. Unclosed brackets (invalid
    JSON, which the decoder refuses anyway) count as a level each.
    """
    if data.count(b"[") + data.count(b"{") <= limit:
        return False  # the common case: too few brackets to be too deep
    brackets = _JSON_STRING.sub(b"", data).translate(_BRACKETS_ONLY, _NOT_BRACKETS)
    for _ in range(limit):
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):
            break
        brackets = shorter
    return b"[]" in brackets or brackets.count(b"[") > limit


_BRACKETS_ONLY = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


# Bytes to skip after a msgpack type byte: fixed-size scalars.
_FIXED: dict[int, int] = {
    0xC0: 0, 0xC2: 0, 0xC3: 0, 0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8,
    0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8, 0xD4: 2, 0xD5: 3, 0xD6: 5, 0xD7: 9, 0xD8: 17,
}
# Length-prefixed payloads: (bytes of the length, extra bytes after it: ext's type byte).
_SIZED: dict[int, tuple[str, int]] = {
    0xC4: (">B", 0), 0xC5: (">H", 0), 0xC6: (">I", 0),  # bin
    0xD9: (">B", 0), 0xDA: (">H", 0), 0xDB: (">I", 0),  # str
    0xC7: (">B", 1), 0xC8: (">H", 1), 0xC9: (">I", 1),  # ext
}
# Containers: (bytes of the count, values per counted item: 2 for maps).
_CONTAINERS: dict[int, tuple[str, int]] = {
    0xDC: (">H", 1), 0xDD: (">I", 1), 0xDE: (">H", 2), 0xDF: (">I", 2),
}


def msgpack_shape_error(data: bytes, limit: int,
                        max_values: int = MAX_MSGPACK_VALUES) -> str | None:
    """Why a msgpack message must be refused before decoding, or None.

    Returns:
        ``"depth"`` when arrays/maps nest deeper than ``limit``, ``"values"`` when the message
        holds more than ``max_values`` values; None otherwise (truncated or invalid input is
        left to the decoder, which refuses it).
    """
    left = [1]  # values still to read at each open level (level 0: the message itself)
    pos, size, values = 0, len(data), 0
    while left and pos < size:
        if left[-1] == 0:
            left.pop()
            continue
        left[-1] -= 1
        values += 1
        if values > max_values:
            return "values"
        byte = data[pos]
        pos += 1
        count = 0
        if byte <= 0x7F or byte >= 0xE0:  # positive/negative fixint
            continue
        if byte <= 0x8F:
            count = 2 * (byte & 0x0F)  # fixmap
        elif byte <= 0x9F:
            count = byte & 0x0F  # fixarray
        elif byte <= 0xBF:
            pos += byte & 0x1F  # fixstr
            continue
        elif byte in _FIXED:
            pos += _FIXED[byte]
            continue
        elif byte in _SIZED:
            fmt, extra = _SIZED[byte]
            width = struct.calcsize(fmt)
            if pos + width > size:
                return None
            pos += width + extra + struct.unpack_from(fmt, data, pos)[0]
            continue
        elif byte in _CONTAINERS:
            fmt, per = _CONTAINERS[byte]
            width = struct.calcsize(fmt)
            if pos + width > size:
                return None
            count = per * struct.unpack_from(fmt, data, pos)[0]
            pos += width
        else:  # 0xC1 is never used: invalid, the decoder refuses it
            return None
        if count:
            if len(left) > limit:
                return "depth"
            left.append(count)
    return None

