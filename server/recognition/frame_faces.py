"""One camera frame from JPEG bytes to the templates of its usable faces.

decode -> detect -> quality gate -> embed, in one call, so that a worker process does a whole
frame per round trip: the JPEG bytes go in (not a pickled array), faces and templates come
out, and the decoded pixels never leave the process that decoded them. Searching, the
threshold and the probe crop stay with the caller (``server.pipeline.analysis``).

With the camera's live tracks (``tracks``, see ``server.recognition.tracking``) the same call
also associates the faces with the tracks and embeds only the faces that need a template;
the crops of those faces come back too (the track keeps its best one for a later alert).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, cast

import numpy as np

from server.recognition.crops import probe_crop
from server.recognition.engine import Face, FaceEngine, Image, Vectors
from server.recognition.image_io import decode_image
from server.recognition.motion import (
    Grid,
    SceneHint,
    changed_boxes,
    explained_boxes,
    grid_of,
    track_boxes,
)
from server.recognition.quality import assess, sharpness
from server.recognition.timing import StageTimer
from server.recognition.tracking import (
    Box,
    TrackHint,
    associate,
    face_quality,
    wants_template,
)
from server.settings import Settings


class SizedDetector(Protocol):
    """An engine whose detection can skip faces below a size (fewer tiles, see ``tiling``)
    and treat a camera frame as such (``camera``: whole levels, see ``ssd_levels``); such an
    engine sets a true ``sized_detection`` class attribute. One whose ``regional_detection``
    is true also takes ``regions``: look only there at the finer levels (see ``motion``)."""

    def detect(
        self, image: Image, timer: StageTimer | None = None, *, min_face_px: float = 0.0,
        camera: bool = False, regions: Sequence[Box] | None = None,
    ) -> list[Face]: ...


class LateLocator(Protocol):
    """A sized detector that can leave landmarks out (``deferred_landmarks`` true) and
    measure them later for the faces that need them."""

    def detect(
        self, image: Image, timer: StageTimer | None = None, *, min_face_px: float = 0.0,
        locate: bool = True, camera: bool = False, regions: Sequence[Box] | None = None,
    ) -> list[Face]: ...

    def locate(self, image: Image, faces: Sequence[Face], timer: StageTimer | None = None,
               ) -> list[Face]: ...


def detect_faces(
    engine: FaceEngine, image: Image, timer: StageTimer | None, min_face_px: float,
    regions: Sequence[Box] | None = None,
) -> list[Face]:
    """``engine.detect`` on a camera frame, told the smallest face size the camera needs and
    where to look (``regions``, None: everywhere) when it can use them."""
    if getattr(engine, "sized_detection", False):
        if regions is not None:
            return cast(SizedDetector, engine).detect(image, timer, min_face_px=min_face_px,
                                                      camera=True, regions=regions)
        return cast(SizedDetector, engine).detect(image, timer, min_face_px=min_face_px,
                                                  camera=True)
    return engine.detect(image, timer)


def look_where(engine: FaceEngine, image: Image, tracks: Sequence[TrackHint],
               scene: SceneHint | None, timer: StageTimer) -> tuple[Grid | None,
                                                                    list[Box] | None]:
    """The frame's grid (kept for the next frame) and the regions its finer detector levels
    look at (None: everywhere, a full frame), see ``server.recognition.motion``."""
    if scene is None or not getattr(engine, "regional_detection", False):
        return None, None
    with timer.stage("motion"):
        grid = grid_of(image)
        if scene.full or scene.previous is None:
            return grid, None
        changed = changed_boxes(scene.previous, grid, covered=explained_boxes(tracks))
        return grid, changed + track_boxes(tracks)


def defers_landmarks(engine: FaceEngine) -> bool:
    """Whether the engine's landmarks cost enough to measure them only where needed."""
    return bool(getattr(engine, "deferred_landmarks", False))


def frame_pixels(settings: Settings) -> int:
    """The pixel limit of a camera frame (never above the limit of any image)."""
    return min(settings.max_frame_pixels, settings.max_image_pixels)


def decode_frame(jpeg: bytes, settings: Settings) -> Image:
    """Decode a camera frame within the frame limits.

    Raises:
        ImageRefused: ``undecodable_image`` or ``image_too_large``.
    """
    return decode_image(jpeg, max_bytes=settings.max_image_bytes,
                        max_pixels=frame_pixels(settings), downscale=settings.downscale_frames)


@dataclass(frozen=True)
class FrameFaces:
    """The faces of one frame and the templates of those that passed the quality gate."""

    faces: list[Face]
    """Every face detected (the quality gate's rejects included: they are counted, and
    blurred in a probe crop)."""
    good: list[int]
    """Indices into ``faces`` of the faces that were embedded."""
    vectors: Vectors
    """One template per ``good`` face, in that order."""
    image: Image | None = None
    """The decoded frame when it was decoded in this process (``keep_image``), else None."""
    tracked: bool = False
    """Whether the faces were associated with the camera's tracks (the fields below)."""
    track_ids: list[int | None] = field(default_factory=list)
    """Per face: the track it continues, or None (a new track)."""
    quality: list[float] = field(default_factory=list)
    """Per face: ``tracking.face_quality`` (0 for a face the quality gate rejected; for a face
    that needed no template and was not gated, its quality as if it passed)."""
    crops: list[bytes] = field(default_factory=list)
    """Per ``good`` face, with tracks: its probe crop (other faces blurred)."""
    grid: Grid | None = None
    """With a scene hint: this frame's grid, for the next frame's (``motion``)."""
    full: bool = True
    """Whether every level was searched everywhere (no regions)."""


def find_faces(
    engine: FaceEngine, jpeg: bytes, settings: Settings, min_face_px: float,
    timer: StageTimer, *, keep_image: bool = True, tracks: Sequence[TrackHint] | None = None,
    scene: SceneHint | None = None,
) -> FrameFaces:
    """Decode, detect, gate and embed one frame.

    Args:
        tracks: the camera's live tracks (None: no tracking, every good face is embedded).
        scene: with ``tracks``, what the camera's last frame leaves to this one to detect
            only where needed (None: detect everywhere).

    Raises:
        ImageRefused: ``undecodable_image`` or ``image_too_large``.
    """
    with timer.stage("decode"):
        image = decode_frame(jpeg, settings)
    prob = bool(getattr(engine, "score_is_probability", False))
    grid, regions = look_where(engine, image, tracks, scene, timer) if tracks is not None \
        else (None, None)
    if tracks is not None and defers_landmarks(engine):
        found = _tracked_late_landmarks(cast(LateLocator, engine), engine, image, settings,
                                        min_face_px, timer, tracks, keep_image, prob, regions)
        return replace(found, grid=grid, full=regions is None)
    faces = detect_faces(engine, image, timer, min_face_px, regions)
    with timer.stage("quality"):
        reports = [assess(image, f, settings.quality, score_is_probability=prob)
                   for f in faces]
    if tracks is None:
        good = [i for i, r in enumerate(reports) if r.ok]
        return FrameFaces(faces, good, _embed(engine, image, faces, good, timer),
                          image if keep_image else None)
    with timer.stage("track"):
        quality = [face_quality(f, r.sharpness, score_is_probability=prob) if r.ok else 0.0
                   for f, r in zip(faces, reports, strict=True)]
        assoc = associate(tracks, faces)
        by_id: dict[int | None, TrackHint] = {t.id: t for t in tracks}
        good = [i for i, r in enumerate(reports) if r.ok and wants_template(
            by_id.get(assoc.track_ids[i]), assoc.strong[i], quality[i])]
    vectors = _embed(engine, image, faces, good, timer)
    with timer.stage("crop"):
        crops = [probe_crop(image, faces[i], faces) for i in good]
    return FrameFaces(faces, good, vectors, image if keep_image else None, tracked=True,
                      track_ids=assoc.track_ids, quality=quality, crops=crops, grid=grid,
                      full=regions is None)


def _tracked_late_landmarks(
    locator: LateLocator, engine: FaceEngine, image: Image, settings: Settings,
    min_face_px: float, timer: StageTimer, tracks: Sequence[TrackHint], keep_image: bool,
    prob: bool, regions: Sequence[Box] | None,
) -> FrameFaces:
    """:func:`find_faces` with tracks for an engine whose landmarks cost a model run per face.

    The decision to embed needs no landmarks (association is by box, quality is size x
    sharpness x score), so landmarks are measured, and the pose gate run, only for the faces
    that want a template: a tracked face seen again at no better quality costs its detection
    and sharpness only. The faces embedded, their templates and crops are those of the
    landmarks-first order; only ``quality`` of a face that needed no template differs (not
    gated, so never 0).
    """
    if regions is not None:
        faces = locator.detect(image, timer, min_face_px=min_face_px, locate=False,
                               camera=True, regions=regions)
    else:
        faces = locator.detect(image, timer, min_face_px=min_face_px, locate=False,
                               camera=True)
    with timer.stage("track"):
        assoc = associate(tracks, faces)
        by_id: dict[int | None, TrackHint] = {t.id: t for t in tracks}
        sharp = [sharpness(image, f) for f in faces]
        quality = [face_quality(f, s, score_is_probability=prob)
                   for f, s in zip(faces, sharp, strict=True)]
        wanted = [i for i in range(len(faces)) if wants_template(
            by_id.get(assoc.track_ids[i]), assoc.strong[i], quality[i])]
    located = locator.locate(image, [faces[i] for i in wanted], timer)
    for i, face in zip(wanted, located, strict=True):
        faces[i] = face
    good: list[int] = []
    with timer.stage("quality"):
        for i in wanted:
            # locating moved no box: the sharpness measured above is this face's
            if assess(image, faces[i], settings.quality, score_is_probability=prob,
                      sharp=sharp[i]).ok:
                good.append(i)
            else:
                quality[i] = 0.0
    vectors = _embed(engine, image, faces, good, timer)
    with timer.stage("crop"):
        crops = [probe_crop(image, faces[i], faces) for i in good]
    return FrameFaces(faces, good, vectors, image if keep_image else None, tracked=True,
                      track_ids=assoc.track_ids, quality=quality, crops=crops)


def _embed(engine: FaceEngine, image: Image, faces: list[Face], which: list[int],
           timer: StageTimer) -> Vectors:
    if not which:
        return np.zeros((0, engine.dim), dtype=np.float32)
    return engine.embed(image, [faces[i] for i in which], timer)
