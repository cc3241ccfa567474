"""Transparent huge pages under a worker process's heap, once its models are loaded (Linux).

Why: dlib's 68-point predictor is ~65 MB of regression trees whose leaves (a 136-float vector
each, allocated one by one on the heap) it reads in an order set by each face's pixels: ~7,500
leaves per face, most of them a cache and a TLB miss on 4 kB pages. Backed by 2 MB pages the
same reads cost a quarter less: the predictor's CPU per face fell 25-30 % in the worker's own
loop (still scenes, 4 cameras' load, same run: 10.2 -> 7.3 ms per frame; docs/operations.md,
"Performance"). Nothing it computes changes: only how the memory is mapped.

How: the kernel's default mode (``madvise``, in ``/sys/kernel/mm/transparent_hugepage/
enabled``) gives huge pages only to memory a process asks for them for. After the engine is
built, the worker asks for its ``[heap]`` mappings (``MADV_HUGEPAGE``) and has the pages it
already holds moved into huge pages at once (``MADV_COLLAPSE``, Linux 6.1+; ~0.6 s of CPU
for ~170 MB, once per worker at start; resident memory grows by ~1 MB). ONNX Runtime's and
OpenVINO's weights were measured too (every large anonymous mapping advised): no further
gain, so only the heap is asked for.

Where the kernel says no (THP ``never``, an older kernel, not Linux) nothing changes and the
worker runs as before: this is an optimisation, never a requirement.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import sys
import time

log = logging.getLogger(__name__)

MADV_HUGEPAGE = 14
"""``madvise`` advice: back this range with transparent huge pages (``<linux/mman.h>``)."""
MADV_COLLAPSE = 25
"""``madvise`` advice: move this range's present pages into huge pages now (Linux 6.1+)."""
COLLAPSE_TRIES = 4
"""``MADV_COLLAPSE`` attempts per heap range when the kernel refuses for want of free memory."""
HUGE_PAGE = 2 << 20
"""A transparent huge page on x86-64 and arm64 with 4 kB base pages."""


def heap_ranges(maps: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` addresses of the ``[heap]`` mappings in a ``/proc/<pid>/maps``
    text (one or several: advising part of a mapping splits it)."""
    ranges: list[tuple[int, int]] = []
    for line in maps.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[5] == "[heap]":
            start, _, end = fields[0].partition("-")
            ranges.append((int(start, 16), int(end, 16)))
    return ranges


def back_heap_with_huge_pages() -> int:
    """Ask for huge pages under this process's heap and collapse what it holds into them.

    Returns:
        Bytes of heap the kernel accepted the advice for (0 where it did not, or not Linux).
    """
    if not sys.platform.startswith("linux"):
        return 0
    try:
        with open("/proc/self/maps", encoding="ascii") as fh:
            ranges = heap_ranges(fh.read())  # read whole first: advice splits mappings
        libc = ctypes.CDLL(None, use_errno=True)
        madvise = libc.madvise
        madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        madvise.restype = ctypes.c_int
    except (OSError, AttributeError) as exc:
        log.debug("huge pages: not available (%s)", exc)
        return 0
    advised = 0
    for start, end in ranges:
        if end - start < HUGE_PAGE or madvise(start, end - start, MADV_HUGEPAGE) != 0:
            continue
        advised += end - start
        # Best effort: without it (EINVAL before Linux 6.1; EAGAIN or ENOMEM while the
        # kernel cannot find or lock free 2 MB blocks, e.g. another process is allocating)
        # khugepaged collapses the advised heap in the background instead, more slowly. A
        # transient refusal is tried again a few times.
        for attempt in range(COLLAPSE_TRIES):
            if madvise(start, end - start, MADV_COLLAPSE) == 0:
                break
            if ctypes.get_errno() not in (errno.EAGAIN, errno.ENOMEM):
                break
            time.sleep(0.05 * (attempt + 1))
    return advised
