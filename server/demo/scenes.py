"""Synthetic demo scenes: crowds of passers-by on a street, and now and then a watchlist subject.

Everything comes from images already on the machine (no download), and every face is from the
ORL face database (``../shared/datasets/orl_faces``): anonymous research volunteers
photographed at the Olivetti Research Laboratory in 1992-94, whose terms ask users to credit
the laboratory. The watchlist subjects are labelled "Demo subject A/B/C" with fictional demo
scenarios; the passers-by are other ORL volunteers. No other photo is used: the ones installed
packages ship (insightface's samples, scikit-image's astronaut) show real, recognisable people
with no terms for casting them in a police demo. A watchlist subject is enrolled from one photo
and appears in the scenes in a DIFFERENT photo of the same person.

Scenes are written as JPEG files under the demo's data dir with a ``scenes.json`` manifest
saying which subject appears in which scene. They are synthetic demo inputs, not captured
frames.
"""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import msgspec
import numpy as np

from server.recognition.engine import Image
from shared.protocol.base import Category

Size = tuple[int, int]


class Subject(msgspec.Struct, kw_only=True, frozen=True):
    """A demo watchlist entry and where its photos come from."""

    key: str
    display_name: str
    subject_ref: str
    category: Category
    reason: str
    legal_basis: str
    image_source: str
    """Provenance of the reference photo (dataset and file)."""
    image_date: str
    enrol_photo: str
    """Path of the reference photo, relative to the scene folder."""
    probe_source: str
    """Provenance of what the cameras see: another photo, or ``varied copy of ...``."""


class Scene(msgspec.Struct, kw_only=True, frozen=True):
    file: str
    """Path relative to the scene folder."""
    subjects: tuple[str, ...]
    """Keys of the watchlist subjects in the scene."""
    passers_by: int


class SceneSet(msgspec.Struct, kw_only=True, frozen=True):
    """The manifest of one build (``scenes.json``)."""

    size: Size
    subjects: tuple[Subject, ...]
    cameras: dict[str, tuple[Scene, ...]]
    """Scenes per camera key, in streaming order."""
    crowd_sources: tuple[str, ...]


class FaceCrop(msgspec.Struct, frozen=True):
    """A face cut from a photo with some context, and where the face box lies within it."""

    image: Image
    face: tuple[float, float, float, float]
    source: str


DEMO_SUBJECTS: tuple[tuple[str, Category, str], ...] = (
    # (display name, category, reason): fictional demo entries on anonymous volunteers' photos.
    ("Demo subject A", "missing_person",
     "DEMO ONLY, fictional scenario: reported missing. The photos show an anonymous research "
     "volunteer (ORL face database), not a real case."),
    ("Demo subject B", "risk_to_self_or_others",
     "DEMO ONLY, fictional scenario: concern for welfare. The photos show an anonymous "
     "research volunteer (ORL face database), not a real case."),
    ("Demo subject C", "victim",
     "DEMO ONLY, fictional scenario: to be safeguarded. The photos show an anonymous "
     "research volunteer (ORL face database), not a real case."),
)
LEGAL_BASIS = "Demo only: no real authority, no real person sought."


def read_photo(path: Path) -> Image | None:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if image is None else np.ascontiguousarray(image, dtype=np.uint8)


def tight_crop(image: Image, source: str) -> FaceCrop:
    """A photo that is already a face crop (ORL, face-api samples): padded with its border."""
    h, w = image.shape[:2]
    pad_y, pad_x = int(0.35 * h), int(0.35 * w)
    padded = cv2.copyMakeBorder(image, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_REPLICATE)
    face = (pad_x + 0.1 * w, pad_y + 0.1 * h, pad_x + 0.9 * w, pad_y + 0.95 * h)
    return FaceCrop(np.ascontiguousarray(padded, dtype=np.uint8), face, source)


def street(size: Size, rng: random.Random) -> Image:
    """A simple street: sky, a row of buildings with windows, a pavement."""
    width, height = size
    canvas = np.zeros((height, width, 3), np.uint8)
    sky = np.linspace(235, 170, int(height * 0.45), dtype=np.float32)
    canvas[: len(sky)] = np.stack([sky, sky * 0.93, sky * 0.8], axis=1)[:, None, :].astype(np.uint8)
    x = 0
    top_band = int(height * 0.08)
    while x < width:
        bw = rng.randint(width // 10, width // 5)
        top = rng.randint(top_band, int(height * 0.35))
        colour = tuple(rng.randint(70, 170) for _ in range(3))
        cv2.rectangle(canvas, (x, top), (x + bw, int(height * 0.72)), colour, -1)
        for wy in range(top + 12, int(height * 0.62), 34):
            for wx in range(x + 10, x + bw - 18, 28):
                lit = rng.random() < 0.3
                cv2.rectangle(canvas, (wx, wy), (wx + 14, wy + 20),
                              (120, 210, 235) if lit else (60, 60, 70), -1)
        x += bw + rng.randint(0, 8)
    canvas[int(height * 0.72):] = (120, 124, 128)
    cv2.line(canvas, (0, int(height * 0.72)), (width, int(height * 0.72)), (90, 90, 90), 3)
    return canvas


def _paste_person(canvas: Image, crop: FaceCrop, cx: int, face_h: int, rng: random.Random) -> None:
    """A body (shoulders) and the head, blended with a soft oval mask."""
    x1, y1, x2, y2 = crop.face
    scale = face_h / max(1.0, y2 - y1)
    head = cv2.resize(crop.image, (max(8, round(crop.image.shape[1] * scale)),
                                   max(8, round(crop.image.shape[0] * scale))),
                      interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    hh, hw = head.shape[:2]
    face_cx, face_cy = (x1 + x2) / 2 * scale, (y1 + y2) / 2 * scale
    H, W = canvas.shape[:2]
    top_y = int(H * 0.62 - face_h * 1.4)
    left, top = int(cx - face_cx), int(top_y - face_cy + face_h / 2)
    body_colour = tuple(rng.randint(30, 200) for _ in range(3))
    cv2.ellipse(canvas, (cx, int(top + face_cy + face_h * 1.5)),
                (int(face_h * 1.0), int(face_h * 0.9)), 0, 180, 360, body_colour, -1)
    cv2.rectangle(canvas, (cx - int(face_h * 1.0), int(top + face_cy + face_h * 1.5)),
                  (cx + int(face_h * 1.0), H), body_colour, -1)
    mask = np.zeros((hh, hw), np.float32)
    cv2.ellipse(mask, (int(face_cx), int(face_cy)), (int(face_h * 0.95), int(face_h * 1.05)),
                0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, face_h * 0.06))
    # Clip to the canvas.
    l0, t0 = max(0, left), max(0, top)
    r0, b0 = min(W, left + hw), min(H, top + hh)
    if r0 <= l0 or b0 <= t0:
        return
    sub = head[t0 - top:b0 - top, l0 - left:r0 - left].astype(np.float32)
    alpha = mask[t0 - top:b0 - top, l0 - left:r0 - left, None]
    region = canvas[t0:b0, l0:r0].astype(np.float32)
    canvas[t0:b0, l0:r0] = (alpha * sub + (1 - alpha) * region).astype(np.uint8)


def compose(size: Size, crops: list[FaceCrop], rng: random.Random) -> Image:
    """One street scene with the given people standing in a row, spaced so heads never touch."""
    canvas = street(size, rng)
    width = size[0]
    slots = len(crops)
    slot_w = width / max(1, slots)
    order = list(range(slots))
    rng.shuffle(order)
    for slot, index in enumerate(order):
        face_h = rng.randint(int(size[1] * 0.15), int(size[1] * 0.2))
        face_h = min(face_h, int(slot_w * 0.45))
        cx = int(slot_w * (slot + 0.5) + rng.uniform(-0.1, 0.1) * slot_w)
        _paste_person(canvas, crops[index], cx, face_h, rng)
    return canvas
