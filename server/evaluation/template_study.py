"""How an entry's template is made, measured: alignment points, flip augmentation, fusion.

``python -m server.evaluation.template_study embed DATASET --cache DIR`` acquires every photo
of ``DATASET`` (lfw_dev) twice with the ONNX engine: clean (an enrolment photo) and degraded
like a 64 px live face (:func:`server.evaluation.tail.live_probe`). Each face is embedded eight
ways, all from the same detection; the first three from the engine's own 68 landmarks:

* ``current``: the engine's own five points (eye centres from all six eye points, the outer
  mouth corners 48 and 54) warped by a 5-point similarity onto the ArcFace 112x112 template;
* ``fp5``: the five points the FacePlugin package's own code derives from 68 landmarks (each
  eye from its four lid points 37, 38, 40, 41 / 43, 44, 46, 47; each mouth corner the mean of
  the outer and inner lip corners, 48 + 60 and 54 + 64), same similarity;
* ``fp3``: those points, warped the way the package does it: the exact affine map of the eyes
  and nose tip onto the template's first three points (mouth ignored);
* ``dlib68``: dlib's 68-point predictor on the same box instead of the pack's landmark model
  (what the FacePlugin pack used before), five points and warp as ``current``;

and each of them again on the mirror image (:mod:`server.recognition.flip`). ``--shard I/N``
splits the photos between processes; ``analyse`` reads every shard of the cache and prints the
figures as JSON (docs/operations.md, "Templates", has the commands and the results).

Figures (identities split in halves by :func:`server.evaluation.scenes.identity_part`):

* verification on the evaluation half: TAR at FMR 1e-3 and 1e-4 over all pairs, clean vs
  clean and clean gallery vs live probe, for each alignment, without and with flip (at
  enrolment only, and on both sides);
* the impostor tail re-fitted on the calibration half exactly as ``vigil eval --tail`` does
  (first photo of each identity clean, every photo as a live probe), for each configuration;
* fusion on the evaluation half, people with 3+ photos: enrol each from their first k photos
  (k = 1, 2), probe with their photos after the second (the same probes for both k; live and
  clean), impostors = probes of everyone else
  against the entry. Fusions: ``max`` (one template per photo, the entry scores its best),
  ``mean`` (one normalised mean template), ``both``. TAR at the operating threshold
  (:func:`server.recognition.calibration.operating_threshold`) for N = 100 and 1,000 entries
  (``cal_``), and at the threshold the configuration's own re-fitted tail gives; an entry
  holding T templates is T comparisons for a passer-by, so ``max`` and ``both`` are held to
  the threshold of N x T templates (``photos_``: every scheme held to N x k, as the server
  does, since a mean of k photos draws more impostor scores than one photo); plus each scheme's own
  entry-level impostor tail (``entry_``, a noisy fit: ~50 top pairs) and the directly
  measured TAR at entry-level FMR 1e-3 / 1e-4.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import dlib
import face_recognition_models
import numpy as np
import numpy.typing as npt

from server.evaluation.acquire import find_face, prepare
from server.evaluation.metrics import threshold_at_rate
from server.evaluation.scenes import PHOTO_SUFFIXES, identity_part
from server.evaluation.tail import fit_tail, live_probe
from server.recognition.align import ARCFACE_112, align_face
from server.recognition.calibration import Tail, operating_threshold
from server.recognition.engine import Face, Image, Point, normalise_rows
from server.recognition.flip import embed_with_mirror, mirror_face, mirror_image
from server.recognition.image_io import read_image_file
from server.recognition.onnx_engine import OnnxEngine, dlib_points, five_from_68, to_blob

Five = tuple[Point, Point, Point, Point, Point]
Floats = npt.NDArray[np.float32]

ALIGNMENTS = ("current", "fp5", "fp3", "dlib68")
CONDITIONS = ("clean", "live")
LIVE_PX = 64
MODEL_ID = "faceplugin-fr-feature-512@87aacdfe5751"
"""The FacePlugin embedder, whose recorded calibration gives the ``cal_`` figures."""


def facepluginfive(points: Sequence[Point]) -> Five:
    """The five points FacePlugin's own code derives from 68 landmarks (module docstring)."""

    def mean(idx: Sequence[int]) -> Point:
        return (sum(points[i][0] for i in idx) / len(idx),
                sum(points[i][1] for i in idx) / len(idx))

    return (mean((37, 38, 40, 41)), mean((43, 44, 46, 47)), points[30], mean((48, 60)),
            mean((54, 64)))


def affine3_chip(image: Image, five: Five, size: int = 112) -> Image:
    """The chip FacePlugin's code cuts: eyes and nose tip mapped exactly onto the template."""
    src = np.asarray(five[:3], dtype=np.float32)
    dst = np.asarray(ARCFACE_112[:3], dtype=np.float32)
    m = cv2.getAffineTransform(src, dst)
    chip = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR,
                          borderValue=(0, 0, 0))
    return np.ascontiguousarray(chip, dtype=np.uint8)


def _mirror_five(five: Five, width: int) -> Five:
    return mirror_face(Face((0.0, 0.0, 1.0, 1.0), five, 1.0), width).landmarks


@functools.cache
def _dlib_predictor() -> Any:
    return dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())


def chips_of(image: Image, face: Face) -> list[Image]:
    """The eight chips of one face: each alignment, then each alignment on the mirror image."""
    w = int(image.shape[1])
    fp = facepluginfive(face.points)
    box = np.asarray(face.box, dtype=np.float32)
    dl = five_from_68(dlib_points(_dlib_predictor(), image, box))
    mirror = mirror_image(image)
    out: list[Image] = []
    for img, cur, fpf, dlf in ((image, face.landmarks, fp, dl),
                               (mirror, _mirror_five(face.landmarks, w), _mirror_five(fp, w),
                                _mirror_five(dl, w))):
        out.append(align_face(img, cur))
        out.append(align_face(img, fpf))
        out.append(affine3_chip(img, fpf))
        out.append(align_face(img, dlf))
    return out


VARIANTS = tuple(f"{a}{'_mirror' if m else ''}" for m in (False, True) for a in ALIGNMENTS)
"""Order of the eight vectors per face, as :func:`chips_of` makes them."""


def photos(dataset: Path) -> list[tuple[str, Path]]:
    """``(identity, photo)`` for every photo, sorted by identity then file name."""
    out: list[tuple[str, Path]] = []
    for folder in sorted(d for d in dataset.iterdir() if d.is_dir()):
        out += [(folder.name, p) for p in sorted(folder.iterdir())
                if p.suffix.lower() in PHOTO_SUFFIXES]
    return out


def shard_order(items: Sequence[tuple[str, Path]], shard: int, shards: int) -> list[int]:
    """The photos of one shard: whole identities, in a fixed shuffled order, so that a shard
    stopped early (see :func:`embed_shard`) still holds a random sample of complete people."""
    names = sorted({name for name, _ in items})
    order = np.random.default_rng(12).permutation(len(names))
    mine = {names[j] for k, j in enumerate(order) if k % shards == shard}
    rank = {names[j]: k for k, j in enumerate(order)}
    return sorted((i for i, (name, _) in enumerate(items) if name in mine),
                  key=lambda i: (rank[items[i][0]], i))


def embed_shard(engine: OnnxEngine, dataset: Path, cache: Path, shard: int, shards: int,
                every: int = 100, live_px: float = LIVE_PX) -> None:
    """Embed the photos of one shard, saving ``cache/shard-I.npz`` every ``every`` photos (the
    photos done so far) and at the end; live probes are degraded like ``live_px`` faces."""
    items = photos(dataset)
    idx = shard_order(items, shard, shards)
    n, dim = len(idx), engine.dim
    vec = np.zeros((len(CONDITIONS), len(VARIANTS), n, dim), dtype=np.float32)
    ok = np.zeros((len(CONDITIONS), n), dtype=bool)
    norm = engine.manifest.embedder.norm
    # clean templates of the calibration half serve only as its tail's gallery (first photos)
    first = {name: j for j, (name, _) in reversed(list(enumerate(items)))}
    cache.mkdir(parents=True, exist_ok=True)

    def save(done: int) -> None:
        tmp = cache / f"shard-{shard}.tmp.npz"
        np.savez(tmp, index=np.asarray(idx[:done]), vec=vec[:, :, :done], ok=ok[:, :done])
        tmp.replace(cache / f"shard-{shard}.npz")

    started = time.monotonic()
    for row, i in enumerate(idx):
        name = items[i][0]
        clean = prepare(read_image_file(str(items[i][1])))
        for c, image in enumerate((clean, live_probe(clean, live_px))):
            if c == 0 and identity_part(name) == "calibration" and first[name] != i:
                continue
            found = find_face(engine, image)
            if found is None or len(found[1].points) != 68:
                continue
            used, face = found
            vectors = normalise_rows(engine.embed_blob(to_blob(np.stack(chips_of(used, face)),
                                                               norm)))
            vec[c, :, row] = vectors
            ok[c, row] = True
        if (row + 1) % every == 0:
            save(row + 1)
            print(f"shard {shard}: {row + 1}/{n} in {time.monotonic() - started:.0f} s",
                  file=sys.stderr, flush=True)
    save(n)


def load_cache(dataset: Path, cache: Path) -> tuple[list[tuple[str, Path]], Floats,
                                                    npt.NDArray[np.bool_],
                                                    npt.NDArray[np.bool_]]:
    """Every shard merged: photos, vectors ``[condition, variant, photo, dim]``, ok flags, and
    which photos belong to identities embedded in full (shards stopped early leave some out).
    """
    items = photos(dataset)
    vec: Floats | None = None
    ok = np.zeros((len(CONDITIONS), len(items)), dtype=bool)
    seen = np.zeros(len(items), dtype=bool)
    for path in sorted(cache.glob("shard-*.npz")):
        if path.name.endswith(".tmp.npz"):
            continue
        part = np.load(path)
        index = part["index"]
        if vec is None:
            vec = np.zeros((len(CONDITIONS), len(VARIANTS), len(items), part["vec"].shape[-1]),
                           dtype=np.float32)
        vec[:, :, index] = part["vec"]
        ok[:, index] = part["ok"]
        seen[index] = True
    if vec is None:
        raise ValueError(f"no shard in {cache}")
    labels = np.asarray([name for name, _ in items])
    partial = set(labels[~seen].tolist())
    complete = ~np.isin(labels, sorted(partial))
    return items, vec, ok & complete[None, :], complete


# -- analysis ------------------------------------------------------------------------------

Config = tuple[str, str, str]
"""(alignment, gallery flip, probe flip): flips are ``"no"`` or ``"flip"``."""


def template(vec: Floats, condition: int, alignment: str, flip: str) -> Floats:
    """Unit templates of every photo under one condition, alignment and flip setting."""
    direct: Floats = vec[condition, VARIANTS.index(alignment)]
    if flip == "no":
        return direct
    return normalise_rows(direct + vec[condition, VARIANTS.index(f"{alignment}_mirror")])


def _tar_at(genuine: npt.NDArray[np.float64], impostor: npt.NDArray[np.float64],
            fmr: float) -> tuple[float, float]:
    t = threshold_at_rate(impostor, fmr)
    return t, float((genuine >= t).mean())


def verification(vec: Floats, ok: npt.NDArray[np.bool_], labels: npt.NDArray[np.str_],
                 members: npt.NDArray[np.bool_], config: Config) -> dict[str, object]:
    """TAR at FMR 1e-3 / 1e-4 over every pair of the ``members`` photos (module docstring)."""
    alignment, g_flip, p_flip = config
    out: dict[str, object] = {}
    for name, p_cond in (("clean", 0), ("live", 1)):
        g_ok = members & ok[0]
        p_ok = members & ok[p_cond]
        g = template(vec, 0, alignment, g_flip)[g_ok]
        p = template(vec, p_cond, alignment, p_flip)[p_ok]
        gl, pl = labels[g_ok], labels[p_ok]
        gi, pi = np.flatnonzero(g_ok), np.flatnonzero(p_ok)
        gen: list[npt.NDArray[np.float64]] = []
        imp: list[npt.NDArray[np.float64]] = []
        for s in range(0, len(p), 512):
            sims = (p[s:s + 512] @ g.T).astype(np.float64)
            same = pl[s:s + 512, None] == gl[None, :]
            distinct = pi[s:s + 512, None] != gi[None, :]
            if p_cond == 0:  # each unordered clean pair once
                distinct &= pi[s:s + 512, None] < gi[None, :]
            gen.append(sims[same & distinct])
            imp.append(sims[~same & distinct])
        genuine, impostor = np.concatenate(gen), np.concatenate(imp)
        row: dict[str, object] = {"genuine": int(genuine.size), "impostor": int(impostor.size)}
        for fmr in (1e-3, 1e-4):
            t, tar = _tar_at(genuine, impostor, fmr)
            row[f"tar@{fmr:g}"] = round(tar, 4)
            row[f"thr@{fmr:g}"] = round(t, 4)
        out[name] = row
    return out


def refit_tail(
    vec: Floats, ok: npt.NDArray[np.bool_], labels: npt.NDArray[np.str_],
    calibration: npt.NDArray[np.bool_], config: Config,
) -> tuple[Tail, dict[str, object]]:
    """The live impostor tail of one configuration on the calibration half, as
    :func:`server.evaluation.tail.measure_tail` measures it."""
    alignment, g_flip, p_flip = config
    first: dict[str, int] = {}
    for i in np.flatnonzero(calibration):
        first.setdefault(str(labels[i]), int(i))
    g_idx = np.asarray(sorted(first.values()))
    g_idx = g_idx[ok[0, g_idx]]
    p_idx = np.flatnonzero(calibration & ok[1])
    g = template(vec, 0, alignment, g_flip)[g_idx]
    p = template(vec, 1, alignment, p_flip)[p_idx]
    gl, pl = labels[g_idx], labels[p_idx]
    parts = []
    for s in range(0, len(p), 512):
        sims = p[s:s + 512] @ g.T
        parts.append(sims[pl[s:s + 512, None] != gl[None, :]].astype(np.float64))
    impostor = np.concatenate(parts)
    tail, measured, check = fit_tail(impostor, f"lfw_dev calibration half, {config}")
    return tail, {"gallery": len(g_idx), "probes": len(p_idx),
                  "probe_failures": int((calibration & ~ok[1]).sum()),
                  "impostor_pairs": int(impostor.size), "start": tail.start,
                  "start_fmr": tail.start_fmr, "scale": tail.scale, "measured": measured,
                  "check": check}


def tail_threshold(tail: Tail, comparisons: int, target: float = 1e-5) -> float:
    """Operating threshold for ``comparisons`` templates at ``target`` false alerts per face
    (the tail part of :func:`server.recognition.calibration.operating_threshold`)."""
    return tail.threshold_at(target / max(1, comparisons))


def fusion(vec: Floats, ok: npt.NDArray[np.bool_], labels: npt.NDArray[np.str_],
           evaluation: npt.NDArray[np.bool_], config: Config, tail: Tail,
           sizes: Sequence[int] = (100, 1000)) -> dict[str, object]:
    """Multi-photo enrolment on the evaluation half (module docstring)."""
    alignment, g_flip, p_flip = config
    gallery = template(vec, 0, alignment, g_flip)
    by_person: dict[str, list[int]] = {}
    for i in np.flatnonzero(evaluation):
        by_person.setdefault(str(labels[i]), []).append(int(i))
    people = sorted(p for p, idx in by_person.items() if len(idx) >= 3)
    out: dict[str, object] = {"people": len(people)}
    for p_name, p_cond in (("live", 1), ("clean", 0)):
        probes_all = template(vec, p_cond, alignment, p_flip)
        # every acquired evaluation-half photo probes; it is mated for its own entry only
        p_idx = np.flatnonzero(evaluation & ok[p_cond])
        probes = probes_all[p_idx]
        p_lab = labels[p_idx]
        for k in (1, 2):
            entries: list[tuple[str, list[int]]] = []
            for person in people:
                enrol = [i for i in by_person[person][:k] if ok[0, i]]
                if len(enrol) == k:
                    entries.append((person, by_person[person][:k]))
            schemes = ("max", "mean", "both") if k > 1 else ("single",)
            for scheme in schemes:
                templates: list[Floats] = []
                owner: list[int] = []
                for e, (_, enrol) in enumerate(entries):
                    photos_t = gallery[enrol]
                    rows: list[Floats] = []
                    if scheme in ("max", "both", "single"):
                        rows.extend(photos_t)
                    if scheme in ("mean", "both"):
                        rows.append(normalise_rows(photos_t.sum(axis=0, keepdims=True))[0])
                    templates.extend(rows)
                    owner.extend([e] * len(rows))
                t_mat = np.stack(templates)
                own = np.asarray(owner)
                per_entry = len(templates) // len(entries)
                sims = probes @ t_mat.T
                # entry score = max over the entry's templates
                entry_scores = np.full((len(probes), len(entries)), -2.0, dtype=np.float32)
                for j in range(per_entry):
                    cols = np.arange(j, len(templates), per_entry)
                    entry_scores = np.maximum(entry_scores, sims[:, cols])
                assert (own[::per_entry] == np.arange(len(entries))).all()
                names = np.asarray([name for name, _ in entries])
                mated_mask = p_lab[:, None] == names[None, :]
                # the same mated probes for every k: each person's photos after the second
                first_two = {i for person in people for i in by_person[person][:2]}
                not_enrol = np.asarray([i not in first_two for i in p_idx])
                genuine = entry_scores[mated_mask & not_enrol[:, None]].astype(np.float64)
                impostor = entry_scores[~mated_mask].astype(np.float64)
                row: dict[str, object] = {"entries": len(entries),
                                          "templates_per_entry": per_entry,
                                          "genuine": int(genuine.size),
                                          "impostor": int(impostor.size)}
                for n in sizes:
                    # a fused entry of k photos draws more impostor scores than one photo
                    # (1.2-1.4x for k = 2): held to N x k photos it is treated cautiously
                    fair = operating_threshold(MODEL_ID, n * max(per_entry, k))
                    row[f"photos_thr@N={n}"] = round(fair, 4)
                    row[f"photos_tar@N={n}"] = round(float((genuine >= fair).mean()), 4)
                    for t in (0.40, 0.45):
                        row[f"impostor>={t}"] = int((impostor >= t).sum())
                    cal = operating_threshold(MODEL_ID, n * per_entry)
                    row[f"cal_thr@N={n}"] = round(cal, 4)
                    row[f"cal_tar@N={n}"] = round(float((genuine >= cal).mean()), 4)
                    thr = tail_threshold(tail, n * per_entry)
                    row[f"thr@N={n}"] = round(thr, 4)
                    row[f"tar@N={n}"] = round(float((genuine >= thr).mean()), 4)
                    row[f"impostor>=thr@N={n}"] = int((impostor >= thr).sum())
                # the entries' own impostor tail (entry = max over its templates), fitted like
                # the live tail: every scheme held to the same modelled false-alert rate
                entry_tail, _, _ = fit_tail(impostor, f"entries, {scheme}")
                row["entry_tail"] = [entry_tail.start, entry_tail.scale]
                for n in sizes:
                    thr = entry_tail.threshold_at(1e-5 / n)
                    row[f"entry_thr@N={n}"] = round(thr, 4)
                    row[f"entry_tar@N={n}"] = round(float((genuine >= thr).mean()), 4)
                for fmr in (1e-3, 1e-4):
                    t, tar = _tar_at(genuine, impostor, fmr)
                    row[f"tar@entryFMR{fmr:g}"] = round(tar, 4)
                    row[f"thr@entryFMR{fmr:g}"] = round(t, 4)  # the entries' impostor tail
                out[f"{p_name} k={k} {scheme}"] = row
    return out


def analyse(dataset: Path, cache: Path, configs: Sequence[Config]) -> dict[str, object]:
    """Every figure of the module docstring for each configuration."""
    items, vec, ok, complete = load_cache(dataset, cache)
    labels = np.asarray([name for name, _ in items])
    parts = np.asarray([identity_part(name) for name in labels])
    calibration = (parts == "calibration") & complete
    evaluation = (parts == "evaluation") & complete
    report: dict[str, object] = {
        "photos": int(complete.sum()), "of": len(items),
        "identities": len(set(labels[complete].tolist())),
        # clean templates are made for the evaluation half and the calibration half's gallery
        "failures": {"clean": int((evaluation & ~ok[0]).sum()),
                     "live": int((complete & ~ok[1]).sum())},
    }
    for config in configs:
        tail, tail_row = refit_tail(vec, ok, labels, calibration, config)
        report["|".join(config)] = {
            "verification": verification(vec, ok, labels, evaluation, config),
            "tail": tail_row,
            "fusion": fusion(vec, ok, labels, evaluation, config, tail),
        }
    return report


def flip_cost(engine: OnnxEngine, dataset: Path, faces: int = 150) -> dict[str, float]:
    """Median ms per face of ``embed`` and of :func:`embed_with_mirror`, interleaved on the
    same clean faces (one face per call, as at enrolment)."""
    plain: list[float] = []
    flipped: list[float] = []
    for _, path in photos(dataset)[:faces]:
        image = prepare(read_image_file(str(path)))
        found = find_face(engine, image)
        if found is None:
            continue
        used, face = found
        t0 = time.perf_counter()
        engine.embed(used, [face])
        t1 = time.perf_counter()
        embed_with_mirror(engine, used, [face])
        t2 = time.perf_counter()
        plain.append((t1 - t0) * 1000)
        flipped.append((t2 - t1) * 1000)
    return {"faces": len(plain), "embed_ms": round(float(np.median(plain)), 2),
            "embed_with_mirror_ms": round(float(np.median(flipped)), 2),
            "ratio": round(float(np.median(flipped) / np.median(plain)), 2)}


def _engine(model_root: str | None) -> OnnxEngine:
    from server.recognition.engines import create_engine
    from server.settings import load_settings

    engine = create_engine(load_settings(engine="onnx", model_root=model_root))
    assert isinstance(engine, OnnxEngine)
    return engine


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.evaluation.template_study",
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("step", choices=("embed", "analyse", "cost"))
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--cache", type=Path, default=Path("template-study"))
    parser.add_argument("--shard", default="0/1", help="I/N: embed every N-th photo from I")
    parser.add_argument("--model-root", default=None)
    parser.add_argument("--live-px", type=float, default=LIVE_PX,
                        help="embed: degrade live probes like faces of this size (64)")
    args = parser.parse_args(argv)
    if args.step == "embed":
        shard, shards = (int(x) for x in args.shard.split("/"))
        embed_shard(_engine(args.model_root), args.dataset, args.cache, shard, shards,
                    live_px=args.live_px)
        return 0
    if args.step == "cost":
        print(json.dumps(flip_cost(_engine(args.model_root), args.dataset), indent=1))
        return 0
    configs = [(a, g, p) for a in ALIGNMENTS for g, p in (("no", "no"), ("flip", "no"),
                                                          ("flip", "flip"))]
    print(json.dumps(analyse(args.dataset, args.cache, configs), indent=1,
                     default=lambda o: o if not isinstance(o, float) or math.isfinite(o)
                     else None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
