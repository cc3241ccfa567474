"""The matcher answers per entry: templates map to their entry, so an entry holding several
templates (one per photo, should a fusion ever keep them) ranks by its best one."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from server.recognition.engine import normalise_rows
from server.recognition.matching import ExactMatcher, IndexMatcher


def _vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    return normalise_rows(rng.normal(size=(n, 64)).astype(np.float32))


def test_an_entry_with_several_templates_ranks_by_its_best(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    base = _vectors(rng, 6)
    # entry "b" has three templates; the probe is closest to b's third one
    ids = ["a", "b", "b", "c", "b", "d"]
    probe = normalise_rows((base[4] + 0.2 * _vectors(rng, 1)[0])[None, :])
    expires = [1e12] * len(ids)
    exact = ExactMatcher("m", ids, base, expires)
    index = IndexMatcher.open(tmp_path / "m.hnsw", "m", 64, 1, list(range(10, 16)), ids, base,
                              expires)
    for matcher in (exact, index):
        [hit] = matcher.search(probe, now=0.0)
        assert hit is not None
        assert hit.entry_id == "b"
        assert abs(hit.similarity - float(probe[0] @ base[4])) < 1e-5
    # an expired entry's templates all drop out together
    gone = [1e12 if e != "b" else 1.0 for e in ids]
    for matcher in (ExactMatcher("m", ids, base, gone),
                    IndexMatcher.open(tmp_path / "g.hnsw", "m", 64, 2, list(range(10, 16)), ids,
                                      base, gone)):
        [hit] = matcher.search(probe, now=2.0)
        assert hit is None or hit.entry_id != "b"
