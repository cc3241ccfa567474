"""Live-like 1280x720 test scenes composed from real face photos at known face sizes.

Faces come from the development datasets (``../shared/datasets``) when present and from the
photos installed packages ship (insightface's ``t1.jpg`` and Tom Hanks, scikit-image's
astronaut); tight face crops (faceapi_bbt's 150 px photos) are left out, since a face pasted
without its head reads as a square patch, not a person. Ground-truth boxes come from dlib's
HOG detector on the source photo, an engine independent of the ONNX detector under test.
Each face is pasted, scaled so that its ground-truth box is ``size`` pixels wide, with a soft
elliptical edge, at a random position on a background without faces (scikit-image sample
images). Also usable by ``make bench``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import dlib
import numpy as np
import numpy.typing as npt

from server.evaluation.scenes import backgrounds as load_backgrounds
from server.evaluation.scenes import blend_face

Image = npt.NDArray[np.uint8]
Box = tuple[float, float, float, float]

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
FRAME_W, FRAME_H = 1280, 720


@dataclass(frozen=True)
class FaceSource:
    """A face crop with its ground-truth box in crop pixels."""

    crop: Image
    box: Box


def _photos() -> list[Path]:
    found: list[Path] = []
    for name in ("faceapi_bbt", "face_recognition_examples"):
        folder = DATASETS / name
        if folder.is_dir():
            found += sorted(p for p in folder.glob("*/*") if p.suffix.lower() in
                            (".jpg", ".jpeg", ".png"))
    return found


def _packaged() -> list[Image]:
    import insightface
    from skimage import data

    images = Path(os.path.dirname(insightface.__file__)) / "data" / "images"
    out = []
    for name in ("t1.jpg", "Tom_Hanks_54745.png"):
        img = cv2.imread(str(images / name), cv2.IMREAD_COLOR)
        if img is not None:
            out.append(np.asarray(img, dtype=np.uint8))
    astronaut = np.asarray(data.astronaut(), dtype=np.uint8)  # type: ignore[no-untyped-call]
    out.append(np.ascontiguousarray(astronaut[:, :, ::-1]))
    return out


def face_sources(limit: int = 24) -> list[FaceSource]:
    """Up to ``limit`` face crops (two face widths of margin) with dlib HOG boxes."""
    detector = dlib.get_frontal_face_detector()
    images: list[Image] = []
    for path in _photos():
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is not None:
            images.append(np.asarray(img, dtype=np.uint8))
    images += _packaged()
    sources: list[FaceSource] = []
    for img in images:
        if max(img.shape[:2]) < 200:
            continue  # too small to hold a face of 60 px with a head's margin around it
        scale = min(1.0, 800 / max(img.shape[:2]))
        small = cv2.resize(img, None, fx=scale, fy=scale) if scale < 1 else img
        # No upsampling: HOG then finds faces of 80 px and up, all that is kept here.
        rects, scores, _ = detector.run(cv2.cvtColor(small, cv2.COLOR_BGR2RGB), 0, 0.0)
        for r, score in zip(rects, scores, strict=True):
            if score < 0.5:
                continue  # HOG's weak detections include the astronaut's suit badge
            if r.width() < 60:
                continue  # small source faces would be blurry when pasted at 96 px
            x1, y1, x2, y2 = (v / scale for v in (r.left(), r.top(), r.right(), r.bottom()))
            m = x2 - x1
            if min(x1, y1, img.shape[1] - x2, img.shape[0] - y2) < 0.6 * m:
                continue  # a tight face crop pasted whole looks like a tile, not a person
            cx1, cy1 = max(0, round(x1 - m)), max(0, round(y1 - m))
            cx2, cy2 = min(img.shape[1], round(x2 + m)), min(img.shape[0], round(y2 + m))
            crop = np.ascontiguousarray(img[cy1:cy2, cx1:cx2])
            sources.append(FaceSource(crop, (x1 - cx1, y1 - cy1, x2 - cx1, y2 - cy1)))
            if len(sources) >= limit:
                return sources
    return sources


def backgrounds() -> list[Image]:
    """1280x720 BGR backgrounds without faces."""
    return load_backgrounds(("coffee", "rocket", "hubble_deep_field", "immunohistochemistry",
                             "brick", "gravel"))


def compose(
    sources: list[FaceSource], size: int, count: int, seed: int, background: Image
) -> tuple[Image, list[Box]]:
    """One frame with ``count`` faces whose ground-truth boxes are ``size`` px wide.

    Returns:
        The frame and the ground-truth boxes in frame pixels.
    """
    rng = np.random.default_rng(seed)
    frame = background.copy()
    taken: list[Box] = []
    boxes: list[Box] = []
    for k in range(count):
        src = sources[int(rng.integers(len(sources)))] if k else sources[seed % len(sources)]
        bx1, by1, bx2, by2 = src.box
        s = size / (bx2 - bx1)
        crop = cv2.resize(src.crop, None, fx=s, fy=s,
                          interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        ch, cw = crop.shape[:2]
        if cw >= FRAME_W or ch >= FRAME_H:
            continue
        for _ in range(200):
            ox = int(rng.integers(0, FRAME_W - cw))
            oy = int(rng.integers(0, FRAME_H - ch))
            box = (ox + bx1 * s, oy + by1 * s, ox + bx2 * s, oy + by2 * s)
            pad = size * 0.8
            if all(box[2] + pad < t[0] or t[2] + pad < box[0] or box[3] + pad < t[1]
                   or t[3] + pad < box[1] for t in taken):
                break
        else:
            continue
        centre = (round((bx1 + bx2) / 2 * s), round((by1 + by2) / 2 * s))
        blend_face(frame, crop, (ox, oy), centre,
                   axes=(max(2, round(size * 0.95)), max(2, round(size * 1.2))),
                   edge=max(3, (size // 6) | 1))
        taken.append(box)
        boxes.append(box)
    return frame, boxes


def match(truth: list[Box], found: list[Box]) -> tuple[int, int]:
    """(ground-truth faces found, detections matching no face).

    A detection finds a face when its centre lies inside the ground-truth box and its width
    is within a factor of two of the ground truth's (detectors draw boxes differently).
    """
    used: set[int] = set()
    hits = 0
    for t in truth:
        tw = t[2] - t[0]
        for i, f in enumerate(found):
            cx, cy = (f[0] + f[2]) / 2, (f[1] + f[3]) / 2
            fw = f[2] - f[0]
            if (i not in used and t[0] <= cx <= t[2] and t[1] <= cy <= t[3]
                    and 0.5 * tw <= fw <= 2.0 * tw):
                used.add(i)
                hits += 1
                break
    return hits, len(found) - len(used)
