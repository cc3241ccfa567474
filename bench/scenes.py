"""Composed scenes for the recognition and end-to-end figures, with ground-truth face boxes.

Faces come from real photos that installed packages ship (insightface's ``t1.jpg`` group photo
and ``Tom_Hanks_54745.png``, scikit-image's astronaut) and from ``../shared/datasets`` when it is
there. Each face is cut out with a margin and pasted, at a size drawn per face and with a
feathered oval edge, on a face-free background photo (scikit-image's rocket and coffee). These
are synthetic benchmark inputs, never captured frames.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
Box = tuple[float, float, float, float]

MARGIN = 0.6
"""Extra context around the face box on each side, as a fraction of the box side."""
SOURCE_MAX_SIDE = 1000
"""Source photos are scaled down to this before detection (it bounds the set-up cost)."""


@dataclass(frozen=True)
class FaceCut:
    """A face cut out of a source photo, with the face box inside the cut."""

    identity: str
    image: Image
    box: Box


@dataclass(frozen=True)
class Scene:
    """A composed frame and where its faces are."""

    image: Image
    boxes: list[Box]
    identities: list[str]


def datasets_root() -> Path:
    """``$VIGIL_DATASETS`` or ``../shared/datasets`` beside the checkout."""
    env = os.environ.get("VIGIL_DATASETS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "datasets"


def _package_file(package: str, *parts: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    return path if path.exists() else None


def _imread(path: Path) -> Image | None:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if image is None else np.asarray(image, dtype=np.uint8)


def source_photos() -> list[tuple[str, Image]]:
    """(identity prefix, BGR photo) pairs available on this machine."""
    photos: list[tuple[str, Image]] = []
    t1 = _package_file("insightface", "data", "images", "t1.jpg")
    hanks = _package_file("insightface", "data", "images", "Tom_Hanks_54745.png")
    for label, path in (("t1", t1), ("tom_hanks", hanks)):
        if path is not None:
            image = _imread(path)
            if image is not None:
                photos.append((label, image))
    astronaut = _package_file("skimage", "data", "astronaut.png")
    if astronaut is not None:
        image = _imread(astronaut)
        if image is not None:
            photos.append(("astronaut", image))
    examples = datasets_root() / "face_recognition_examples"
    if examples.is_dir():
        for person in sorted(p for p in examples.iterdir() if p.is_dir()):
            for path in sorted(person.iterdir()):
                image = _imread(path)
                if image is not None:
                    photos.append((f"{person.name}/{path.stem}", image))
    return photos


def cut_faces(photos: list[tuple[str, Image]]) -> list[FaceCut]:
    """Find the faces of each photo with dlib's HOG detector and cut them out with a margin.

    dlib is used whatever engine is measured, so every engine sees the same scenes.
    """
    import dlib

    detector = dlib.get_frontal_face_detector()
    cuts: list[FaceCut] = []
    for label, photo in photos:
        scale = min(1.0, SOURCE_MAX_SIDE / max(photo.shape[:2]))
        small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        rects = detector(rgb, 0) or detector(rgb, 1)
        for i, rect in enumerate(rects):
            x1, y1, x2, y2 = (v / scale for v in (rect.left(), rect.top(), rect.right(),
                                                  rect.bottom()))
            side = max(x2 - x1, y2 - y1)
            if side < 60:  # too small to scale up into a sharp scene face
                continue
            m = MARGIN * side
            cx1, cy1 = max(0, int(x1 - m)), max(0, int(y1 - m))
            cx2 = min(photo.shape[1], int(x2 + m))
            cy2 = min(photo.shape[0], int(y2 + m))
            crop = np.ascontiguousarray(photo[cy1:cy2, cx1:cx2])
            identity = label if len(rects) == 1 else f"{label}#{i}"
            cuts.append(FaceCut(identity, crop, (x1 - cx1, y1 - cy1, x2 - cx1, y2 - cy1)))
    return cuts


def backgrounds() -> list[Image]:
    """Face-free photos used as scene backgrounds (a flat grey if none is installed)."""
    out: list[Image] = []
    for name in ("rocket.jpg", "coffee.png"):
        path = _package_file("skimage", "data", name)
        if path is not None:
            image = _imread(path)
            if image is not None:
                out.append(image)
    return out or [np.full((360, 640, 3), 110, dtype=np.uint8)]


def _oval_mask(height: int, width: int) -> npt.NDArray[np.float32]:
    mask = np.zeros((height, width), dtype=np.float32)
    cv2.ellipse(mask, (width // 2, height // 2), (int(width * 0.42), int(height * 0.46)), 0, 0,
                360, 1.0, -1)
    k = max(3, (min(height, width) // 8) | 1)
    return np.asarray(cv2.GaussianBlur(mask, (k, k), 0), dtype=np.float32)


def compose(
    rng: np.random.Generator,
    cuts: list[FaceCut],
    width: int,
    height: int,
    faces: int,
    face_px: tuple[int, int] = (56, 110),
    background: Image | None = None,
    include: Sequence[FaceCut] = (),
) -> Scene:
    """A ``width`` x ``height`` frame with ``faces`` faces on a grid with jitter.

    Face sides are drawn from ``face_px`` and capped by the grid cell, so crowded small frames
    get smaller faces (20 faces in 640x360 come out at about 50-65 px). The first faces are
    the ``include`` cuts (e.g. a watchlisted subject), the others drawn from ``cuts``.
    """
    bgs = backgrounds() if background is None else [background]
    bg = bgs[int(rng.integers(len(bgs)))]
    frame = cv2.resize(bg, (width, height), interpolation=cv2.INTER_LINEAR)
    noise = rng.normal(0, 3, frame.shape)
    frame = np.clip(frame.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    boxes: list[Box] = []
    names: list[str] = []
    if faces == 0 or not cuts:
        return Scene(frame, boxes, names)
    cols = max(1, int(np.ceil(np.sqrt(faces * width / height))))
    rows = int(np.ceil(faces / cols))
    cell_w, cell_h = width / cols, height / rows
    cells = rng.permutation(cols * rows)[:faces]
    for n, cell in enumerate(cells):
        cut = include[n] if n < len(include) else cuts[int(rng.integers(len(cuts)))]
        bx1, by1, bx2, by2 = cut.box
        side_cap = min(cell_w, cell_h) / (1 + 2 * MARGIN) * 0.95
        side = min(float(rng.uniform(*face_px)), side_cap)
        scale = side / max(bx2 - bx1, by2 - by1)
        patch = cv2.resize(cut.image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        ph, pw = patch.shape[:2]
        if ph >= height or pw >= width:
            continue
        r, c = divmod(int(cell), cols)
        slack_x = max(0.0, cell_w - pw)
        slack_y = max(0.0, cell_h - ph)
        x0 = int(min(width - pw, c * cell_w + rng.uniform(0, slack_x)))
        y0 = int(min(height - ph, r * cell_h + rng.uniform(0, slack_y)))
        mask = _oval_mask(ph, pw)[:, :, None]
        region = frame[y0:y0 + ph, x0:x0 + pw].astype(np.float32)
        frame[y0:y0 + ph, x0:x0 + pw] = (mask * patch + (1 - mask) * region).astype(np.uint8)
        boxes.append((x0 + bx1 * scale, y0 + by1 * scale, x0 + bx2 * scale, y0 + by2 * scale))
        names.append(cut.identity)
    return Scene(frame, boxes, names)


def paste(frame: Image, cut: FaceCut, side: float, x0: float, y0: float) -> Box | None:
    """Paste ``cut`` with its face ``side`` px wide, the cut's top-left corner at ``x0, y0``
    (feathered oval edge); the part outside the frame is left out. Returns the face box, or
    None when no part of the face is inside the frame."""
    height, width = frame.shape[:2]
    bx1, by1, bx2, by2 = cut.box
    scale = side / max(bx2 - bx1, by2 - by1)
    patch = cv2.resize(cut.image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    mask = _oval_mask(*patch.shape[:2])[:, :, None]
    ph, pw = patch.shape[:2]
    ix0, iy0 = round(x0), round(y0)
    fx1, fy1 = max(0, ix0), max(0, iy0)
    fx2, fy2 = min(width, ix0 + pw), min(height, iy0 + ph)
    if fx2 <= fx1 or fy2 <= fy1:
        return None
    px1, py1 = fx1 - ix0, fy1 - iy0
    part = (slice(py1, py1 + fy2 - fy1), slice(px1, px1 + fx2 - fx1))
    region = frame[fy1:fy2, fx1:fx2].astype(np.float32)
    blended = mask[part] * patch[part] + (1 - mask[part]) * region
    frame[fy1:fy2, fx1:fx2] = blended.astype(np.uint8)
    box = (ix0 + bx1 * scale, iy0 + by1 * scale, ix0 + bx2 * scale, iy0 + by2 * scale)
    if box[2] <= 0 or box[0] >= width or box[3] <= 0 or box[1] >= height:
        return None
    return box


def walk(
    rng: np.random.Generator,
    strangers: list[FaceCut],
    width: int,
    height: int,
    frames: int,
    walkers: int = 4,
    face_px: tuple[int, int] = (80, 110),
    speed: tuple[float, float] = (0.5, 1.0),
    subjects: Sequence[FaceCut] = (),
) -> list[Scene]:
    """Frames of one static camera where ``walkers`` people cross the frame at once.

    The frame is split into ``walkers`` lanes (two rows, walkers side by side in a row); in
    each lane one person walks left to right at ``speed`` face widths per frame, and when they
    leave, the next one enters at the left edge. The person entering the first lane is a
    ``subjects`` cut every second time, so a watchlisted subject is in view about half the
    time. Each person keeps one photo for the walk (size varying +-3 % a frame).
    """
    bgs = backgrounds()
    bg = bgs[int(rng.integers(len(bgs)))]
    base = cv2.resize(bg, (width, height), interpolation=cv2.INTER_LINEAR)
    rows = 2
    per_row = max(1, -(-walkers // rows))
    lane_h = height / rows
    entered = [0] * walkers

    def enter(lane: int, x: float | None = None) -> dict[str, Any]:
        use_subject = lane == 0 and subjects and entered[lane] % 2 == 0
        entered[lane] += 1
        pool = subjects if use_subject else strangers
        cut = pool[int(rng.integers(len(pool)))]
        side = float(rng.uniform(*face_px))
        patch_w = side * (1 + 2 * MARGIN)
        return {"cut": cut, "side": side,
                "x": -patch_w if x is None else x,
                "v": side * float(rng.uniform(*speed)),
                "y": (lane // per_row) * lane_h + float(rng.uniform(0, max(
                    1.0, lane_h - side * (1 + 2 * MARGIN))))}

    # start mid-stream: the lanes' people spread across the width
    people = [enter(i, x=(i % per_row + float(rng.uniform(0, 1))) * width / per_row - 100)
              for i in range(walkers)]
    scenes: list[Scene] = []
    for _ in range(frames):
        noise = rng.normal(0, 3, base.shape)
        frame = np.clip(base.astype(np.float32) + noise, 0, 255).astype(np.uint8)
        boxes: list[Box] = []
        names: list[str] = []
        for lane, person in enumerate(people):
            side = person["side"] * float(rng.uniform(0.97, 1.03))
            box = paste(frame, person["cut"], side, person["x"], person["y"])
            if box is not None:
                boxes.append(box)
                names.append(person["cut"].identity)
            person["x"] += person["v"]
            if person["x"] > width:
                people[lane] = enter(lane)
        scenes.append(Scene(frame, boxes, names))
    return scenes


def match_detections(truth: list[Box], found: list[Box]) -> tuple[int, int]:
    """Greedy one-to-one matching: a detection finds a true face when its centre lies inside
    the true box and its size is within a factor of two. Returns (found faces, false
    detections)."""
    used: set[int] = set()
    hits = 0
    for tx1, ty1, tx2, ty2 in truth:
        tside = max(tx2 - tx1, ty2 - ty1)
        for j, (fx1, fy1, fx2, fy2) in enumerate(found):
            if j in used:
                continue
            cx, cy = (fx1 + fx2) / 2, (fy1 + fy2) / 2
            fside = max(fx2 - fx1, fy2 - fy1)
            if tx1 <= cx <= tx2 and ty1 <= cy <= ty2 and 0.5 <= fside / tside <= 2.0:
                used.add(j)
                hits += 1
                break
    return hits, len(found) - len(used)
