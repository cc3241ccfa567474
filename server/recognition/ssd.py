"""SSD-style prior boxes and their decoding (the "RFB-320" layout of the FacePlugin detector).

An SSD detector predicts, for every prior box (anchor), a face probability and four offsets.
Priors sit at the centre of every cell of every feature map (one map per stride), one per
minimum size of that map. Offsets decode as in the original SSD: centre
``prior_c + loc_c * centre_variance * prior_wh``, size ``prior_wh * exp(loc_wh * size_variance)``.

Some exported graphs (the FacePlugin one among them) already contain this decoding and output
corner boxes relative to the input; the pack manifest says which (``box_encoding``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float32]


def make_priors(
    input_w: int, input_h: int, min_sizes: list[list[float]], steps: list[int]
) -> Floats:
    """Prior boxes ``cx, cy, w, h`` relative to the input (0..1), in the network's order.

    The order is stride by stride, then row by row, column by column, then min size: the
    order in which the graph concatenates its per-stride outputs.

    Raises:
        ValueError: ``min_sizes`` and ``steps`` differ in length.
    """
    if len(min_sizes) != len(steps):
        raise ValueError("one list of minimum sizes per step is needed")
    rows: list[Floats] = []
    for sizes, step in zip(min_sizes, steps, strict=True):
        fw, fh = -(-input_w // step), -(-input_h // step)  # ceiling division
        # Cell centres divide by the rounded-up map size (240/32 -> 8 cells, not 7.5), as the
        # FacePlugin graph's own prior constants do (checked by the tests).
        cx = (np.arange(fw, dtype=np.float32) + 0.5) / fw
        cy = (np.arange(fh, dtype=np.float32) + 0.5) / fh
        gy, gx = np.meshgrid(cy, cx, indexing="ij")
        centres = np.stack([gx.ravel(), gy.ravel()], axis=1)
        wh = np.array([[s / input_w, s / input_h] for s in sizes], dtype=np.float32)
        grid = np.concatenate(
            [np.repeat(centres, len(sizes), axis=0), np.tile(wh, (len(centres), 1))], axis=1
        )
        rows.append(grid)
    return np.clip(np.concatenate(rows, axis=0), 0.0, 1.0).astype(np.float32)


def decode_offsets(
    loc: Floats, priors: Floats, centre_variance: float, size_variance: float
) -> Floats:
    """Decode ``... x N x 4`` offsets into corner boxes ``x1, y1, x2, y2`` relative to the input."""
    centre = loc[..., :2] * centre_variance * priors[:, 2:] + priors[:, :2]
    size = np.exp(loc[..., 2:] * size_variance) * priors[:, 2:]
    return np.concatenate([centre - size / 2, centre + size / 2], axis=-1).astype(np.float32)
