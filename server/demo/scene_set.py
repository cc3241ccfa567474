"""Building the demo's scene set: pick the people, write the scenes and the manifest.

See :mod:`server.demo.scenes` for how one scene is drawn. The build is deterministic for a
given seed and set of installed images, and costs a few face detections (a few seconds).
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Sequence
from pathlib import Path

import cv2
import msgspec

from server.demo.scenes import (
    DEMO_SUBJECTS,
    LEGAL_BASIS,
    FaceCrop,
    Scene,
    SceneSet,
    Size,
    Subject,
    astronaut_photo,
    compose,
    face_crops,
    installed_photo,
    read_photo,
    tight_crop,
    varied_copy,
)
from server.recognition.engine import FaceEngine

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
"""``../shared/datasets`` beside the checkout, when present."""
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


def _photos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)


def _subjects(
    engine: FaceEngine, out: Path, datasets: Path | None, count: int, rng: random.Random
) -> list[tuple[Subject, FaceCrop]]:
    """Watchlist subjects and the face the cameras will see for each."""
    chosen: list[tuple[Subject, FaceCrop]] = []
    (out / "watchlist").mkdir(parents=True, exist_ok=True)
    examples = datasets / "face_recognition_examples" if datasets else None
    for n, (identity, name, category, reason) in enumerate(DEMO_SUBJECTS[:count]):
        folder = examples / identity if examples else None
        photos = _photos(folder) if folder and folder.is_dir() else []
        if len(photos) < 2:
            continue
        enrol, probes = photos[0], photos[1:]
        probe = None
        for candidate in probes:
            image = read_photo(candidate)
            crops = face_crops(engine, image, f"face_recognition_examples/{identity}/"
                               f"{candidate.name}") if image is not None else []
            if len(crops) == 1:
                probe = crops[0]
                break
        if probe is None:
            continue
        target = out / "watchlist" / f"{identity}{enrol.suffix.lower()}"
        shutil.copyfile(enrol, target)
        chosen.append((Subject(
            key=identity, display_name=name, subject_ref=f"DEMO-{n + 1:03d}",
            category=category,  # type: ignore[arg-type]
            reason=reason, legal_basis=LEGAL_BASIS,
            image_source=f"face_recognition_examples/{identity}/{enrol.name}",
            image_date="2021-06-10", enrol_photo=str(target.relative_to(out)),
            probe_source=probe.source,
        ), probe))
    if chosen:
        return chosen
    # No dataset: enrol installed photos and show clearly varied copies of them.
    fallbacks = []
    hanks = installed_photo("Tom_Hanks_54745.png")
    if hanks is not None and (image := read_photo(hanks)) is not None:
        fallbacks.append(("tom_hanks", image, "insightface/data/images/Tom_Hanks_54745.png"))
    fallbacks.append(("astronaut", astronaut_photo(), "skimage.data.astronaut()"))
    for n, (key, image, source) in enumerate(fallbacks[:count]):
        crops = face_crops(engine, image, source)
        if not crops:
            continue
        # The reference photo is the best face with its context: one face, as enrolment needs
        # (the astronaut photo has a face-like patch on the suit too).
        target = out / "watchlist" / f"{key}.png"
        cv2.imwrite(str(target), crops[0].image)
        _, name, category, reason = DEMO_SUBJECTS[n]
        probe = varied_copy(crops[0], rng)
        chosen.append((Subject(
            key=key, display_name=name, subject_ref=f"DEMO-{n + 1:03d}",
            category=category,  # type: ignore[arg-type]
            reason=reason, legal_basis=LEGAL_BASIS, image_source=source,
            image_date="2021-06-10", enrol_photo=str(target.relative_to(out)),
            probe_source=probe.source,
        ), probe))
    return chosen


def _crowd(engine: FaceEngine, datasets: Path | None, exclude: set[str]) -> list[FaceCrop]:
    """Faces of passers-by (never a watchlist subject)."""
    crowd: list[FaceCrop] = []
    t1 = installed_photo("t1.jpg")
    if t1 is not None and (image := read_photo(t1)) is not None:
        crowd += face_crops(engine, image, "insightface/data/images/t1.jpg")
    if "astronaut" not in exclude:
        crowd += face_crops(engine, astronaut_photo(), "skimage.data.astronaut()")[:1]
    if datasets is not None:
        examples = datasets / "face_recognition_examples"
        for name in ("lin_manuel_miranda", "kit_harington", "alex_lacamoire"):
            folder = examples / name
            if name in exclude or not folder.is_dir():
                continue
            photos = _photos(folder)
            image = read_photo(photos[0]) if photos else None
            if image is not None:
                found = face_crops(engine, image, f"face_recognition_examples/{name}/"
                                   f"{photos[0].name}")
                crowd += found[:1]
        bbt = datasets / "faceapi_bbt"
        if bbt.is_dir():
            for folder in sorted(p for p in bbt.iterdir() if p.is_dir()):
                photos = _photos(folder)
                image = read_photo(photos[0]) if photos else None
                if image is not None:
                    crowd.append(tight_crop(image, f"faceapi_bbt/{folder.name}/"
                                             f"{photos[0].name}"))
    return crowd


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
        datasets: ``../shared/datasets`` or None to use only installed images.

    Raises:
        RuntimeError: no usable face was found for the subjects or the crowd.
    """
    rng = random.Random(seed)
    usable = datasets if datasets is not None and datasets.is_dir() else None
    out.mkdir(parents=True, exist_ok=True)
    picked = _subjects(engine, out, usable, subjects, rng)
    crowd = _crowd(engine, usable, {s.key for s, _ in picked})
    if not picked or len(crowd) < crowd_size[0]:
        raise RuntimeError("not enough usable face photos to build the demo scenes")
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
