"""DET plots (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

from server.evaluation.report import EvalReport
from server.evaluation.runner import Curves


def plot_det(report: EvalReport, curves: Curves, path: str | Path) -> None:
    """Write a PNG with the verification DET (FNMR vs FMR) and the identification DET
    (FNIR vs FPIR, with the degraded conditions when present), log-log axes.

    Rates of exactly zero cannot sit on a log axis; they are drawn at the bottom/left edge
    (half of the smallest non-zero rate the data can show).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ver, ident) = plt.subplots(1, 2, figsize=(13.5, 5.2), constrained_layout=True)
    floor_v = 0.5 / max(1, report.impostor_pairs)
    floor_i = 0.5 / max(1, report.nonmated)
    floor_m = 0.5 / max(1, report.genuine_pairs, report.mated)

    def clip(values: list[float], floor: float) -> list[float]:
        return [max(v, floor) for v in values]

    fmr, fnmr = curves.verification
    if fmr:
        ver.plot(clip(fmr, floor_v), clip(fnmr, floor_m), label="clean")
    for p in report.verification:
        ver.plot([p.fmr], [max(p.fnmr, floor_m)], "o")
        ver.annotate(f"t={p.threshold:.3f}", (p.fmr, max(p.fnmr, floor_m)), fontsize=8)
    ver.set(xscale="log", yscale="log", xlabel="FMR", ylabel="FNMR",
            title=f"Verification ({report.genuine_pairs} genuine, "
            f"{report.impostor_pairs} impostor pairs)")
    fpir, fnir = curves.identification
    if fpir:
        ident.plot(clip(fpir, floor_i), clip(fnir, floor_m), label="clean", linewidth=2)
    for name, (fp, fn) in curves.degraded.items():
        if fp:
            ident.plot(clip(fp, floor_i), clip(fn, floor_m), label=name, linewidth=0.8)
    for q in report.identification:
        ident.plot([q.fpir], [max(q.fnir, floor_m)], "o")
        ident.annotate(f"t={q.threshold:.3f}", (q.fpir, max(q.fnir, floor_m)), fontsize=8)
    ident.set(xscale="log", yscale="log", xlabel="FPIR", ylabel="FNIR",
              title=f"Open-set 1:N (gallery {report.gallery}, {report.mated} mated, "
              f"{report.nonmated} non-mated)")
    ident.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    for ax in (ver, ident):
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"{report.engine} / {report.model_id}: {', '.join(report.datasets)}",
                 fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)
