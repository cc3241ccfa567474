"""Face alignment: a similarity transform that maps five landmarks onto an embedder's template.

Embedders trained with ArcFace-style pipelines expect the face warped so that the eye centres,
nose tip and mouth corners land on fixed points of a 112x112 chip. The transform is the
least-squares similarity (rotation, uniform scale, translation; no shear) of Umeyama (1991),
the same estimate insightface's ``norm_crop`` and scikit-image's ``SimilarityTransform`` give.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from server.recognition.engine import Image, Point

ARCFACE_112: tuple[Point, Point, Point, Point, Point] = (
    (38.2946, 51.6963),
    (73.5318, 51.5014),
    (56.0252, 71.7366),
    (41.5493, 92.3655),
    (70.7299, 92.2041),
)
"""The standard ArcFace template for a 112x112 chip: left eye, right eye (as seen in the
image), nose tip, left and right mouth corner."""

Matrix = npt.NDArray[np.float64]


def similarity_transform(src: Sequence[Point], dst: Sequence[Point]) -> Matrix:
    """Least-squares similarity transform mapping ``src`` points onto ``dst`` points.

    Args:
        src: at least two source points.
        dst: as many destination points.

    Returns:
        A 2x3 affine matrix for :func:`cv2.warpAffine`.

    Raises:
        ValueError: fewer than two points, different counts, or all source points equal.
    """
    s = np.asarray(src, dtype=np.float64)
    d = np.asarray(dst, dtype=np.float64)
    if s.shape != d.shape or s.ndim != 2 or s.shape[1] != 2 or s.shape[0] < 2:
        raise ValueError("need the same number (>= 2) of 2-D source and destination points")
    # Umeyama's SVD solution in closed form: in 2-D the best rotation of the covariance
    # [[c00, c01], [c10, c11]] has cos : sin = (c00 + c11) : (c10 - c01), and its trace
    # against the covariance (Umeyama's reflection-corrected singular value sum) is the
    # length of that vector, so scale x rotation = [[a, -b], [b, a]] / source variance.
    # The same matrix to ~1e-12 px, in plain floats: numpy's small-array overhead (an SVD,
    # two determinants) cost ~5x as much for a face's five points.
    n = len(s)
    (sx, sy), (dx, dy) = s.T.tolist(), d.T.tolist()
    smx, smy, dmx, dmy = sum(sx) / n, sum(sy) / n, sum(dx) / n, sum(dy) / n
    s_var = sum((x - smx) ** 2 + (y - smy) ** 2 for x, y in zip(sx, sy, strict=True)) / n
    if s_var <= 1e-12:
        raise ValueError("source points are all equal")
    a = b = 0.0
    for x, y, u, v in zip(sx, sy, dx, dy, strict=True):
        x, y, u, v = x - smx, y - smy, u - dmx, v - dmy
        a += u * x + v * y  # n x (c00 + c11)
        b += v * x - u * y  # n x (c10 - c01)
    a, b = a / n / s_var, b / n / s_var
    return np.array([[a, -b, dmx - (a * smx - b * smy)],
                     [b, a, dmy - (b * smx + a * smy)]], dtype=np.float64)


def align_face(
    image: Image,
    landmarks: Sequence[Point],
    template: Sequence[Point] = ARCFACE_112,
    size: tuple[int, int] = (112, 112),
) -> Image:
    """Warp the face with the given five landmarks onto the template.

    Args:
        image: BGR image holding the face.
        landmarks: five points in image pixels, in the template's order.
        template: destination points in chip pixels.
        size: chip ``(width, height)``.

    Returns:
        The ``height x width x 3`` chip (pixels outside the image are black).
    """
    m = similarity_transform(landmarks, template)
    chip = cv2.warpAffine(image, m, size, flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    return np.ascontiguousarray(chip, dtype=np.uint8)
