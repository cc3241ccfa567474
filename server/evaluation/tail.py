"""Measuring a model's impostor tail under live conditions (``vigil eval --tail``).

What a deployment's threshold must control is the chance that a passer-by who is on no
watchlist scores at or above the threshold against any of the N entries. That needs the upper
tail of the *impostor* score distribution between a clean reference photo and a live-looking
probe, far beyond what any development set resolves directly (N = 1,000 and a target of one
false alert in 100,000 faces need a per-comparison false match rate of 1e-8).

Measurement (one half of the identities only, :func:`server.evaluation.scenes.identity_part`,
so that the other half stays for measuring the result):

* gallery: the first photo of every identity of the half, clean (enrolment photos are good);
* probes: every photo of the half, degraded like the scenes of ``vigil eval --scenes`` (face
  scaled to ``face_px`` wide, Gaussian blur sigma 0.7 px, brightness x0.7, JPEG 60);
* impostor scores: every probe against every gallery template of another identity.

Tail model. Above a high threshold ``u`` (the score exceeded by ``tail_pairs`` impostor pairs,
by default 1 pair in 10,000) the excesses of similarity scores are modelled as exponential
(the generalised Pareto tail with shape 0, the usual model for light-tailed scores such as
bounded cosine similarities): ``FMR(t) = FMR(u) * exp(-(t - u) / scale)``, with ``scale`` the
mean excess above ``u`` (maximum likelihood). Hence the threshold at a target FMR ``f`` is
``u + scale * ln(FMR(u) / f)``. The fit's check is reported alongside: the FMR the model
predicts at the highest thresholds the data still resolves, against the measured FMR.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import cv2
import msgspec
import numpy as np

from server.evaluation.acquire import Progress, acquire, no_progress, prepare
from server.evaluation.scenes import NOMINAL_BOX, PHOTO_SUFFIXES, identity_part
from server.recognition.calibration import Tail
from server.recognition.engine import FaceEngine, Image
from server.recognition.image_io import read_image_file

BLUR_SIGMA = 0.7
DIM = 0.7
JPEG_QUALITY = 60


def live_probe(image: Image, face_px: float) -> Image:
    """A portrait degraded like a scene face: the face ``face_px`` wide, blurred, dimmed,
    JPEG 60 (the face width is that of :data:`NOMINAL_BOX` in a 250 px LFW photo)."""
    scale = face_px / (NOMINAL_BOX[2] - NOMINAL_BOX[0]) * image.shape[1] / 250.0
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), BLUR_SIGMA)
    small = np.clip(small.astype(np.float32) * DIM, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("JPEG encoding failed")
    out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if out is None:
        raise ValueError("JPEG decoding failed")
    # pad so that the detector sees a face with context, as in a frame
    pad = int(face_px)
    padded = cv2.copyMakeBorder(out, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(padded, dtype=np.uint8)


class TailReport(msgspec.Struct, kw_only=True):
    """What ``vigil eval --tail`` measured."""

    model_id: str
    part: str
    face_px: int
    gallery: int
    probes: int
    probe_failures: int
    impostor_pairs: int
    measured: list[tuple[float, float]]
    """(FMR, threshold) read directly from the impostor scores, where they resolve."""
    tail: Tail
    check: list[tuple[float, float, float]]
    """(threshold, measured FMR, FMR the tail model predicts) at a few high thresholds."""


def _photos(dataset: Path, part: str) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    for folder in sorted(d for d in dataset.iterdir() if d.is_dir()):
        if identity_part(folder.name) == part:
            out += [(folder.name, p) for p in sorted(folder.iterdir())
                    if p.suffix.lower() in PHOTO_SUFFIXES]
    return out


def measure_tail(
    engine: FaceEngine, dataset: Path, *, part: str = "calibration", face_px: int = 64,
    tail_fmr: float = 1e-4, progress: Progress[int] = no_progress,
) -> TailReport:
    """Measure the impostor tail of ``engine`` on one half of ``dataset`` (module docstring).

    Raises:
        ValueError: too few impostor pairs to fit the tail.
    """
    photos = _photos(dataset, part)
    first: dict[str, int] = {}
    for i, (name, _) in enumerate(photos):
        first.setdefault(name, i)
    gallery_idx = sorted(first.values())

    def clean(i: int) -> Callable[[], Image]:
        return lambda: prepare(read_image_file(str(photos[i][1])))

    def degraded(i: int) -> Callable[[], Image]:
        return lambda: live_probe(prepare(read_image_file(str(photos[i][1]))), face_px)

    g = acquire(engine, [clean(i) for i in gallery_idx], progress=progress,
                description="gallery")
    p = acquire(engine, [degraded(i) for i in range(len(photos))], progress=progress,
                description="probes")
    g_ok = np.asarray(g.ok)
    p_ok = np.asarray(p.ok)
    g_vec = g.vectors[g_ok]
    g_lab = np.asarray([photos[i][0] for i in gallery_idx])[g_ok]
    p_vec = p.vectors[p_ok]
    p_lab = np.asarray([name for name, _ in photos])[p_ok]
    scores: list[np.ndarray] = []
    for start in range(0, len(p_vec), 512):
        sims = p_vec[start:start + 512] @ g_vec.T
        mask = p_lab[start:start + 512, None] != g_lab[None, :]
        scores.append(sims[mask].astype(np.float64))
    impostor = np.concatenate(scores)
    source = (f"{dataset.name} {part} half, probes at {face_px} px (blur {BLUR_SIGMA}, "
              f"x{DIM}, JPEG {JPEG_QUALITY})")
    tail, measured, check = fit_tail(impostor, source, tail_fmr=tail_fmr)
    return TailReport(model_id=engine.model_id, part=part, face_px=face_px,
                      gallery=int(g_ok.sum()), probes=len(photos),
                      probe_failures=int((~p_ok).sum()), impostor_pairs=int(impostor.size),
                      measured=measured,
                      tail=tail, check=check)


def fit_tail(
    impostor: np.ndarray, source: str, *, tail_fmr: float = 1e-4
) -> tuple[Tail, list[tuple[float, float]], list[tuple[float, float, float]]]:
    """Fit the exponential tail to impostor scores (module docstring).

    Returns:
        The tail, the (FMR, threshold) points the scores resolve, and the fit's check:
        (threshold, measured FMR, modelled FMR) at four thresholds above the tail's start.

    Raises:
        ValueError: too few scores for the tail (fewer than ten times its 50+ top scores).
    """
    ranked = np.sort(np.asarray(impostor, dtype=np.float64))[::-1]
    n = int(ranked.size)
    k = max(50, round(n * tail_fmr))
    if n < 10 * k:
        raise ValueError(f"{n} impostor pairs are too few to fit a tail at FMR {tail_fmr:g}")
    u = float(ranked[k - 1])
    scale = float(np.mean(ranked[:k] - u))
    tail = Tail(start=round(u, 5), start_fmr=k / n, scale=round(scale, 6), pairs=n,
                source=source)
    measured = []
    for fmr in (1e-2, 1e-3, 1e-4, 1e-5, 1e-6):
        rank = math.floor(fmr * n)
        if rank >= 1:
            measured.append((fmr, round(float(ranked[rank - 1]), 5)))
    check = []
    for rank in (k // 2, k // 5, k // 20, max(1, k // 50)):
        t = float(ranked[rank - 1])
        check.append((round(t, 5), rank / n, tail.fmr_at(t)))
    return tail, measured, check
