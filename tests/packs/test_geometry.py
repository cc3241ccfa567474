"""Prior boxes, tiling, NMS and alignment: the arithmetic the ONNX engine rests on."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from server.recognition.align import ARCFACE_112, align_face, similarity_transform
from server.recognition.onnx_engine import to_blob
from server.recognition.packs import read_manifest
from server.recognition.ssd import decode_offsets, make_priors
from server.recognition.tiling import Tile, inner_edge_mask, nms, plan_tiles
from tests.packs import scenes


def test_prior_decoding_matches_the_graphs_own(
    faceplugin_pack: Path,
    scene_sources: list[scenes.FaceSource],
    scene_backgrounds: list[scenes.Image],
) -> None:
    """Our RFB-320 priors + SSD decoding reproduce the boxes the FacePlugin graph decodes
    itself (its raw offsets are tensor ``462``, just before the graph's decoding)."""
    m = read_manifest(faceplugin_pack)
    p = m.detector.priors
    assert p is not None
    model = onnx.load(str(faceplugin_pack / m.detector.file))
    model.graph.output.append(onnx.helper.make_tensor_value_info("462", onnx.TensorProto.FLOAT,
                                                                 None))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    frame, _ = scenes.compose(scene_sources, 64, 3, 0, scene_backgrounds[0])
    small = np.asarray(cv2.resize(frame, (320, 240)), dtype=np.uint8)
    x = to_blob(small[None], m.detector.norm)
    _, boxes, raw = sess.run(None, {"input": x})
    priors = make_priors(320, 240, p.min_sizes, p.steps)
    assert priors.shape == (4420, 4)
    decoded = decode_offsets(raw[0], priors, p.centre_variance, p.size_variance)
    np.testing.assert_allclose(decoded, boxes[0], atol=1e-5)


@pytest.mark.parametrize(("w", "h"), [(1280, 720), (1920, 1080), (640, 480), (200, 100)])
def test_tiles_cover_the_frame_with_overlap(w: int, h: int) -> None:
    tiles = plan_tiles(w, h, 320, 240, 64)
    whole = tiles[-1]
    assert whole.x == 0
    assert whole.y == 0
    assert whole.level_w <= 320
    assert whole.level_h <= 240
    for scale in {t.scale for t in tiles[:-1]}:
        level = [t for t in tiles if t.scale == scale]
        covered = np.zeros((level[0].level_h, level[0].level_w), dtype=np.int32)
        for t in level:
            covered[t.y : t.y + 240, t.x : t.x + 320] += 1
        assert covered.min() >= 1
        xs = sorted({t.x for t in level})
        # neighbours overlap by at least the requested 64 px
        assert all(b - a <= 320 - 64 for a, b in itertools.pairwise(xs))


def test_1280x720_plan_is_27_tiles() -> None:
    # 5x4 full-resolution tiles, 3x2 at half resolution, one whole-frame pass.
    assert len(plan_tiles(1280, 720, 320, 240, 64)) == 27


def test_cut_faces_at_inner_tile_edges_are_dropped() -> None:
    tile = Tile(1.0, 240, 0, 1280, 720)  # left edge inside the frame, top edge at the border
    boxes = np.array([[0.5, 10, 40, 50], [10, 0.5, 50, 40], [100, 100, 140, 140],
                      [280, 10, 319.5, 50]], dtype=np.float32)
    assert inner_edge_mask(boxes, tile, 320, 240, 2.0).tolist() == [True, False, False, True]


def test_nms_keeps_best_and_drops_contained_parts() -> None:
    boxes = np.array([[0, 0, 100, 100], [5, 5, 105, 105], [200, 200, 260, 260],
                      [10, 10, 50, 50]], dtype=np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6], dtype=np.float32)
    assert nms(boxes, scores, 0.4) == [0, 2, 3]  # box 3 overlaps box 0 little (IoU 0.16)...
    assert nms(boxes, scores, 0.4, contain=0.75) == [0, 2]  # ...but lies wholly inside it


def test_nms_drops_a_small_box_hanging_off_a_large_face() -> None:
    face = [263, 142, 431, 378]  # measured: a face and its chin found at a finer level
    chin = [274, 321, 427, 464]  # (1.8 times smaller, 40 % of it inside the face)
    beside = [425, 150, 525, 270]  # a neighbour overlapping the face a little
    boxes = np.array([face, chin, beside], dtype=np.float32)
    scores = np.array([1.0, 0.82, 0.9], dtype=np.float32)
    assert nms(boxes, scores, 0.3, 0.75) == [0, 2, 1]
    assert nms(boxes, scores, 0.3, 0.75, part=0.2) == [0, 2]


def _pairwise_nms(boxes: np.ndarray, scores: np.ndarray, iou: float, contain: float,
                  part: float) -> list[int]:
    """Greedy NMS written out box against kept box (the definition ``nms`` must keep)."""
    area = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
    kept: list[int] = []
    for i in np.argsort(-scores, kind="stable").tolist():
        ok = True
        for k in kept:
            w = min(boxes[i, 2], boxes[k, 2]) - max(boxes[i, 0], boxes[k, 0])
            h = min(boxes[i, 3], boxes[k, 3]) - max(boxes[i, 1], boxes[k, 1])
            inter = max(w, 0) * max(h, 0)
            over = inter / max(area[i] + area[k] - inter, 1e-9)
            inside = inter / max(area[i], 1e-9)
            if over > iou or inside > contain or (area[k] >= 1.5 * area[i] and inside > part):
                ok = False
                break
        if ok:
            kept.append(i)
    return kept


def test_nms_keeps_the_boxes_greedy_pairwise_suppression_keeps() -> None:
    rng = np.random.default_rng(13)
    for case in range(300):
        n = int(rng.integers(0, 60))
        corner = rng.uniform(0, 400, (n, 2))
        boxes = np.concatenate([corner, corner + rng.uniform(5, 150, (n, 2))],
                               axis=1).astype(np.float32)
        # ties too: the order of equal scores is the stable one
        scores = rng.choice(rng.uniform(0, 1, 6), n).astype(np.float32)
        args = [(0.4, 1.0, 1.0), (0.4, 0.75, 1.0), (0.3, 0.75, 0.2)][case % 3]
        assert nms(boxes, scores, *args) == _pairwise_nms(boxes, scores, *args), case


def test_similarity_transform_recovers_a_known_one() -> None:
    angle, scale, shift = np.deg2rad(17), 1.7, np.array([12.0, -5.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = np.array(ARCFACE_112)
    dst = src @ rot.T + shift
    m = similarity_transform([tuple(p) for p in src], [tuple(p) for p in dst])
    np.testing.assert_allclose(m[:, :2], rot, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], shift, atol=1e-9)
    with pytest.raises(ValueError, match="all equal"):
        similarity_transform([(1, 1)] * 5, list(ARCFACE_112))


def _umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Umeyama's least-squares similarity by SVD (what the closed form must equal)."""
    s_c, d_c = src - src.mean(axis=0), dst - dst.mean(axis=0)
    u, sig, vt = np.linalg.svd(d_c.T @ s_c / len(src))
    sign = np.array([1.0, -1.0 if np.linalg.det(u) * np.linalg.det(vt) < 0 else 1.0])
    rot = u @ np.diag(sign) @ vt
    scale = (sig * sign).sum() / ((s_c**2).sum() / len(src))
    return np.concatenate([scale * rot, (dst.mean(axis=0) - scale * rot @ src.mean(axis=0))
                           [:, None]], axis=1)


def test_similarity_transform_is_umeyamas_least_squares_one() -> None:
    """Noisy, mirrored (no rotation fits: the best one is kept) and random point sets."""
    rng = np.random.default_rng(5)
    for case in range(300):
        n = int(rng.integers(2, 70))
        src = rng.uniform(-100, 1500, (n, 2))
        if case % 3 == 0:
            a, scale = rng.uniform(-np.pi, np.pi), rng.uniform(0.05, 5)
            rot = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
            dst = src @ rot.T + rng.uniform(-300, 300, 2) + rng.normal(0, 2, (n, 2))
        elif case % 3 == 1:
            dst = src * np.array([-1.0, 1.0]) + rng.normal(0, 5, (n, 2))
        else:
            dst = rng.uniform(0, 112, (n, 2))
        m = similarity_transform([tuple(p) for p in src], [tuple(p) for p in dst])
        ref = _umeyama(src, dst)
        ones = np.ones((n, 1))
        # the same mapping, to rounding, over the source points
        np.testing.assert_allclose(np.hstack([src, ones]) @ m.T, np.hstack([src, ones]) @ ref.T,
                                   atol=1e-9)
    with pytest.raises(ValueError, match="2-D"):
        similarity_transform([(1, 1)], [(2, 2)])


def test_align_puts_landmarks_on_the_template() -> None:
    image = np.zeros((300, 400, 3), dtype=np.uint8)
    # a face at twice the chip scale, rotated by 10 degrees, somewhere in the image
    a = np.deg2rad(10)
    rot = 2.0 * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    pts = np.array(ARCFACE_112) @ rot.T + np.array([150.0, 60.0])
    for x, y in pts:
        cv2.circle(image, (round(x), round(y)), 3, (255, 255, 255), -1)
    chip = align_face(image, [tuple(p) for p in pts])
    assert chip.shape == (112, 112, 3)
    for x, y in ARCFACE_112:
        assert chip[round(y), round(x)].max() > 100  # each dot lands on its template point

