"""Frame-to-frame face association for one camera (pure functions, run in the worker).

A face seen in consecutive frames of a camera is one *track*. The server keeps each camera's
tracks (``server.recognition.camera_tracks``) and sends their predicted boxes with the next
frame; the worker that detects that frame's faces associates them with the tracks here, and
embeds only the faces that need a template (:func:`wants_template`): a face that starts a
track, a face whose association is uncertain (so that a different person taking over a
track is caught by the template check on the server), a face whose quality beats the best
the track was embedded at by :data:`QUALITY_GAIN`, and a face whose track's last template is
older than ``track_refresh_s`` (a bound on how long a person who took over a track's place
unnoticed can go unrecognised).

Association is a minimum-cost assignment (SciPy's Hungarian solver) over the face/track
pairs that pass a gate: boxes that overlap (IoU at least :data:`MIN_IOU`) or, for a face that
moved further than its size between frames (a walking person at 5 fps), centres within
:data:`MAX_JUMP` face sizes and sides within :data:`MAX_SCALE` of each other. Overlap is
preferred to distance. Each track is compared by its last box and by the box its motion
predicts, whichever fits better: frame intervals vary (dropped frames, a busy server), and a
prediction from a short interval can overshoot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec
import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from server.recognition.engine import Face
from server.recognition.tiling import iou_matrix

Box = tuple[float, float, float, float]

MIN_IOU = 0.3
"""Smallest overlap of a face with a track's predicted box that associates them outright."""
STRONG_IOU = 0.5
"""An association at this overlap or more is certain enough to reuse the track's template;
below it the face is embedded again and checked against the track (a crossing, a cut)."""
MAX_JUMP = 1.5
"""Largest centre distance, in face sizes, from a track's predicted box to a face."""
MAX_SCALE = 1.5
"""Largest ratio between the sides of a face and of the track's predicted box."""
QUALITY_GAIN = 1.25
"""A tracked face is embedded again when its quality beats the track's best by this factor."""
SHARPNESS_CAP = 400.0
"""Sharpness (variance of the Laplacian at 64 px) above which a face counts as fully sharp
(the development photos measure 135 to 2,700: beyond a few hundred, more is noise)."""


class TrackHint(msgspec.Struct, frozen=True, array_like=True):
    """What the worker needs of one live track: no template, no pixels."""

    id: int
    box: Box
    """The track's last box."""
    predicted: Box
    """Where its motion puts it at the frame's time (constant velocity)."""
    best_quality: float
    """Quality of the best face embedded into the track so far (0: none yet)."""
    stale: bool = False
    """The track's last template is older than ``track_refresh_s``: embed again."""


def face_quality(face: Face, sharpness: float, *, score_is_probability: bool) -> float:
    """Size x sharpness x detector confidence of one face (larger is better).

    Only ratios between faces of one engine matter: it orders a track's faces and weighs
    their templates. Size is the smaller box side in pixels; sharpness is capped at
    :data:`SHARPNESS_CAP` and scaled to 0..1; a score that is not a probability (dlib HOG)
    goes through a logistic so that it is positive.
    """
    size = max(0.0, min(face.width, face.height))
    sharp = min(max(sharpness, 0.0), SHARPNESS_CAP) / SHARPNESS_CAP
    score = face.score if score_is_probability else 1.0 / (1.0 + math.exp(-face.score))
    return size * sharp * max(score, 0.0)


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two ``x1, y1, x2, y2`` boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def pair_costs(tracks: npt.NDArray[np.float32], faces: npt.NDArray[np.float32],
               ) -> npt.NDArray[np.float64]:
    """The cost of associating each face (rows) with each track box (columns), ``inf`` where
    the pair is gated out (``N x 4`` and ``M x 4`` boxes; one array pass, as a crowded
    camera's frame holds dozens of live tracks).

    Overlapping pairs cost ``1 - IoU`` (0 to 0.7); distant pairs cost ``1`` plus their centre
    distance in :data:`MAX_JUMP` units (1 to 2), so an overlap always wins over a jump.
    """
    overlap = iou_matrix(faces, tracks).astype(np.float64)
    sf = np.maximum(1e-6, np.minimum(faces[:, 2] - faces[:, 0], faces[:, 3] - faces[:, 1]))
    st = np.maximum(1e-6, np.minimum(tracks[:, 2] - tracks[:, 0], tracks[:, 3] - tracks[:, 1]))
    sf, st = sf[:, None].astype(np.float64), st[None, :].astype(np.float64)
    dx = (tracks[None, :, 0] + tracks[None, :, 2] - faces[:, None, 0] - faces[:, None, 2]) / 2
    dy = (tracks[None, :, 1] + tracks[None, :, 3] - faces[:, None, 1] - faces[:, None, 3]) / 2
    jump = np.hypot(dx, dy) / ((st + sf) / 2)
    near = (np.maximum(st, sf) / np.minimum(st, sf) <= MAX_SCALE) & (jump <= MAX_JUMP)
    cost = np.where(near, 1.0 + jump / MAX_JUMP, np.inf)
    return np.where(overlap >= MIN_IOU, 1.0 - overlap, cost)


class Association(msgspec.Struct, frozen=True, array_like=True):
    """Which track each face of a frame continues."""

    track_ids: list[int | None]
    """Per face: the id of the track it continues, or None (it starts a new one)."""
    strong: list[bool]
    """Per face: the association is certain (overlap at least :data:`STRONG_IOU`)."""


def associate(tracks: Sequence[TrackHint], faces: Sequence[Face]) -> Association:
    """Assign faces to tracks, each track to one face at most (minimum total cost)."""
    ids: list[int | None] = [None] * len(faces)
    strong = [False] * len(faces)
    if not tracks or not faces:
        return Association(ids, strong)
    blocked = 1e6
    face_boxes = np.array([f.box for f in faces], dtype=np.float32)
    last = np.array([t.box for t in tracks], dtype=np.float32)
    predicted = np.array([t.predicted for t in tracks], dtype=np.float32)
    cost = np.minimum(pair_costs(last, face_boxes), pair_costs(predicted, face_boxes))
    cost[~np.isfinite(cost)] = blocked
    overlap = np.maximum(iou_matrix(face_boxes, last), iou_matrix(face_boxes, predicted))
    rows, cols = linear_sum_assignment(cost)
    for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
        if cost[i, j] < blocked:
            ids[i] = tracks[j].id
            strong[i] = bool(overlap[i, j] >= STRONG_IOU)
    return Association(ids, strong)


def wants_template(track: TrackHint | None, strong: bool, quality: float) -> bool:
    """Whether a face that passed the quality gate must be embedded (module docstring)."""
    if track is None or track.best_quality <= 0.0 or not strong or track.stale:
        return True
    return quality > track.best_quality * QUALITY_GAIN
