"""Flip test-time augmentation: a template from a face and its horizontal mirror image.

A face seen in a mirror is the same person, so averaging the embeddings of the face and of its
mirror image (then renormalising) cancels some of the embedder's left/right asymmetry and some
of the photo's own (light from one side, a slightly turned head). The mirror is taken of the
whole image with the landmarks mirrored and their sides swapped, and the engine aligns and
embeds it like any face, so the same code serves every engine through its plain ``embed``
(also across worker processes). Measured with ``python -m server.evaluation.template_study``
(docs/operations.md, "Templates"): with the FacePlugin embedder it gains under a point of TAR
where FMR is measured but thickens the impostor tail the operating threshold extrapolates, and
costs 1.9x the embedding time, so no engine uses it by default
(:data:`server.recognition.enrol.FLIP_ENGINES`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from server.recognition.engine import Face, FaceEngine, Image, Point, Vectors, normalise_rows

MIRROR_68: tuple[int, ...] = (
    *range(16, -1, -1),  # jaw
    *range(26, 16, -1),  # eyebrows
    27, 28, 29, 30,  # nose bridge
    35, 34, 33, 32, 31,  # nostrils
    45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,  # eyes
    54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55,  # outer lips
    64, 63, 62, 61, 60, 67, 66, 65,  # inner lips
)
"""Index of each of the 68 iBUG points in the mirror image (point ``i`` becomes
``MIRROR_68[i]``'s counterpart: left and right swap, the midline stays)."""
MIRROR_DLIB5: tuple[int, ...] = (2, 3, 0, 1, 4)
"""dlib's 5-point model: corners of one eye (0, 1), of the other (2, 3), nose base (4)."""


def mirror_image(image: Image) -> Image:
    """The image flipped left to right."""
    return np.ascontiguousarray(image[:, ::-1])


def mirror_face(face: Face, width: int) -> Face:
    """``face`` as it appears in the mirror image of an image ``width`` pixels wide.

    Pixel centres are at integer coordinates, so ``x`` maps to ``width - 1 - x``; the left
    eye of the mirror image is the mirror of the right eye, and so on. Raw landmark points
    are mirrored for dlib's 5-point and the 68-point layouts and dropped otherwise.
    """

    def m(p: Point) -> Point:
        return (width - 1 - p[0], p[1])

    le, re, nose, lm, rm = face.landmarks
    x1, y1, x2, y2 = face.box
    perm = {5: MIRROR_DLIB5, 68: MIRROR_68}.get(len(face.points))
    points = tuple(m(face.points[j]) for j in perm) if perm is not None else ()
    return Face(
        (width - 1 - x2, y1, width - 1 - x1, y2),
        (m(re), m(le), m(nose), m(rm), m(lm)),
        face.score,
        points,
    )


def embed_with_mirror(engine: FaceEngine, image: Image, faces: Sequence[Face]) -> Vectors:
    """One unit template per face: the mean of the face's and its mirror image's templates.

    Costs two embedder runs per face (the mirror image is embedded in a second call).
    """
    if not faces:
        return engine.embed(image, faces)
    direct = engine.embed(image, faces)
    w = int(image.shape[1])
    mirrored = engine.embed(mirror_image(image), [mirror_face(f, w) for f in faces])
    return normalise_rows(direct + mirrored)
