"""Decoding the outputs of InsightFace's SCRFD detectors (the ``det_*.onnx`` of buffalo packs).

SCRFD is anchor-free in effect: for each stride (8, 16, 32) it predicts, at every cell and for
``anchors`` anchors per cell, a face score, four distances from the cell centre to the box
sides and, in the ``kps`` variants, five landmark offsets; distances and offsets are in
stride units. The graph has ``3 x strides`` outputs ordered scores, boxes, landmarks, each
``[N, C]`` or ``[batch, N, C]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float32]


def anchor_centres(input_w: int, input_h: int, stride: int, anchors: int) -> Floats:
    """Cell centres ``x, y`` in input pixels, row by row, each repeated ``anchors`` times.

    SCRFD places anchor centres at the cell's top-left corner (``x * stride``), not its middle.
    """
    fw, fh = input_w // stride, input_h // stride
    gy, gx = np.mgrid[:fh, :fw]
    centres = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32) * stride
    return np.repeat(centres, anchors, axis=0) if anchors > 1 else centres


def decode_scrfd(
    outputs: Sequence[npt.NDArray[np.float32]],
    input_w: int,
    input_h: int,
    strides: Sequence[int],
    anchors: int,
    batch_index: int,
    threshold: float,
) -> tuple[Floats, Floats, Floats | None]:
    """Boxes, scores and landmarks above ``threshold`` for one image of a batch.

    Args:
        outputs: the graph's outputs in order (scores, boxes[, landmarks] per stride).
        input_w: network input width.
        input_h: network input height.
        strides: feature strides, in output order.
        anchors: anchors per cell.
        batch_index: which image of the batch (outputs without a batch axis hold one).
        threshold: smallest score kept.

    Returns:
        ``boxes`` (``N x 4`` input pixels), ``scores`` (``N``) and ``landmarks``
        (``N x 10``, interleaved x, y) or ``None`` for models without landmarks.

    Raises:
        ValueError: the number of outputs does not match the strides.
    """
    n = len(strides)
    if len(outputs) not in (2 * n, 3 * n):
        raise ValueError(f"SCRFD with {n} strides has {2 * n} or {3 * n} outputs, not "
                         f"{len(outputs)}")
    with_kps = len(outputs) == 3 * n

    def pick(i: int) -> Floats:
        out = np.asarray(outputs[i], dtype=np.float32)
        return out[batch_index] if out.ndim == 3 else out

    boxes, scores, kps = [], [], []
    for i, stride in enumerate(strides):
        score = pick(i).reshape(-1)
        dist = pick(n + i).reshape(-1, 4) * stride
        centres = anchor_centres(input_w, input_h, stride, anchors)
        if len(centres) != len(score):
            raise ValueError(f"stride {stride}: {len(score)} scores for {len(centres)} anchors")
        keep = score >= threshold
        c = centres[keep]
        d = dist[keep]
        boxes.append(np.concatenate([c - d[:, :2], c + d[:, 2:]], axis=1))
        scores.append(score[keep])
        if with_kps:
            k = pick(2 * n + i).reshape(-1, 10)[keep] * stride
            k[:, 0::2] += c[:, :1]
            k[:, 1::2] += c[:, 1:]
            kps.append(k)
    out_kps = np.concatenate(kps).astype(np.float32) if with_kps else None
    return (
        np.concatenate(boxes).astype(np.float32),
        np.concatenate(scores).astype(np.float32),
        out_kps,
    )
