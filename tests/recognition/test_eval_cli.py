"""``vigil eval`` end to end on a tiny dataset built from the packaged face photos."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from server.cli import main
from tests.recognition.conftest import Person

REQUIRED = {
    "engine", "model_id", "images", "failures_to_acquire", "verification", "gallery", "mated",
    "nonmated", "rank1", "identification",
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, people: list[Person]) -> Path:
    """Two identities: one with a photo, its mirror image and an unreadable file; one with a
    single photo (kept this small because ``--degrade`` runs the engine 14 more times)."""
    root = tmp_path_factory.mktemp("eval") / "tiny"
    chosen = {p.name: p.image for p in people if p.name in ("t1_0", "tom_hanks")}
    for name, image in chosen.items():
        (root / name).mkdir(parents=True)
        cv2.imwrite(str(root / name / "a.png"), image)
    cv2.imwrite(str(root / "t1_0" / "b.jpg"), chosen["t1_0"][:, ::-1])
    (root / "MANIFEST.md").write_text("not an identity")
    (root / "t1_0" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return root


@pytest.mark.slow  # a vigil eval run with degradations and a plot: over a minute when busy
def test_json_degrade_groups_and_plot(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    groups = tmp_path / "groups.csv"
    groups.write_text("identity,group\nt1_0,one\ntom_hanks,two\n")
    plot = tmp_path / "det.png"
    code = main(["eval", str(tiny), "--engine", "dlib", "--json", "--degrade",
                 "--groups", str(groups), "--plot", str(plot)])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)  # exactly one JSON object on stdout
    assert set(report) >= REQUIRED
    assert report["engine"] == "dlib"
    assert report["model_id"] == "dlib-resnet-v1"
    assert report["images"] == 4
    assert report["failures_to_acquire"] == 1
    assert report["failure_reasons"] == {"undecodable_image": 1}
    # t1_0 enrolled (a.png); its b.jpg and broken.jpg are mated; tom is non-mated
    assert (report["gallery"], report["mated"], report["nonmated"]) == (1, 2, 1)
    assert report["rank1"] == 0.5  # the unreadable image counts as a miss
    names = [d["condition"] for d in report["degraded"]]
    assert names[:5] == [f"face_height:{h}px" for h in (24, 32, 48, 64, 96)]
    assert {"blur:8%", "jpeg:30", "dim:0.1"} <= set(names)
    tiny_face = report["degraded"][0]
    assert tiny_face["failures_to_acquire"] == 3  # 24 px faces are below dlib's reach
    assert {g["group"] for g in report["groups"]} == {"one", "two"}
    assert isinstance(report["group_ratios"], list)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_dataset_is_a_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["eval", str(tmp_path / "missing"), "--json"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert "bad_dataset" in err


def test_calibrate_refuses_too_few_pairs(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["eval", str(tiny), "--json", "--calibrate"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert "too_few_pairs" in err


def test_human_summary_shows_every_operating_point() -> None:
    from server.commands.eval import summary
    from server.evaluation.metrics import IdentificationPoint, VerificationPoint
    from server.evaluation.report import Degraded, EvalReport, Timing

    report = EvalReport(
        engine="dlib", model_id="dlib-resnet-v1", datasets=["a", "b"], images=10,
        identities=4, failures_to_acquire=1, failure_reasons={"no_face": 1},
        quality_gate=False, quality_rejected={"blur": 2}, genuine_pairs=5,
        impostor_pairs=31, verification=[VerificationPoint(0.1, 0.91, 0.2)], gallery=2,
        failures_to_enrol=0, mated=3, nonmated=4, rank1=0.75,
        identification=[IdentificationPoint(0.25, 0.93, 0.5)], timing=Timing(10.0, 100.0),
        degraded=[Degraded("jpeg:30", 2, 0.5, [])],
    )
    text = summary(report)
    assert "FMR 0.1: FNMR 0.2000 at threshold 0.9100" in text
    assert "FPIR 0.25: FNIR 0.5000 at threshold 0.9300" in text
    assert "rank-1 0.7500" in text
    assert "jpeg:30" in text
    assert "{'no_face': 1}" in text


def test_fnir_at_the_operating_threshold_for_n_entries(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from server.recognition.calibration import operating_threshold

    groups = tmp_path / "groups.csv"
    groups.write_text("identity,group\nt1_0,one\ntom_hanks,two\n")
    code = main(["eval", str(tiny), "--engine", "dlib", "--json", "--watchlist-size", "500",
                 "--groups", str(groups)])
    out, err = capsys.readouterr()
    assert code == 0, err
    op = json.loads(out)["operating"]
    assert op["watchlist_size"] == 500
    assert op["target_false_alert_rate"] == 1e-5
    assert op["threshold"] == pytest.approx(operating_threshold("dlib-resnet-v1", 500), abs=1e-5)
    by_group = {f["group"]: f for f in op["figures"]}
    assert set(by_group) == {"all", "one", "two"}
    # t1_0's two searches (its mirror image and the unreadable file: a miss at any threshold)
    assert (by_group["all"]["mated"], by_group["one"]["mated"]) == (2, 2)
    assert by_group["all"]["fnir"] >= 0.5
    assert (by_group["two"]["mated"], by_group["two"]["nonmated"]) == (0, 1)
