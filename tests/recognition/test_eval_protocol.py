"""Dataset listing, the open-set split rule and the groups file, on synthetic folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from server.evaluation.dataset import DatasetError, Protocol, list_samples, split
from server.evaluation.groups import GroupsError, group_figures, load_groups
from server.evaluation.metrics import VerificationPoint
from server.evaluation.scoring import all_pairs, search


def _make(root: Path, layout: dict[str, list[str]]) -> Path:
    for ident, files in layout.items():
        (root / ident).mkdir(parents=True)
        for f in files:
            (root / ident / f).write_bytes(b"x")
    return root


def test_split_follows_the_rule(tmp_path: Path) -> None:
    ds = _make(tmp_path / "set", {
        "a": ["2.jpg", "1.jpg"],          # 2+ images, 1st in order -> enrolled with 1.jpg
        "b": ["x.png", "y.png", "z.png"],  # 2nd -> not enrolled
        "c": ["only.jpg"],                # single image -> non-mated
        "d": ["d1.jpg", "d2.jpg"],        # 3rd -> enrolled
    })
    (ds / "MANIFEST.md").write_text("ignored")
    (ds / "a" / "notes.txt").write_text("ignored")
    samples = list_samples([ds])
    names = [(s.identity, Path(s.path).name) for s in samples]
    assert names[0] == ("set/a", "1.jpg")
    assert len(samples) == 8
    protocol = split(samples)
    gallery = [names[i] for i in protocol.gallery]
    assert gallery == [("set/a", "1.jpg"), ("set/d", "d1.jpg")]
    assert sorted(names[i] for i in protocol.mated) == [("set/a", "2.jpg"), ("set/d", "d2.jpg")]
    assert sorted(names[i][0] for i in protocol.nonmated) == ["set/b"] * 3 + ["set/c"]


def test_identities_are_prefixed_so_datasets_never_merge(tmp_path: Path) -> None:
    one = _make(tmp_path / "one", {"amy": ["1.jpg", "2.jpg"]})
    two = _make(tmp_path / "two", {"amy": ["1.jpg", "2.jpg"]})
    samples = list_samples([one, two])
    assert sorted({s.identity for s in samples}) == ["one/amy", "two/amy"]
    protocol = split(samples)
    # one/amy enrolled, two/amy (second in order) is non-mated
    assert [samples[i].identity for i in protocol.nonmated] == ["two/amy", "two/amy"]


def test_bad_datasets_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError):
        list_samples([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError):
        list_samples([tmp_path / "empty"])
    a = _make(tmp_path / "a" / "same", {"x": ["1.jpg"]})
    b = _make(tmp_path / "b" / "same", {"y": ["1.jpg"]})
    with pytest.raises(DatasetError, match="named same"):
        list_samples([a, b])


def test_groups_file(tmp_path: Path) -> None:
    ids = ["one/amy", "one/bob", "two/amy"]
    good = tmp_path / "g.csv"
    good.write_text("identity,group\none/amy,A\nbob,B\n# comment\n\ntwo/amy,B\n")
    assert load_groups(good, ids) == {"one/amy": "A", "one/bob": "B", "two/amy": "B"}
    for text, message in [("amy,A\n", "ambiguous"), ("zed,A\n", "unknown"), ("bob\n", "expected")]:
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        with pytest.raises(GroupsError, match=message):
            load_groups(bad, ids)
    with pytest.raises(GroupsError):
        load_groups(tmp_path / "nope.csv", ids)


def test_group_figures_and_ratio() -> None:
    # four identities, two per group; unit vectors in 2-d so similarities are easy to see
    def unit(deg: float) -> list[float]:
        return [float(np.cos(np.radians(deg))), float(np.sin(np.radians(deg)))]

    labels = ["a", "a", "b", "b", "c", "c", "d", "d"]
    angles = [0, 10, 90, 95, 180, 240, 270, 275]  # c's two images are far apart
    vectors = np.asarray([unit(a) for a in angles], dtype=np.float32)
    ok = [True] * 8
    pairs = all_pairs(vectors, ok, labels)
    assert pairs.scores.size == 28
    assert int(pairs.genuine.sum()) == 4
    point = VerificationPoint(fmr=0.1, threshold=0.9, fnmr=0.25)
    protocol = Protocol(gallery=[0, 4], mated=[1, 5], nonmated=[2, 3, 6, 7])
    log = search(vectors[[0, 4]], ["a", "c"], vectors, ok, labels, protocol)
    figures, ratios = group_figures(
        {"a": "G1", "b": "G1", "c": "G2", "d": "G2"}, labels, ok, pairs, log, [point], []
    )
    by_group = {f.group: f for f in figures}
    assert by_group["G1"].verification[0].fnmr == 0.0  # cos 10 deg, cos 5 deg >= 0.9
    assert by_group["G2"].verification[0].fnmr == 0.5  # c: cos 60 deg = 0.5 < 0.9
    assert by_group["G1"].rank1 == 1.0
    assert by_group["G2"].rank1 == 1.0
    fnmr = next(r for r in ratios if r.metric == "fnmr@fmr=0.1")
    assert fnmr.ratio is None
    assert fnmr.highest == "G2"
