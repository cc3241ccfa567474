"""The ``onnx`` engine: ONNX Runtime models from an installed pack (see ``packs``).

Pipeline per frame: the detector runs on a pyramid of the frame, from the scale the camera's
``min_face_px`` needs down to the frame fitted into its input. Where the detector graph allows
(the FacePlugin SSD does), each level goes through it whole, in one call per level
(:mod:`server.recognition.ssd_levels`); otherwise, and for images too large for that (enrolment
photos), levels are cut into overlapping tiles run in one batched call (see
:mod:`server.recognition.tiling`). Detections are merged by NMS; where the pack asks for it
(``verify_contexts``), every candidate scoring below the pack's ``verify_below`` is looked at
again, centred and rescaled, and kept only if the detector agrees (one batched call per look);
five alignment points come from 68 landmarks on each box, measured by the pack's own landmark
model (:mod:`server.recognition.landmark_model`) or dlib's predictor, or from the detector
itself (SCRFD); ``embed`` warps every face onto the embedder's template and runs them all in
one batched call. Providers: CUDA when ONNX Runtime has it, else CPU; on the CPU the embedder
runs on OpenVINO where it is installed and gives ONNX Runtime's templates (about half the CPU
per face; :mod:`server.recognition.openvino_runtime`, setting ``embedder_runtime``).

Thread safety: ONNX Runtime sessions allow concurrent ``run`` calls; the dlib predictor is
kept per thread.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import cv2
import dlib
import face_recognition_models
import msgspec
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from server.errors import PackError
from server.recognition.align import align_face
from server.recognition.engine import Face, Image, Point, Vectors, normalise_rows
from server.recognition.landmark_model import LandmarkModel
from server.recognition.openvino_runtime import OpenVinoEmbedder, choose_embedder, parse_runtime
from server.recognition.packs.manifest import (
    DetectorSpec,
    Normalisation,
    PackManifest,
    read_manifest,
    verify_files,
)
from server.recognition.scrfd import decode_scrfd
from server.recognition.ssd import decode_offsets, make_priors
from server.recognition.ssd_levels import (
    Crop,
    Level,
    decode_level,
    free_size_graph,
    plan_levels,
    plan_regions,
)
from server.recognition.tiling import (
    Tile,
    cut_tiles,
    finest_scale,
    inner_edge_mask,
    iou_matrix,
    nms,
    plan_tiles,
    to_frame,
)
from server.recognition.timing import StageTimer, stage
from server.recognition.tracking import Box

log = logging.getLogger(__name__)

Floats = npt.NDArray[np.float32]

MAX_BATCH = 96
"""Most detector inputs per call: a 1280x720 frame is 27 tiles and a 1920x1080 one 65, each
one call; a 16-megapixel enrolment photo (~500 tiles) goes in several, so that its input
never needs more than ~90 MB."""
EDGE_MARGIN = 2.0
"""A box within this many tile pixels of an inner tile edge is a cut face (dropped)."""
VERIFY_IOU = 0.4
"""The second look agrees when it finds a box overlapping the candidate by more than this."""
CONTAIN = 0.75
"""A box lying this much inside a better box is a part of that face found at a finer level."""
PART = 0.2
"""A box overlapping a better box of 1.5 times its area by this much of its own area is a
part of that face (a tile cut a large face and its chin looked like a small one; seen on the
development photos) and is dropped."""


class SessionTuning(msgspec.Struct, frozen=True):
    """ONNX Runtime session settings (both sessions of an engine use the same).

    The defaults are the best of ``python -m bench --only onnx_sessions`` on the 2-core
    development machine (docs/operations.md, "Performance"): frames/s with every worker
    process busy, each configuration measured in the same run.
    """

    threads: int = 0
    """Intra-op threads per session; 0: :func:`default_threads` for the worker count."""
    inter_threads: int = 1
    """Inter-op threads (used only by the parallel execution mode)."""
    parallel: bool = False
    """``ORT_PARALLEL`` execution mode instead of ``ORT_SEQUENTIAL``: the graphs are chains,
    so parallel branches buy nothing and its pool is threads that compete with the workers."""
    optimisation: Literal["basic", "extended", "all"] = "all"
    """Graph optimisation level (``all``: constant folding, operator fusion and layout
    changes)."""
    arena: bool = True
    """The CPU memory arena (reuses the per-call activation buffers)."""
    spinning: bool = False
    """Intra-op threads spin while waiting for work: on 2 cores a spinning thread steals the
    CPU the other worker and the event loop need."""


OPTIMISATION = {
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def default_threads(workers: int = 1) -> int:
    """Intra-op threads per session for ``workers`` engine processes sharing the machine.

    ``cores // workers``, at least 1 and at most 4, so that workers x threads never exceeds
    the cores: the server runs frames on several workers (``Settings.workers``) and giving
    each ONNX call every core as well only makes the threads fight over them.
    """
    return max(1, min(4, (os.cpu_count() or 2) // max(1, workers)))


def providers() -> list[str]:
    """CUDA first when this ONNX Runtime build has it, CPU always."""
    available = ort.get_available_providers()
    chosen = [p for p in ("CUDAExecutionProvider",) if p in available]
    return [*chosen, "CPUExecutionProvider"]


def session_options(threads: int, tuning: SessionTuning | None = None) -> ort.SessionOptions:
    """Options for a session on a small CPU shared with the server's other work.

    Args:
        threads: intra-op threads (see :func:`default_threads`).
        tuning: the other settings (default :class:`SessionTuning`).
    """
    t = tuning or SessionTuning()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = max(1, t.inter_threads)
    opts.execution_mode = (ort.ExecutionMode.ORT_PARALLEL if t.parallel
                           else ort.ExecutionMode.ORT_SEQUENTIAL)
    opts.graph_optimization_level = OPTIMISATION[t.optimisation]
    opts.enable_cpu_mem_arena = t.arena
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if t.spinning else "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "1" if t.spinning else "0")
    opts.log_severity_level = 3
    return opts


def _session(path: Path, threads: int, tuning: SessionTuning | None) -> ort.InferenceSession:
    opts = session_options(threads, tuning)
    try:
        return ort.InferenceSession(str(path), opts, providers=providers())
    except Exception as exc:  # ORT raises untyped errors for unloadable graphs
        raise PackError(
            "pack_unloadable", f"{path.name}: ONNX Runtime cannot load it: {exc}"
        ) from exc


def _session_from(graph: bytes, name: str, threads: int, tuning: SessionTuning | None,
                  ) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(graph, session_options(threads, tuning),
                                    providers=providers())
    except Exception as exc:  # ORT raises untyped errors for unloadable graphs
        raise PackError(
            "pack_unloadable", f"{name}: ONNX Runtime cannot load it: {exc}"
        ) from exc


def to_blob(images: Image, norm: Normalisation) -> Floats:
    """``N x H x W x 3`` BGR uint8 -> ``N x 3 x H x W`` float32 network input.

    Written channel by channel into the output (no float copy of the whole batch in HWC
    order, no strided colour swap): about 10x faster than the obvious numpy expression.
    """
    n, h, w = images.shape[:3]
    blob = np.empty((n, 3, h, w), dtype=np.float32)
    order = (2, 1, 0) if norm.colour == "rgb" else (0, 1, 2)
    scale = np.float32(1.0 / norm.std)
    for i, ch in enumerate(order):
        np.subtract(images[..., ch], np.float32(norm.mean), out=blob[:, i], dtype=np.float32)
        blob[:, i] *= scale
    return blob


class OnnxEngine:
    """Face engine built from an installed model pack (see module docstring)."""

    name = "onnx"
    score_is_probability = True
    sized_detection = True
    """``detect`` takes ``min_face_px`` (see ``server.recognition.frame_faces``)."""
    releases_gil = False
    """ONNX Runtime releases the GIL while a graph runs, but dlib's 68-point predictor, the
    tile cutting and the box decoding do not: sampled with ``py-spy --gil`` under the bench's
    4-camera load, frame analysis held the GIL for ~60% of the samples (dlib's landmark
    predictor alone ~30%, when the FacePlugin pack used it), which is event-loop lag. So the
    server runs this engine in worker processes too (:mod:`server.recognition.process_engine`)."""

    def __init__(
        self, pack_dir: Path, threads: int | None = None, verify: bool = True,
        tuning: SessionTuning | None = None, whole_levels: bool = True,
        runtime: str = "auto",
    ) -> None:
        """Load a pack.

        Args:
            pack_dir: the pack folder (``<model root>/<name>``).
            threads: intra-op threads per session (default: ``tuning.threads``, else
                :func:`default_threads` for one worker).
            verify: check every file's sha256 first (refuses a tampered pack).
            tuning: ONNX Runtime session settings (default :class:`SessionTuning`).
            whole_levels: run each level of a camera-sized frame through the detector in
                one piece where its graph allows (:mod:`server.recognition.ssd_levels`);
                False: overlapping tiles always (the bench's comparison).
            runtime: which runtime embeds (``auto``, ``onnxruntime`` or ``openvino``; see
                :mod:`server.recognition.openvino_runtime`).

        Raises:
            PackError: the pack is missing, invalid, tampered with or unloadable;
                ``unknown_runtime`` for a runtime name that does not exist; ``runtime_*``
                when ``runtime="openvino"`` and OpenVINO is absent, fails or disagrees.
        """
        self.pack_dir = Path(pack_dir)
        self.runtime_setting = parse_runtime(runtime)
        self.manifest: PackManifest = read_manifest(self.pack_dir)
        if verify:
            verify_files(self.pack_dir, self.manifest)
        m = self.manifest
        self._tuning = tuning or SessionTuning()
        self._threads = threads or self._tuning.threads or None
        self.model_id = m.embedder.model_id
        self.dim = m.embedder.embedding_size
        self.detector_id = m.detector.model_id
        self.threads = self._threads or default_threads()
        self._det = _session(self.pack_dir / m.detector.file, self.threads, self._tuning)
        self._emb = _session(self.pack_dir / m.embedder.file, self.threads, self._tuning)
        self._det_input = self._det.get_inputs()[0].name
        self._emb_input = self._emb.get_inputs()[0].name
        self._ov: OpenVinoEmbedder | None
        self._ov, self.embedder_runtime_reason = choose_embedder(
            self.runtime_setting, self.pack_dir / m.embedder.file, self.threads,
            self._embed_ort, m.embedder.input_size,
            on_cpu=self._emb.get_providers()[0] == "CPUExecutionProvider")
        self.embedder_runtime = "openvino" if self._ov is not None else "onnxruntime"
        """The runtime that embeds: ``openvino`` or ``onnxruntime``."""
        self._det_outputs = [o.name for o in self._det.get_outputs()]
        self._levels: ort.InferenceSession | None = None
        free = free_size_graph(self.pack_dir / m.detector.file, m.detector) \
            if whole_levels and m.detector.tiled else None
        if free is not None:
            self._levels = _session_from(free, m.detector.file, self.threads, self._tuning)
        self.whole_levels = self._levels is not None
        self._priors: Floats | None = None
        d = m.detector
        if d.kind == "ssd" and d.box_encoding == "offsets":
            if d.priors is None:
                raise PackError("pack_invalid", f"{m.name}: offset boxes need a prior layout")
            p = d.priors
            self._priors = make_priors(d.input_size[0], d.input_size[1], p.min_sizes, p.steps)
        self._local = threading.local()
        if m.landmarks.kind == "detector" and (
            d.kind != "scrfd" or len(self._det_outputs) != 3 * len(d.strides)
        ):
            raise PackError("pack_invalid", f"{m.name}: the detector gives no landmarks")
        if m.landmarks.kind == "dlib68":
            self._predictor()  # load now: a missing predictor fails at start-up
        self._landmark_model: LandmarkModel | None = None
        if m.landmarks.kind == "onnx68":
            assert m.landmarks.file is not None  # read_manifest refuses onnx68 without one
            self._landmark_model = LandmarkModel(
                _session(self.pack_dir / m.landmarks.file, self.threads, self._tuning),
                m.landmarks.input_size, m.landmarks.batch == "dynamic")
        self.providers = list(self._det.get_providers())
        log.info("onnx engine: pack %s %s, model %s, providers %s, %d intra-op thread(s), "
                 "embedder on %s (%s)", m.name, m.version, self.model_id,
                 ",".join(self.providers), self.threads, self.embedder_runtime,
                 self.embedder_runtime_reason)

    def factory(self, workers: int = 1) -> Callable[[], OnnxEngine]:
        """A picklable builder of an equivalent engine for one of ``workers`` worker
        processes (the pack's files were verified when this one loaded).

        Unless threads were set explicitly, each worker's sessions get
        ``default_threads(workers)`` intra-op threads: workers x threads <= cores. The
        embedder runtime setting goes as it was given: each worker compiles its own OpenVINO
        graph and checks its agreement with ONNX Runtime there.
        """
        threads = self._threads or default_threads(workers)
        return functools.partial(OnnxEngine, self.pack_dir, threads, verify=False,
                                 tuning=self._tuning, whole_levels=self.whole_levels,
                                 runtime=self.runtime_setting)

    # -- detection -------------------------------------------------------------------------

    @property
    def regional_detection(self) -> bool:
        """Whether a camera frame's finer levels can be looked at in regions only (whole
        levels, not tiles)."""
        return self._levels is not None

    @property
    def deferred_landmarks(self) -> bool:
        """Whether landmarks cost a model run per face (the pack's landmark model ~1 ms a
        face, dlib's predictor ~2) and can be left to :meth:`locate` for the faces that need
        them."""
        return self.manifest.landmarks.kind != "detector"

    def detect(
        self, image: Image, timer: StageTimer | None = None, *, min_face_px: float = 0.0,
        locate: bool = True, camera: bool = False, regions: Sequence[Box] | None = None,
    ) -> list[Face]:
        """Find faces in a BGR frame, best first (scores are probabilities).

        Args:
            image: BGR frame.
            timer: stage times, if wanted.
            min_face_px: the smallest face side (frame pixels) the caller needs; larger than
                the detector's own smallest, detection starts at a coarser level (fewer
                pixels; 0: every face the detector can find, e.g. enrolment photos).
            locate: measure the landmarks; False leaves them to :meth:`locate` (faces come
                back with ``located`` False) where they cost a model run of their own
                (``deferred_landmarks``).
            camera: a camera frame: its levels go through the detector whole where the graph
                allows (``whole_levels``). Photos (enrolment, evaluation) keep the tiles: the
                calibrated thresholds were measured on templates of tile-detected faces, and
                the two plans' boxes differ by ~10 % of the face width, which moves the dlib
                landmarks (template cosine median 0.997, 5th percentile 0.956 on lfw_dev).
            regions: with ``camera``, the boxes (frame pixels) where a face can be; every
                level but the coarsest looks only there (see ``motion``). None: everywhere.
        """
        h, w = image.shape[:2]
        if h < 2 or w < 2 or image.ndim != 3 or image.shape[2] != 3:
            return []  # decode_image never gives these; a caller's empty crop finds nothing
        d = self.manifest.detector
        tw, th = d.input_size
        with stage(timer, "detect"):
            finest = finest_scale(min_face_px, d.min_face_px)
            levels = (plan_levels(w, h, tw, th, finest, d.min_face_px)
                      if camera and self._levels is not None else None)
            found: list[tuple[Floats, Floats, Floats | None]] = []
            if levels is not None:
                coarsest = len(levels) - 1
                found.extend(self._detect_level(image, level, d,
                                                None if k == coarsest else regions)
                             for k, level in enumerate(levels))
            else:
                tiles = plan_tiles(w, h, tw, th, d.tile_overlap, d.tiled, finest)
                for start in range(0, len(tiles), MAX_BATCH):
                    chunk = tiles[start : start + MAX_BATCH]
                    blob = to_blob(cut_tiles(image, chunk, tw, th), d.norm)
                    found.append(self._decode(self._run_detector(blob), chunk, d))
            boxes = np.concatenate([f[0] for f in found])
            scores = np.concatenate([f[1] for f in found])
            kps_parts = [f[2] for f in found if f[2] is not None]
            kps: Floats | None = np.concatenate(kps_parts) if kps_parts else None
            keep = nms(boxes, scores, d.nms_iou, CONTAIN, PART)
        boxes, scores = boxes[keep], scores[keep]
        kps = kps[keep] if kps is not None else None
        if d.verify_contexts and len(boxes):
            with stage(timer, "verify"):
                boxes, scores, kps = self._verify(image, boxes, scores, kps, d)
        boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, w)
        boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, h)
        with stage(timer, "landmarks"):
            if kps is not None and self.manifest.landmarks.kind == "detector":
                faces = [_face_from_five(b, s, k) for b, s, k in zip(boxes, scores, kps,
                                                                     strict=True)]
            elif locate:
                faces = self._landmarks(image, boxes, scores)
            else:
                faces = [_unlocated(b, s) for b, s in zip(boxes, scores, strict=True)]
        faces.sort(key=lambda f: f.score, reverse=True)
        return faces

    def _detect_level(self, image: Image, level: Level, d: DetectorSpec,
                      regions: Sequence[Box] | None = None) -> tuple[Floats, Floats, None]:
        """Boxes (frame pixels) and scores of one whole level (see ``ssd_levels``), or of its
        crops around ``regions`` when they cover little of it."""
        assert self._levels is not None
        h, w = image.shape[:2]
        # Area averaging is the faithful shrink but costs 6 ms for 1280x720 -> 768x432 (a
        # ratio that is no whole number); bilinear is 8x cheaper and, down to half size,
        # reads every source pixel anyway (same recall on the composed scenes).
        interpolation = cv2.INTER_LINEAR if level.scale >= 0.5 else cv2.INTER_AREA
        crops = None if regions is None else plan_regions(list(regions), level)
        inputs: list[Image]
        if crops is None:
            crops = [Crop(0, 0, level.width, level.height, level.padded_w, level.padded_h)]
            inputs = [_whole_level(image, level, interpolation)]
        else:
            scaled = image if (level.width, level.height) == (w, h) else np.asarray(
                cv2.resize(image, (level.width, level.height), interpolation=interpolation),
                dtype=np.uint8)
            inputs = [_padded_crop(scaled, crop) for crop in crops]
        all_boxes, all_scores = [], []
        for crop, padded in zip(crops, inputs, strict=True):
            scores, offsets = self._levels.run(None, {self._det_input: to_blob(padded, d.norm)})
            part = Level(level.scale, crop.width, crop.height, crop.padded_w, crop.padded_h,
                         level.max_side)
            boxes, kept = decode_level(np.asarray(scores)[0], np.asarray(offsets)[0], part, d)
            boxes += np.array([crop.x, crop.y] * 2, dtype=np.float32) / np.float32(level.scale)
            # a box at an edge of the crop inside the level is a face the crop cut: the
            # regions' margins hold every face they were drawn for, whole
            left, top, right, bottom = (e / level.scale for e in crop.inner_edges(level))
            whole = ((boxes[:, 0] > left + EDGE_MARGIN) & (boxes[:, 1] > top + EDGE_MARGIN)
                     & (boxes[:, 2] < right - EDGE_MARGIN)
                     & (boxes[:, 3] < bottom - EDGE_MARGIN))
            all_boxes.append(boxes[whole])
            all_scores.append(kept[whole])
        return np.concatenate(all_boxes), np.concatenate(all_scores), None

    def _run_detector(self, blob: Floats) -> list[npt.NDArray[np.float32]]:
        if self.manifest.detector.batch == "dynamic":
            return [np.asarray(o) for o in self._det.run(None, {self._det_input: blob})]
        runs = [self._det.run(None, {self._det_input: blob[i : i + 1]}) for i in range(len(blob))]
        # Fixed-batch graphs may have no batch axis (SCRFD's [N, C]): add one, then stack.
        return [
            np.stack([np.asarray(r[j]).reshape(-1, np.asarray(r[j]).shape[-1]) for r in runs])
            for j in range(len(self._det_outputs))
        ]

    def _decode_one(
        self, outputs: list[npt.NDArray[np.float32]], i: int, d: DetectorSpec
    ) -> tuple[Floats, Floats, Floats | None]:
        """Boxes (input pixels), scores and landmarks of input ``i`` of a batch."""
        if d.kind == "ssd":
            boxes, scores = self._decode_ssd(outputs, i, d)
            return boxes, scores, None
        tw, th = d.input_size
        return decode_scrfd(outputs, tw, th, d.strides, d.anchors_per_cell, i, d.score_threshold)

    def _decode(
        self, outputs: list[npt.NDArray[np.float32]], tiles: list[Tile], d: DetectorSpec
    ) -> tuple[Floats, Floats, Floats | None]:
        tw, th = d.input_size
        all_boxes: list[Floats] = []
        all_scores: list[Floats] = []
        all_kps: list[Floats] = []
        for i, tile in enumerate(tiles):
            boxes, scores, kps = self._decode_one(outputs, i, d)
            cut = inner_edge_mask(boxes, tile, tw, th, EDGE_MARGIN)
            all_boxes.append(to_frame(boxes[~cut], tile))
            all_scores.append(scores[~cut])
            if kps is not None:
                all_kps.append(to_frame(kps[~cut], tile))
        boxes_out = np.concatenate(all_boxes)
        scores_out = np.concatenate(all_scores)
        kps_out = np.concatenate(all_kps) if all_kps else None
        return boxes_out, scores_out, kps_out

    def _verify(
        self, image: Image, boxes: Floats, scores: Floats, kps: Floats | None, d: DetectorSpec
    ) -> tuple[Floats, Floats, Floats | None]:
        """Keep the candidates the second looks agree with (see ``verify_contexts``); those
        scoring ``verify_below`` or more are kept without a look."""
        keep = np.ones(len(boxes), dtype=bool)
        looked = np.flatnonzero(scores < d.verify_below) if d.verify_below is not None \
            else np.arange(len(boxes))
        scores = scores.copy()
        for context in d.verify_contexts:
            if not len(looked):
                break
            second = self._second_look(image, boxes[looked], d, context)
            ok = second >= d.score_threshold
            keep[looked[~ok]] = False
            scores[looked] = np.minimum(scores[looked], second)
            looked = looked[ok]
        return boxes[keep], scores[keep], kps[keep] if kps is not None else None

    def _second_look(
        self, image: Image, boxes: Floats, d: DetectorSpec, context: float
    ) -> Floats:
        """Score of each candidate seen again centred with ``context`` face sizes around it,
        all candidates in one batched call (0 where the detector does not agree)."""
        tw, th = d.input_size
        crops = np.zeros((len(boxes), th, tw, 3), dtype=np.uint8)
        expected = np.zeros((len(boxes), 4), dtype=np.float32)
        for i, (x1, y1, x2, y2) in enumerate(boxes.astype(np.float64)):
            bw, bh = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
            s = min(tw / (context * bw), th / (context * bh))
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            m = np.array([[s, 0, tw / 2 - s * cx], [0, s, th / 2 - s * cy]])
            crops[i] = cv2.warpAffine(image, m, (tw, th), flags=cv2.INTER_LINEAR)
            expected[i] = (tw / 2 - s * bw / 2, th / 2 - s * bh / 2,
                           tw / 2 + s * bw / 2, th / 2 + s * bh / 2)
        second = np.zeros(len(boxes), dtype=np.float32)
        for i in range(len(boxes)):
            if i % MAX_BATCH == 0:
                outputs = self._run_detector(to_blob(crops[i : i + MAX_BATCH], d.norm))
            found, scores, _ = self._decode_one(outputs, i % MAX_BATCH, d)
            if len(found):
                agree = iou_matrix(expected[i : i + 1], found)[0] > VERIFY_IOU
                if agree.any():
                    second[i] = scores[agree].max()
        return second

    def _decode_ssd(
        self, outputs: list[npt.NDArray[np.float32]], i: int, d: DetectorSpec
    ) -> tuple[Floats, Floats]:
        names = self._det_outputs
        scores = outputs[names.index(d.score_output)][i]
        boxes = outputs[names.index(d.box_output)][i]
        if self._priors is not None:
            p = d.priors
            assert p is not None
            boxes = decode_offsets(boxes, self._priors, p.centre_variance, p.size_variance)
        face = scores[:, 1] if scores.ndim == 2 and scores.shape[1] == 2 else scores.reshape(-1)
        keep = face >= d.score_threshold
        tw, th = d.input_size
        scale = np.array([tw, th, tw, th], dtype=np.float32)
        return (boxes[keep] * scale).astype(np.float32), face[keep].astype(np.float32)

    # -- landmarks -------------------------------------------------------------------------

    def _predictor(self) -> Any:
        pred = getattr(self._local, "predictor", None)
        if pred is None:
            pred = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
            self._local.predictor = pred
        return pred

    def _landmarks(self, image: Image, boxes: Floats, scores: Floats) -> list[Face]:
        """The faces of ``boxes`` with their 68 points and the five taken from them."""
        if self._landmark_model is not None:
            points = [tuple((float(x), float(y)) for x, y in pts)
                      for pts in self._landmark_model.points(image, boxes)]
        else:
            points = [dlib_points(self._predictor(), image, box) for box in boxes]
        return [Face((float(b[0]), float(b[1]), float(b[2]), float(b[3])), five_from_68(pts),
                     float(score), pts)
                for b, score, pts in zip(boxes, scores, points, strict=True)]

    def locate(self, image: Image, faces: Sequence[Face], timer: StageTimer | None = None,
               ) -> list[Face]:
        """The faces with measured landmarks (those already measured come back as they are)."""
        todo = [i for i, f in enumerate(faces) if not f.located]
        out = list(faces)
        if not todo:
            return out
        with stage(timer, "landmarks"):
            boxes = np.array([faces[i].box for i in todo], dtype=np.float32)
            scores = np.array([faces[i].score for i in todo], dtype=np.float32)
            for i, face in zip(todo, self._landmarks(image, boxes, scores), strict=True):
                out[i] = face
        return out

    # -- embedding -------------------------------------------------------------------------

    def chips(self, image: Image, faces: Sequence[Face]) -> Image:
        """The aligned face chips ``N x H x W x 3`` (BGR) that ``embed`` feeds the embedder."""
        e = self.manifest.embedder
        size = (int(e.input_size[0]), int(e.input_size[1]))
        out = np.zeros((len(faces), size[1], size[0], 3), dtype=np.uint8)
        for i, face in enumerate(faces):
            out[i] = align_face(image, face.landmarks, e.template, size)
        return out

    def embed(
        self, image: Image, faces: Sequence[Face], timer: StageTimer | None = None
    ) -> Vectors:
        """One unit-length template per face, all faces in one batched call."""
        if not faces:
            return np.zeros((0, self.dim), dtype=np.float32)
        faces = self.locate(image, faces, timer)  # never aligned on placeholder points
        with stage(timer, "align"):
            blob = to_blob(self.chips(image, faces), self.manifest.embedder.norm)
        with stage(timer, "embed"):
            vectors = self.embed_blob(blob)
        return normalise_rows(vectors)

    def embed_blob(self, blob: Floats) -> Floats:
        """Run the embedder on prepared input (batched when the installed graph allows), on
        OpenVINO where it was chosen (``embedder_runtime``)."""
        if self._ov is not None:
            return self._ov.run(blob)
        return self._embed_ort(blob)

    def _embed_ort(self, blob: Floats) -> Floats:
        if self.manifest.embedder.batch == "dynamic":
            out = self._emb.run(None, {self._emb_input: blob})[0]
        else:
            out = np.concatenate(
                [self._emb.run(None, {self._emb_input: blob[i : i + 1]})[0]
                 for i in range(len(blob))]
            )
        return np.asarray(out, dtype=np.float32).reshape(len(blob), -1)


def _padded_crop(scaled: Image, crop: Crop) -> Image:
    """``1 x padded_h x padded_w x 3``: the crop's level pixels, black beyond them."""
    padded = np.zeros((1, crop.padded_h, crop.padded_w, 3), dtype=np.uint8)
    padded[0, : crop.height, : crop.width] = scaled[crop.y : crop.y + crop.height,
                                                    crop.x : crop.x + crop.width]
    return padded


def _whole_level(image: Image, level: Level, interpolation: int) -> Image:
    """:func:`_padded_crop` of a whole level, the frame shrunk straight into the padded input
    (no level-sized copy, only the padding zeroed)."""
    padded = np.empty((1, level.padded_h, level.padded_w, 3), dtype=np.uint8)
    padded[0, level.height :] = 0
    padded[0, : level.height, level.width :] = 0
    inside = padded[0, : level.height, : level.width]
    if image.shape[:2] == (level.height, level.width):
        inside[...] = image
    else:
        shrunk = cv2.resize(image, (level.width, level.height), dst=inside,
                            interpolation=interpolation)
        if not np.shares_memory(shrunk, inside):  # OpenCV wrote elsewhere: copy it in
            inside[...] = shrunk
    return padded


def dlib_box(box: Floats) -> tuple[int, int, int, int]:
    """The box dlib's 68-point predictor expects for a detector box.

    The predictor was trained on dlib HOG boxes, which are square. On the development photos
    the FacePlugin SSD box is 0.92 as wide and 1.13 as tall as dlib's, with the same centre;
    the square of side ``width / 0.92`` on the same centre gives landmarks within 1.5% of the
    inter-eye distance of those from dlib's own box (median 1.1%).
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    half = (x2 - x1) / 0.92 / 2
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return (round(cx - half), round(cy - half), round(cx + half), round(cy + half))


def dlib_points(predictor: Any, image: Image, box: Floats) -> tuple[Point, ...]:
    """dlib's 68 points for a detector box (``predictor``: dlib's 68-point shape predictor)."""
    h, w = image.shape[:2]
    left, top, right, bottom = dlib_box(box)
    # Grey of the face's surroundings only (a 1280x720 frame's whole grey copy cost about as
    # much as the crops of ten faces): the predictor reads pixels near its points, well inside
    # a margin of one box side, and reads those outside the frame as 0 either way, so the
    # points are those of the whole frame's grey.
    side = right - left
    x0, y0 = max(0, left - side), max(0, top - side)
    x1, y1 = min(w, right + side), min(h, bottom + side)
    if x1 <= x0 or y1 <= y0:  # a box wholly outside the frame: nothing to read
        x0, y0, x1, y1 = 0, 0, w, h
    grey = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
    shape = predictor(grey, dlib.rectangle(left - x0, top - y0, right - x0, bottom - y0))
    return tuple((float(p.x + x0), float(p.y + y0)) for p in shape.parts())


def five_from_68(p: Sequence[Point]) -> tuple[Point, Point, Point, Point, Point]:
    """Eye centres (image left first), nose tip and mouth corners from 68 points (dlib's
    numbering, which the FacePlugin landmark model shares)."""

    def mean(idx: range) -> Point:
        return (sum(p[i][0] for i in idx) / len(idx), sum(p[i][1] for i in idx) / len(idx))

    return (mean(range(36, 42)), mean(range(42, 48)), p[30], p[48], p[54])


NOMINAL_FIVE = ((0.3, 0.4), (0.7, 0.4), (0.5, 0.6), (0.35, 0.8), (0.65, 0.8))
"""Where the five points of a frontal face lie in its box (fractions of width and height):
placeholders for a face whose landmarks were not measured (``Face.located`` False)."""


def _unlocated(box: Floats, score: np.float32) -> Face:
    x1, y1, x2, y2 = (float(v) for v in box)
    pts = [(x1 + fx * (x2 - x1), y1 + fy * (y2 - y1)) for fx, fy in NOMINAL_FIVE]
    return Face((x1, y1, x2, y2), (pts[0], pts[1], pts[2], pts[3], pts[4]), float(score),
                located=False)


def _face_from_five(box: Floats, score: np.float32, kps: Floats) -> Face:
    pts = [(float(kps[2 * j]), float(kps[2 * j + 1])) for j in range(5)]
    five = (pts[0], pts[1], pts[2], pts[3], pts[4])
    b = (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
    return Face(b, five, float(score), tuple(pts))
