"""``vigil eval DATASET...``: measure recognition accuracy on labelled photo folders.

Layout: ``DATASET/<identity>/<image>``. Prints a human summary, or with ``--json`` exactly one
JSON object on stdout (progress bars go to stderr, and only when it is a terminal). See
:mod:`server.evaluation` for the protocol and every counting rule.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from server.evaluation.live import SceneReport
    from server.evaluation.report import EvalReport
    from server.recognition.engine import FaceEngine

T = TypeVar("T")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("datasets", nargs="+", metavar="DATASET",
                        help="folder laid out as DATASET/<identity>/<image>")
    parser.add_argument("--engine", choices=("auto", "dlib", "onnx"), default=None,
                        help="face engine (default: the VIGIL_ENGINE setting, else auto)")
    parser.add_argument("--model-root", default=None,
                        help="folder of installed model packs (for --engine onnx/auto)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object and nothing else on stdout")
    parser.add_argument("--plot", metavar="PNG", default=None,
                        help="write verification and identification DET curves to this PNG")
    parser.add_argument("--degrade", action="store_true",
                        help="also measure identification under face size, blur, JPEG and "
                        "dim-light conditions (search images only; slow)")
    parser.add_argument("--groups", metavar="CSV", default=None,
                        help="identity,group file: figures per group and the largest ratio "
                        "between groups")
    parser.add_argument("--calibrate", action="store_true",
                        help="derive the model's threshold calibration from these images "
                        "(needs at least 10,000 impostor pairs)")
    parser.add_argument("--scenes", action="store_true",
                        help="end to end: compose live-like 1280x720 scenes from the dataset "
                        "(one half of its identities), run them through a real `vigil serve` "
                        "and report precision, recall and false alerts per 1,000 faces")
    parser.add_argument("--face-px", type=int, nargs="+", default=[64, 40],
                        help="--scenes: pasted face widths in pixels, one camera each (64 40)")
    parser.add_argument("--frames", type=int, default=400, help="--scenes: frames (400)")
    parser.add_argument("--walk", action="store_true",
                        help="--scenes: people walk across the frame, each visible for 5 to 15 "
                        "consecutive frames (a street camera at 5 fps), instead of independent "
                        "frames; reports per person-frame and per person")
    parser.add_argument("--decisions", nargs="+", choices=("frame", "track"), default=None,
                        help="--scenes: decide per frame (face tracking off) and/or per track "
                        "(on), one server each (default: track with --walk, else frame)")
    parser.add_argument("--watchlisted-share", type=float, default=None, metavar="F",
                        help="--scenes: share of faces (walkers with --walk) on the watchlist "
                        "(0.05)")
    parser.add_argument("--watchlist-size", type=int, default=None, metavar="N",
                        help="FNIR (and per group with --groups) at the operating threshold "
                        "for a watchlist of N entries (target: 1 false alert in 100,000 "
                        "faces); with --scenes: the watchlist size (400)")
    parser.add_argument("--tail", action="store_true",
                        help="measure the model's impostor tail under live conditions on "
                        "the calibration half of DATASET (for calibration.py)")
    parser.add_argument("--part", choices=("calibration", "evaluation"), default="evaluation",
                        help="--scenes: which half of the identities to use (evaluation)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="--scenes: deployment threshold (default: the server's default "
                        "for the watchlist)")
    parser.add_argument("--quality-gate", action="store_true",
                        help="count faces that fail the live quality gate as failures to "
                        "acquire (default: count them separately in quality_rejected)")


def make_engine(engine: str | None, model_root: str | None) -> FaceEngine:
    """The engine named by ``--engine`` (else the settings), built by the engine factory."""
    from server.recognition.engines import create_engine
    from server.settings import load_settings

    return create_engine(load_settings(engine=engine, model_root=model_root))


def _progress(items: Iterable[T], description: str, total: int) -> Iterable[T]:
    from rich.console import Console
    from rich.progress import track

    return track(items, description, total=total, console=Console(stderr=True), transient=True)


def run(args: argparse.Namespace) -> int:
    import msgspec

    if args.scenes:
        return run_scenes(args)
    if args.tail:
        return run_tail(args)

    from server.errors import VigilError
    from server.evaluation.acquire import no_progress
    from server.evaluation.calibrate import DEFAULT_FMR
    from server.evaluation.dataset import list_samples
    from server.evaluation.metrics import resolvable
    from server.evaluation.runner import evaluate
    from server.settings import load_settings

    try:
        # check the inputs before loading an engine (seconds) and running it (minutes)
        samples = list_samples(args.datasets)
        pairs = len(samples) * (len(samples) - 1) // 2
        if args.calibrate and not resolvable(pairs, DEFAULT_FMR):
            raise VigilError("too_few_pairs", f"{len(samples)} images make at most {pairs} "
                             f"pairs; calibration needs {round(1 / DEFAULT_FMR)} impostor pairs")
        engine = make_engine(args.engine, args.model_root)
        result = evaluate(
            engine,
            args.datasets,
            degrade=args.degrade,
            groups_file=args.groups,
            quality=load_settings().quality,
            quality_gate=args.quality_gate,
            progress=_progress if sys.stderr.isatty() else no_progress,
        )
        if args.calibrate:
            from server.evaluation.calibrate import derive_calibration

            _, impostor = result.pairs.split()
            source = " + ".join(Path(d).name for d in args.datasets)
            result = msgspec.structs.replace(result, report=msgspec.structs.replace(
                result.report,
                calibration=derive_calibration(engine.model_id, impostor, source),
            ))
        if args.watchlist_size is not None:
            from server.evaluation.groups import load_groups
            from server.evaluation.operating import operating_point

            labels = [s.identity for s in result.samples]
            groups = load_groups(args.groups, sorted(set(labels))) if args.groups else None
            result = msgspec.structs.replace(result, report=msgspec.structs.replace(
                result.report, operating=operating_point(
                    engine.model_id, args.watchlist_size, result.searches, labels, groups)))
        if args.plot:
            from server.evaluation.plot import plot_det

            plot_det(result.report, result.curves, args.plot)
    except VigilError as exc:
        print(f"vigil eval: {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"vigil eval: {exc}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.write(msgspec.json.encode(result.report).decode() + "\n")
    else:
        print(summary(result.report))
    return 0


def run_tail(args: argparse.Namespace) -> int:
    """``vigil eval --tail DATASET``: the impostor tail of :mod:`server.evaluation.tail`."""
    import msgspec

    from server.errors import VigilError
    from server.evaluation.acquire import no_progress
    from server.evaluation.tail import measure_tail

    try:
        engine = make_engine(args.engine, args.model_root)
        report = measure_tail(engine, Path(args.datasets[0]), face_px=args.face_px[0],
                              progress=_progress if sys.stderr.isatty() else no_progress)
    except (VigilError, ValueError, OSError) as exc:
        print(f"vigil eval: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(msgspec.json.encode(report).decode() + "\n")
    return 0


def run_scenes(args: argparse.Namespace) -> int:
    """``vigil eval --scenes DATASET``: the end-to-end run of :mod:`server.evaluation.live`."""
    import msgspec

    from server.evaluation.live import run_scenes as run_live
    from server.evaluation.scenes import SceneOptions

    if len(args.datasets) != 1:
        print("vigil eval: --scenes takes exactly one DATASET", file=sys.stderr)
        return 2
    options = SceneOptions(frames=args.frames, face_px=args.face_px[0], part=args.part,
                           **({"watchlist_size": args.watchlist_size}
                              if args.watchlist_size is not None else {}),
                           **({"watchlisted_share": args.watchlisted_share}
                              if args.watchlisted_share is not None else {}))
    try:
        reports = run_live(Path(args.datasets[0]), options, engine=args.engine or "auto",
                           model_root=args.model_root, threshold=args.threshold,
                           face_sizes=tuple(args.face_px), walk=args.walk,
                           decisions=tuple(args.decisions or ()),
                           progress=lambda line: print(line, file=sys.stderr, flush=True))
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"vigil eval: {exc}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.write(msgspec.json.encode(reports).decode() + "\n")
        return 0
    for report in reports:
        print(scene_summary(report))
    return 0


def scene_summary(report: SceneReport) -> str:
    """Two lines for one scenes report."""
    shown = "n/a" if report.precision is None else f"{report.precision:.1%}"
    recall = "n/a" if report.recall is None else f"{report.recall:.1%}"
    walking = "" if report.mode != "walk" else (
        f"\n  walkers {report.persons} ({report.watchlisted_persons} watchlisted): found "
        f"{report.found_persons} ("
        + ("n/a" if report.recall_persons is None else f"{report.recall_persons:.1%}")
        + f"), false alert episodes {report.false_episodes} "
        f"({report.false_episodes_per_1000_persons:.1f} per 1,000 walkers)")
    embeds = "" if report.embeds_per_frame is None else (
        f"; faces embedded {report.embedded} ({report.embeds_per_frame:.2f} per frame)")
    return (
        f"scenes ({report.mode}, decisions per {report.decision}): "
        f"engine {report.engine} ({report.model_id}), faces {report.face_px} px, "
        f"{report.frames} frames, {report.faces} faces ({report.watchlisted_faces} "
        f"watchlisted), watchlist N={report.watchlist_size} (refused {report.enrol_refused}),"
        f" threshold {report.threshold:.4f}\n"
        f"  alerts {report.alerts} (true {report.true_alerts}, false {report.false_alerts}):"
        f" precision {shown}, recall {recall}, false alerts per 1,000 faces "
        f"{report.false_alerts_per_1000_faces:.2f}; faces processed by the server "
        f"{report.faces_processed}{embeds}; {report.seconds:.0f} s{walking}")


def summary(report: EvalReport) -> str:
    """A short human-readable summary of a report."""
    lines = [
        f"engine {report.engine} ({report.model_id}) on {', '.join(report.datasets)}",
        f"images {report.images} of {report.identities} identities; failures to acquire "
        f"{report.failures_to_acquire} {report.failure_reasons or ''}; quality gate "
        f"{'on' if report.quality_gate else 'off'} (would reject {report.quality_rejected})",
        f"verification: {report.genuine_pairs} genuine / {report.impostor_pairs} impostor pairs",
    ]
    lines += [f"  FMR {p.fmr:g}: FNMR {p.fnmr:.4f} at threshold {p.threshold:.4f}"
              for p in report.verification]
    lines.append(
        f"identification: gallery {report.gallery} (failures to enrol "
        f"{report.failures_to_enrol}), {report.mated} mated, {report.nonmated} non-mated, "
        f"rank-1 {report.rank1:.4f}"
    )
    lines += [f"  FPIR {p.fpir:g}: FNIR {p.fnir:.4f} at threshold {p.threshold:.4f}"
              for p in report.identification]
    for d in report.degraded or []:
        points = ", ".join(f"FNIR {p.fnir:.3f}@FPIR {p.fpir:g}" for p in d.identification)
        lines.append(f"  {d.condition:<18} FTA {d.failures_to_acquire:>4}  "
                     f"rank-1 {d.rank1:.3f}  {points}")
    for r in report.group_ratios or []:
        shown = "undefined" if r.ratio is None else f"{r.ratio:.2f}"
        lines.append(f"  group ratio {r.metric}: {shown} ({r.highest} / {r.lowest})")
    if report.operating is not None:
        op = report.operating
        lines.append(f"operating point for N={op.watchlist_size} (target "
                     f"{op.target_false_alert_rate:g} false alerts per face): threshold "
                     f"{op.threshold:.4f}")
        lines += [f"  {f.group}: FNIR {f.fnir:.4f} ({f.mated} mated), FPIR {f.fpir:.4f} "
                  f"({f.nonmated} non-mated)" for f in op.figures]
    if report.calibration is not None:
        c = report.calibration
        lines.append(f"calibration: default {c.default}, FMR table {list(c.fmr_thresholds)}")
    lines.append(f"timing: detect {report.timing.detect_ms_per_image} ms/image, embed "
                 f"{report.timing.embed_ms_per_face} ms/face (medians)")
    return "\n".join(lines)
