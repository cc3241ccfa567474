"""Live-like scenes with ground truth, composed from a labelled photo set (``vigil eval --scenes``).

A scene set is built from a dataset laid out as ``DATASET/<identity>/<image>`` whose photos are
face-centred portraits (LFW deep-funneled: 250x250, the face box about 100 px wide in the
centre, :data:`NOMINAL_BOX`). Each 1280x720 frame holds ``faces_per_frame`` faces pasted at a
chosen face width (64 or 40 px) with a soft elliptical edge on a face-free background
(scikit-image's sample pictures), then mildly blurred per face, the whole frame dimmed and
JPEG-compressed (quality 60): the conditions of a street camera at a distance.

Who appears. Identities are split in two halves by a hash of their name
(:func:`identity_part`): ``calibration`` and ``evaluation``; a scene set uses one half only,
so thresholds derived on one half are measured on the other. In that half, identities with two
or more photos are the watchlist candidates: the watchlist is enrolled from each one's FIRST
photo, and a watchlisted person appears in the scenes only with another photo. About
``watchlisted_share`` of the faces are watchlisted people; the rest are passers-by (identities
of the half that are not on the watchlist; a passer-by photo is reused with another size,
position and blur only when the half has too few photos).

Walking mode (:func:`compose_walks`, ``vigil eval --scenes --walk``): frames of one static
camera at 5 fps, where each person is visible for several consecutive frames (5 to 15) and
walks across the frame in a lane of their own, the face size and blur varying a little from
frame to frame; this is where tracking faces across frames can show. Each walker keeps one
photo for the whole walk (the dataset has no video), so consecutive views differ by size,
blur, position and compression only, less than a real person's views do.

These are synthetic evaluation inputs made from a research benchmark, never captured frames.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
Box = tuple[float, float, float, float]

FRAME_W, FRAME_H = 1280, 720
NOMINAL_BOX: Box = (78.0, 85.0, 178.0, 185.0)
"""Face box of an LFW deep-funneled 250x250 photo (dlib HOG's median box on 40 of them: centre
(129, 135), about 100 px wide); a face "pasted at 64 px" has this box scaled to 64 px."""
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
PARTS = ("calibration", "evaluation")


def identity_part(identity: str) -> str:
    """``calibration`` or ``evaluation``: a stable split of identities in two halves."""
    digest = hashlib.sha256(identity.encode()).digest()
    return PARTS[digest[0] & 1]


@dataclass(frozen=True)
class SceneFace:
    """One pasted face: who, where (ground truth box in frame pixels), watchlisted or not."""

    identity: str
    photo: str
    box: Box
    watchlisted: bool
    person: int = -1
    """Walking mode: which walker this is (a person's consecutive frames share it)."""


@dataclass(frozen=True)
class Scene:
    """One composed frame (JPEG bytes) and its faces."""

    jpeg: bytes
    faces: tuple[SceneFace, ...]


@dataclass(frozen=True)
class SceneOptions:
    """What to build (defaults: the issue 12 protocol)."""

    frames: int = 400
    faces_per_frame: int = 4
    face_px: int = 64
    watchlist_size: int = 400
    """Entries enrolled (identities of the half with 2+ photos, taken in a seeded order)."""
    watchlisted_share: float = 0.05
    part: str = "evaluation"
    seed: int = 12
    jpeg_quality: int = 60
    blur_sigma: tuple[float, float] = (0.4, 1.0)
    """Gaussian blur per face, in pixels at the pasted size (mild)."""
    dim: tuple[float, float] = (0.55, 0.9)
    """Brightness factor per frame (dimming; walking mode: one level for the static camera,
    +-3 % per frame)."""
    walk_frames: tuple[int, int] = (5, 15)
    """Walking mode: frames each walker is visible in (inclusive range)."""
    walk_speed: tuple[float, float] = (0.25, 0.8)
    """Walking mode: horizontal movement per frame, in face widths."""
    walk_jitter: float = 0.06
    """Walking mode: per-frame variation of the face size (fraction) and of the blur
    (fraction x 3), around each walker's own size trend (up to 10 % larger over the walk)."""


@dataclass
class Cast:
    """The watchlist (identity -> enrolment photo) and the photos that may appear."""

    watchlist: dict[str, Path]
    appearances: dict[str, list[Path]]
    """Watchlisted identity -> its other photos (scene appearances)."""
    passers_by: list[tuple[str, Path]]
    skipped: dict[str, str] = field(default_factory=dict)


def _photos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)


def cast_for(dataset: Path, options: SceneOptions) -> Cast:
    """Pick the watchlist and the passers-by of one half of ``dataset`` (seeded).

    Raises:
        ValueError: the half has fewer multi-photo identities than the watchlist size asks.
    """
    people = sorted(d for d in dataset.iterdir() if d.is_dir()
                    and identity_part(d.name) == options.part)
    photos = {d.name: _photos(d) for d in people}
    multi = [name for name, ps in photos.items() if len(ps) >= 2]
    rng = random.Random(options.seed)
    rng.shuffle(multi)
    if len(multi) < options.watchlist_size:
        raise ValueError(f"{dataset} ({options.part} half) has {len(multi)} identities with "
                         f"2+ photos; the watchlist asks for {options.watchlist_size}")
    chosen = multi[: options.watchlist_size]
    watchlist = {name: photos[name][0] for name in chosen}
    appearances = {name: photos[name][1:] for name in chosen}
    passers = [(name, p) for name, ps in photos.items() if name not in watchlist for p in ps]
    return Cast(watchlist=watchlist, appearances=appearances, passers_by=passers)


BACKGROUNDS = ("coffee", "rocket", "chelsea", "brick", "gravel", "grass")
"""scikit-image sample pictures with no face in them."""


def backgrounds(names: tuple[str, ...] = BACKGROUNDS) -> list[Image]:
    """1280x720 BGR backgrounds without faces, from scikit-image's sample pictures ``names``."""
    from skimage import data

    out = []
    for name in names:
        img = np.asarray(getattr(data, name)())
        if img.ndim == 2:
            img = np.stack([img] * 3, axis=-1)
        bgr = np.ascontiguousarray(img[:, :, :3][:, :, ::-1])
        out.append(np.asarray(cv2.resize(bgr, (FRAME_W, FRAME_H)), dtype=np.uint8))
    return out


def _scaled(photo: Image, face_px: float, blur_sigma: float) -> tuple[Image, float]:
    """The photo scaled so that its face is ``face_px`` wide, blurred; and the scale."""
    bx1, _, bx2, _ = NOMINAL_BOX
    s = face_px / (bx2 - bx1)
    crop = cv2.resize(photo, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    if blur_sigma > 0:
        crop = cv2.GaussianBlur(crop, (0, 0), blur_sigma)
    return np.asarray(crop, dtype=np.uint8), s


def _place(frame: Image, crop: Image, s: float, face_px: float, ox: int, oy: int) -> Box:
    """Blend a scaled photo into the frame with its top-left at (ox, oy); its face box."""
    bx1, by1, bx2, by2 = NOMINAL_BOX
    centre = (round((bx1 + bx2) / 2 * s), round((by1 + by2) / 2 * s))
    blend_face(frame, crop, (ox, oy), centre,
               axes=(max(2, round(face_px * 0.8)), max(2, round(face_px * 1.05))),
               edge=max(3, (round(face_px) // 5) | 1))
    return (ox + bx1 * s, oy + by1 * s, ox + bx2 * s, oy + by2 * s)


def _paste(frame: Image, photo: Image, face_px: int, rng: np.random.Generator,
           taken: list[Box], blur_sigma: float) -> Box | None:
    bx1, by1, bx2, by2 = NOMINAL_BOX
    crop, s = _scaled(photo, face_px, blur_sigma)
    ch, cw = crop.shape[:2]
    pad = face_px * 0.9
    for _ in range(200):
        ox = int(rng.integers(0, FRAME_W - cw))
        oy = int(rng.integers(0, FRAME_H - ch))
        box = (ox + bx1 * s, oy + by1 * s, ox + bx2 * s, oy + by2 * s)
        if all(box[2] + pad < t[0] or t[2] + pad < box[0] or box[3] + pad < t[1]
               or t[3] + pad < box[1] for t in taken):
            break
    else:
        return None
    box = _place(frame, crop, s, face_px, ox, oy)
    taken.append(box)
    return box


def blend_face(frame: Image, crop: npt.NDArray[Any], at: tuple[int, int], centre: tuple[int, int],
               axes: tuple[int, int], edge: int) -> None:
    """Paste ``crop`` into ``frame`` at ``at`` (x, y) inside a soft-edged ellipse.

    The ellipse (``centre`` and half-``axes`` in crop pixels) keeps the face and a little hair
    and drops the photo's own background, so no square patch edge is left for a detector to
    find; ``edge`` (odd) is the Gaussian kernel that softens the border.
    """
    ch, cw = crop.shape[:2]
    ox, oy = at
    mask = np.zeros((ch, cw), dtype=np.float32)
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, -1)
    soft = cv2.GaussianBlur(mask, (edge, edge), 0)[:, :, None]
    region = frame[oy: oy + ch, ox: ox + cw].astype(np.float32)
    frame[oy: oy + ch, ox: ox + cw] = (soft * crop + (1 - soft) * region).astype(np.uint8)


def compose_scenes(cast: Cast, options: SceneOptions) -> list[Scene]:
    """The frames of a scene set (deterministic for a seed).

    Each watchlisted identity appears at most once per photo; watchlisted faces are spread
    over the frames at ``watchlisted_share`` of all faces.
    """
    rng = np.random.default_rng(options.seed)
    pyrng = random.Random(options.seed + 1)
    total = options.frames * options.faces_per_frame
    wanted = round(total * options.watchlisted_share)
    pool = [(name, p) for name, ps in cast.appearances.items() for p in ps[:1]]
    pyrng.shuffle(pool)
    listed = pool[:wanted]
    passers = list(cast.passers_by)
    pyrng.shuffle(passers)
    slots = [True] * len(listed) + [False] * (total - len(listed))
    pyrng.shuffle(slots)
    bgs = backgrounds()
    scenes: list[Scene] = []
    next_listed = next_passer = 0
    for f in range(options.frames):
        frame = bgs[f % len(bgs)].copy()
        if f % 2:
            frame = np.ascontiguousarray(frame[:, ::-1])
        taken: list[Box] = []
        faces: list[SceneFace] = []
        for k in range(options.faces_per_frame):
            if slots[f * options.faces_per_frame + k] and next_listed < len(listed):
                (name, path), watch = listed[next_listed], True
                next_listed += 1
            else:
                (name, path), watch = passers[next_passer % len(passers)], False
                next_passer += 1
            photo = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if photo is None:
                continue
            sigma = float(rng.uniform(*options.blur_sigma))
            box = _paste(frame, np.asarray(photo, dtype=np.uint8), options.face_px, rng,
                         taken, sigma)
            if box is not None:
                faces.append(SceneFace(name, f"{name}/{path.name}", box, watch))
        scenes.append(_shot(frame, float(rng.uniform(*options.dim)), options.jpeg_quality,
                            faces))
    return scenes


def _shot(frame: Image, dim: float, quality: int, faces: list[SceneFace]) -> Scene:
    """The composed frame dimmed and JPEG-compressed, as the camera would send it."""
    out = np.clip(frame.astype(np.float32) * dim, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return Scene(buf.tobytes(), tuple(faces))


@dataclass(frozen=True)
class Walk:
    """One person crossing the frame: who, when, where, how."""

    person: int
    identity: str
    photo: Path
    watchlisted: bool
    start: int
    """First frame."""
    frames: int
    x: float
    y: float
    """Top-left of the pasted photo in the first frame."""
    dx: float
    """Pixels per frame (negative: walking left)."""
    dy: float
    grow: float
    """Face size at the last frame over the first (approaching the camera)."""
    blur: float


def plan_walks(cast: Cast, options: SceneOptions) -> list[Walk]:
    """Who walks where and when (seeded): ``faces_per_frame`` lanes, one walker per lane at a
    time, about ``watchlisted_share`` of the walkers watchlisted (each watchlisted person
    walks once, with a photo that is not their enrolment photo)."""
    rng = random.Random(options.seed)
    listed = [(name, p) for name, ps in cast.appearances.items() for p in ps[:1]]
    rng.shuffle(listed)
    passers = list(cast.passers_by)
    rng.shuffle(passers)
    lanes = max(1, options.faces_per_frame)
    lane_h = FRAME_H / lanes
    photo_h = 250 * options.face_px / (NOMINAL_BOX[2] - NOMINAL_BOX[0])
    photo_w = photo_h
    walks: list[Walk] = []
    next_listed = next_passer = 0
    for lane in range(lanes):
        t = rng.randint(0, 3)
        while t < options.frames:
            length = rng.randint(*options.walk_frames)
            if rng.random() < options.watchlisted_share and next_listed < len(listed):
                (name, path), watch = listed[next_listed], True
                next_listed += 1
            else:
                (name, path), watch = passers[next_passer % len(passers)], False
                next_passer += 1
            speed = options.face_px * rng.uniform(*options.walk_speed)
            direction = rng.choice((-1.0, 1.0))
            travel = speed * (length - 1)
            room = max(0.0, FRAME_W - photo_w * 1.15 - travel)
            x0 = rng.uniform(0, room)
            x = x0 if direction > 0 else x0 + travel
            y = lane * lane_h + rng.uniform(0, max(0.0, lane_h - photo_h * 1.1))
            walks.append(Walk(
                person=len(walks), identity=name, photo=path, watchlisted=watch, start=t,
                frames=length, x=x, y=y, dx=direction * speed,
                dy=rng.uniform(-0.02, 0.02) * options.face_px, grow=rng.uniform(1.0, 1.1),
                blur=rng.uniform(*options.blur_sigma)))
            t += length + rng.randint(0, 3)
    return walks


def compose_walks(cast: Cast, options: SceneOptions) -> list[Scene]:
    """The frames of a walking scene set (deterministic for a seed; see module docstring)."""
    rng = np.random.default_rng(options.seed)
    walks = plan_walks(cast, options)
    background = backgrounds(BACKGROUNDS[:1])[0]
    photos: dict[Path, Image] = {}
    scenes: list[Scene] = []
    light = float(rng.uniform(*options.dim))  # one static camera: one light level
    for f in range(options.frames):
        frame = background.copy()
        faces: list[SceneFace] = []
        for walk in walks:
            k = f - walk.start
            if not 0 <= k < walk.frames:
                continue
            if walk.photo not in photos:
                photo = cv2.imread(str(walk.photo), cv2.IMREAD_COLOR)
                if photo is None:
                    continue
                photos[walk.photo] = np.asarray(photo, dtype=np.uint8)
            trend = 1.0 + (walk.grow - 1.0) * k / max(1, walk.frames - 1)
            jitter = options.walk_jitter
            size = options.face_px * trend * (1.0 + float(rng.uniform(-jitter, jitter)))
            sigma = walk.blur * (1.0 + 3 * float(rng.uniform(-jitter, jitter)))
            crop, s = _scaled(photos[walk.photo], size, max(0.0, sigma))
            ch, cw = crop.shape[:2]
            ox = int(min(max(0.0, walk.x + walk.dx * k), FRAME_W - cw))
            oy = int(min(max(0.0, walk.y + walk.dy * k), FRAME_H - ch))
            box = _place(frame, crop, s, size, ox, oy)
            faces.append(SceneFace(walk.identity, f"{walk.identity}/{walk.photo.name}", box,
                                   walk.watchlisted, walk.person))
        scenes.append(_shot(frame, light * (1.0 + float(rng.uniform(-0.03, 0.03))),
                            options.jpeg_quality, faces))
    return scenes
