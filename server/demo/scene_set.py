"""Building the demo's scene set: pick the people, write the scenes and the manifest.

See :mod:`server.demo.scenes` for how one scene is drawn. The build is deterministic for a
given seed and set of installed images, and costs a few face detections (a few seconds).
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path

import cv2
import msgspec
import numpy as np

from server.demo.scenes import (
    DEMO_SUBJECTS,
    LEGAL_BASIS,
    FaceCrop,
    Scene,
    SceneSet,
    Size,
    Subject,
    compose,
    read_photo,
    tight_crop,
)
from server.recognition.engine import FaceEngine

DATASETS = Path(
    os.environ.get("VIGIL_DATASETS")
    or Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
)
"""``$VIGIL_DATASETS``, else ``../shared/datasets`` beside the checkout, when present."""
ORL = "orl_faces"
"""The watchlist's and the crowd's faces: anonymous volunteers photographed for research at the
Olivetti Research Laboratory (1992-94); the dataset asks only that users credit the laboratory.
No name, no real case: a demo must never pin an accusation on a real, named person."""
ORL_CREDIT = "ORL face database, Olivetti Research Laboratory, Cambridge (AT&T Laboratories)"


class DemoPhotosMissing(RuntimeError):
    """The ORL photos the demo is built from are not installed (or unusable).

    The demo uses no other faces: every other photo on the machine shows a real, recognisable
    person (insightface's and scikit-image's samples), and none of them comes with terms that
    allow casting that person as a watchlist subject, or even as a passer-by in a scene of a
    police demo.
    """


def _orl_subjects(datasets: Path | None) -> list[Path]:
    """ORL subject folders in numeric order (s1, s2, ... s40)."""
    root = datasets / ORL if datasets else None
    if root is None or not root.is_dir():
        return []
    folders = [p for p in root.iterdir() if p.is_dir() and p.name[1:].isdigit()]
    return sorted(folders, key=lambda p: int(p.name[1:]))


def _orl_photo(path: Path) -> FaceCrop | None:
    """An ORL photo as a face crop with room around the face: ORL faces fill their 92x112
    frame, and detectors need margin (and dlib's HOG size) to find them."""
    image = read_photo(path)
    if image is None:
        return None
    crop = tight_crop(image, f"{ORL}/{path.parent.name}/{path.name}")
    big = np.ascontiguousarray(cv2.resize(crop.image, None, fx=2, fy=2,
                                          interpolation=cv2.INTER_CUBIC), dtype=np.uint8)
    return FaceCrop(big, tuple(2 * v for v in crop.face), crop.source)  # type: ignore[arg-type]


def _subjects(
    engine: FaceEngine, out: Path, datasets: Path | None, count: int
) -> list[tuple[Subject, FaceCrop]]:
    """Watchlist subjects and the face the cameras will see for each."""
    chosen: list[tuple[Subject, FaceCrop]] = []
    (out / "watchlist").mkdir(parents=True, exist_ok=True)
    for folder in _orl_subjects(datasets):
        if len(chosen) >= min(count, len(DEMO_SUBJECTS)):
            break
        photos = sorted(folder.glob("*.pgm"), key=lambda p: int(p.stem) if p.stem.isdigit()
                        else 0)
        enrol = _orl_photo(photos[0]) if len(photos) >= 2 else None
        if enrol is None or len(engine.detect(enrol.image)) != 1:
            continue
        probe = None
        for candidate in photos[1:]:
            crop = _orl_photo(candidate)
            if crop is not None and len(engine.detect(crop.image)) == 1:
                probe = crop
                break
        if probe is None:
            continue
        n = len(chosen)
        name, category, reason = DEMO_SUBJECTS[n]
        target = out / "watchlist" / f"orl_{folder.name}.png"
        cv2.imwrite(str(target), enrol.image)
        chosen.append((Subject(
            key=f"orl_{folder.name}", display_name=name, subject_ref=f"DEMO-{n + 1:03d}",
            category=category, reason=reason, legal_basis=LEGAL_BASIS,
            image_source=enrol.source, image_date="1993-01-01",
            enrol_photo=str(target.relative_to(out)), probe_source=probe.source,
        ), probe))
    return chosen


def _crowd(datasets: Path | None, exclude: set[str]) -> list[FaceCrop]:
    """Faces of passers-by (never a watchlist subject): other anonymous ORL volunteers."""
    crowd: list[FaceCrop] = []
    for folder in _orl_subjects(datasets)[-CROWD_FROM_ORL:]:
        if f"orl_{folder.name}" in exclude:
            continue
        crop = _orl_photo(folder / "1.pgm")
        if crop is not None:
            crowd.append(crop)
    return crowd


CROWD_FROM_ORL = 8
"""Passers-by taken from the last ORL subjects (the watchlist takes the first)."""


def build_scenes(
    out: Path,
    engine: FaceEngine,
    *,
    cameras: Sequence[str] = ("a", "b"),
    scenes_per_camera: int = 12,
    subject_every: int = 4,
    crowd_size: tuple[int, int] = (3, 5),
    size: Size = (960, 540),
    subjects: int = 2,
    seed: int = 7,
    datasets: Path | None = DATASETS,
) -> SceneSet:
    """Write the demo scenes under ``out`` and return (and save) their manifest.

    Camera ``cameras[i]`` shows a watchlist subject in its scene ``i`` and then every
    ``subject_every`` scenes, so an alert comes early in every run; the other scenes are
    passers-by only.

    Args:
        out: folder to write into (``scenes/<camera>/scene_NNN.jpg``, ``watchlist/``,
            ``scenes.json``).
        engine: face engine used to find the faces to cut out of the photos.
        cameras: camera keys.
        scenes_per_camera: scenes per camera (streamed in a loop).
        subject_every: a subject appears once every this many scenes.
        crowd_size: passers-by per scene, inclusive range.
        size: scene width and height.
        subjects: watchlist subjects wanted (fewer when the photos do not allow).
        seed: random seed (same seed, same scenes).
        datasets: the folder holding ``orl_faces`` (default ``../shared/datasets``).

    Raises:
        DemoPhotosMissing: the ORL photos are absent or too few usable faces were found.
    """
    rng = random.Random(seed)
    usable = datasets if datasets is not None and datasets.is_dir() else None
    out.mkdir(parents=True, exist_ok=True)
    if not _orl_subjects(usable):
        raise DemoPhotosMissing(
            f"the demo's photos are missing: it needs the ORL face database (anonymous "
            f"research volunteers) at {(datasets or DATASETS) / ORL}, one folder s1 ... s40 "
            "per person; it uses no other faces")
    picked = _subjects(engine, out, usable, subjects)
    crowd = _crowd(usable, {s.key for s, _ in picked})
    if not picked or len(crowd) < crowd_size[0]:
        raise DemoPhotosMissing(
            f"too few usable faces in {(datasets or DATASETS) / ORL} to build the demo scenes "
            f"({len(picked)} subjects, {len(crowd)} passers-by found)")
    per_camera: dict[str, tuple[Scene, ...]] = {}
    for c, camera in enumerate(cameras):
        folder = out / "scenes" / camera
        folder.mkdir(parents=True, exist_ok=True)
        scenes: list[Scene] = []
        for i in range(scenes_per_camera):
            people = rng.sample(crowd, min(len(crowd), rng.randint(*crowd_size)))
            present: tuple[str, ...] = ()
            if i % subject_every == c % subject_every:
                subject, probe = picked[(i // subject_every + c) % len(picked)]
                people.append(probe)
                present = (subject.key,)
            name = f"scene_{i:03d}.jpg"
            cv2.imwrite(str(folder / name), compose(size, people, rng),
                        [cv2.IMWRITE_JPEG_QUALITY, 90])
            scenes.append(Scene(file=f"scenes/{camera}/{name}", subjects=present,
                                passers_by=len(people) - len(present)))
        per_camera[camera] = tuple(scenes)
    scene_set = SceneSet(size=size, subjects=tuple(s for s, _ in picked), cameras=per_camera,
                         crowd_sources=tuple(sorted({c.source for c in crowd})))
    (out / "scenes.json").write_bytes(msgspec.json.format(msgspec.json.encode(scene_set)))
    return scene_set
