"""A pack's own 68-point landmark model (``landmarks.kind = "onnx68"``).

The FacePlugin package's ``fr_landmark.onnx`` reads the detected box cut out of the frame,
shrunk to 64x64 and turned grey (pixel / 256), and gives each of the 68 points (dlib's
numbering) as a fraction of the box's width and height: the package's own code does exactly
this before aligning a face for its embedder. One batched call for every face of a frame when
the installed graph allows it.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from server.recognition.engine import Image

Floats = npt.NDArray[np.float32]


class LandmarkModel:
    """68 points per detected box from an ONNX landmark model."""

    def __init__(self, session: ort.InferenceSession, input_size: tuple[int, int],
                 batched: bool) -> None:
        self._session = session
        self._input = session.get_inputs()[0].name
        self._size = (int(input_size[0]), int(input_size[1]))
        self._batched = batched

    def points(self, image: Image, boxes: Floats) -> Floats:
        """``N x 68 x 2`` frame pixels for ``N`` boxes (``x1, y1, x2, y2``) of a BGR frame."""
        n = len(boxes)
        if n == 0:
            return np.zeros((0, 68, 2), dtype=np.float32)
        w, h = self._size
        blob = np.empty((n, 1, h, w), dtype=np.float32)
        origin = np.empty((n, 2), dtype=np.float32)
        extent = np.empty((n, 2), dtype=np.float32)
        for i, box in enumerate(boxes):
            x0, y0, x1, y1 = cut(box, image.shape[1], image.shape[0])
            grey = cv2.cvtColor(cv2.resize(image[y0:y1, x0:x1], (w, h)), cv2.COLOR_BGR2GRAY)
            np.multiply(grey, np.float32(1.0 / 256.0), out=blob[i, 0], dtype=np.float32)
            origin[i] = (x0, y0)
            extent[i] = (x1 - x0, y1 - y0)
        if self._batched:
            out = np.asarray(self._session.run(None, {self._input: blob})[0])
        else:
            out = np.concatenate([self._session.run(None, {self._input: blob[i : i + 1]})[0]
                                  for i in range(n)])
        pts = out.reshape(n, -1, 2).astype(np.float32)
        return pts * extent[:, None, :] + origin[:, None, :]


def cut(box: Floats, width: int, height: int) -> tuple[int, int, int, int]:
    """The box's pixels inside the frame, at least one pixel each way."""
    x0 = min(max(0, round(float(box[0]))), width - 1)
    y0 = min(max(0, round(float(box[1]))), height - 1)
    x1 = max(min(width, round(float(box[2]))), x0 + 1)
    y1 = max(min(height, round(float(box[3]))), y0 + 1)
    return x0, y0, x1, y1

