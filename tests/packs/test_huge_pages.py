"""Engine workers put their heap (dlib's landmark trees, for packs that use them) on
transparent huge pages."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from server.recognition import process_engine
from server.recognition.huge_pages import heap_ranges
from server.recognition.onnx_engine import OnnxEngine
from server.recognition.process_engine import ProcessEngine

THP_MODE = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def _kernel_collapses() -> bool:
    """Transparent huge pages on request, and ``MADV_COLLAPSE`` (Linux 6.1+)."""
    if not THP_MODE.exists() or "[never]" in THP_MODE.read_text():
        return False
    try:
        major, minor = (int(p) for p in platform.release().split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (6, 1)


def _heap_kb(pid: int) -> tuple[int, int]:
    """A process's ``[heap]`` mappings: kB advised for huge pages (``hg`` in ``VmFlags``),
    and kB on huge pages now (``AnonHugePages``)."""
    advised = huge = size = 0
    in_heap = False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and not fields[0].endswith(":"):
            in_heap = len(fields) >= 6 and fields[5] == "[heap]"
        elif in_heap and fields[:1] == ["Size:"]:
            size = int(fields[1])
        elif in_heap and fields[:1] == ["AnonHugePages:"]:
            huge += int(fields[1])
        elif in_heap and fields[:1] == ["VmFlags:"] and "hg" in fields[1:]:
            advised += size
    return advised, huge


def test_heap_ranges_come_from_the_maps_text() -> None:
    maps = (
        "55d0c8a00000-55d0c8a21000 r--p 00000000 08:01 1234  /usr/bin/python3.11\n"
        "55d0ca000000-55d0ca400000 rw-p 00000000 00:00 0     [heap]\n"
        "55d0ca400000-55d0cb000000 rw-p 00000000 00:00 0     [heap]\n"
        "7f0000000000-7f0000200000 rw-p 00000000 00:00 0 \n"
        "7ffd1c000000-7ffd1c021000 rw-p 00000000 00:00 0     [stack]\n"
    )
    assert heap_ranges(maps) == [(0x55D0CA000000, 0x55D0CA400000),
                                 (0x55D0CA400000, 0x55D0CB000000)]
    assert heap_ranges("") == []


@pytest.mark.skipif(not _kernel_collapses(),
                    reason="no transparent huge pages on request, or a kernel before 6.1")
def test_a_worker_holds_its_models_heap_on_huge_pages(dlib68_engine: OnnxEngine) -> None:
    """Without the advice the kernel (THP ``madvise`` mode) leaves the heap on 4 kB pages:
    the heap of a worker using dlib's 68-point predictor must be advised for huge pages."""
    workers = ProcessEngine.wrap(dlib68_engine, 1)
    try:
        pid = workers._pool.submit(process_engine._ready).result(timeout=60)
        advised_kb, huge_kb = _heap_kb(pid)
    finally:
        workers.close()
    # The advice is what the worker controls: its whole heap (the predictor's trees alone are
    # ~65 MB). Moving the pages into huge ones at once is the kernel's best effort (it can
    # refuse while free 2 MB blocks are short; khugepaged then does it later), so it is shown,
    # not required.
    assert advised_kb >= 64 * 1024, (advised_kb, huge_kb)
