"""The server process's heap once started (``server.serving.settle_heap``): what it started
with is frozen, and the objects of one fan-out die by reference counting instead of being
promoted by young collections (the full collections that followed were the fan-out's tail)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# In a fresh interpreter, so that freezing does not touch the test process. A "fan-out": 1,000
# recipients, each with the in-flight objects a send holds (a dict, a list, a closure), alive
# together, then released; counted: collections during it, objects promoted to the oldest
# generation, and the frozen heap.
PROBE = """
import gc, json, sys
from server.serving import settle_heap, YOUNG_OBJECTS
if sys.argv[1] == "settled":
    settle_heap()
runs = []
gc.callbacks.append(lambda phase, info: phase == "stop" and runs.append(info["generation"]))
old_before = len(gc.get_objects(2))
in_flight = []
for i in range(1000):
    state = {"seq": i, "payload": [i] * 3}
    in_flight.append((state, [state], lambda s=state: s))
    in_flight.append({"frames": [[i], [i + 1]], "handles": [{"n": j} for j in range(5)]})
del in_flight
print(json.dumps({"collections": len(runs), "promoted": len(gc.get_objects(2)) - old_before,
                  "frozen": gc.get_freeze_count(), "young": gc.get_threshold()[0],
                  "expected_young": YOUNG_OBJECTS}))
"""


def probe(mode: str) -> dict[str, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True)
    result: dict[str, int] = json.loads(out.stdout)
    return result


def test_a_fan_out_promotes_nothing_once_the_heap_is_settled() -> None:
    before, after = probe("default"), probe("settled")
    # CPython's defaults: the burst runs young collections and promotes some of it
    assert before["collections"] > 0
    assert before["frozen"] == 0
    # settled: the start-up heap is frozen, and the burst neither collects nor promotes
    assert after["young"] == after["expected_young"]
    assert after["frozen"] > 10_000
    assert after["collections"] == 0
    assert after["promoted"] <= 0
