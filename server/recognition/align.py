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
    s_mean, d_mean = s.mean(axis=0), d.mean(axis=0)
    s_c, d_c = s - s_mean, d - d_mean
    s_var = float((s_c**2).sum() / len(s))
    if s_var <= 1e-12:
        raise ValueError("source points are all equal")
    cov = d_c.T @ s_c / len(s)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1] = -1.0  # a reflection is not a similarity: flip the weakest axis instead
    rot = u @ np.diag(sign) @ vt
    scale = float((sig * sign).sum() / s_var)
    m = np.zeros((2, 3), dtype=np.float64)
    m[:, :2] = scale * rot
    m[:, 2] = d_mean - scale * rot @ s_mean
    return m


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
