"""Pictures for people: heat maps, overlays, per-class recall bars, PR curves.

Figures are drawn on matplotlib's Agg canvas directly, not through pyplot, so importing this module
leaves the process's matplotlib backend alone (a caller's interactive session keeps its own).
Heat maps and overlays live in map_images.py (numpy only, re-exported here): `predict` writes them
without importing matplotlib.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from seqcore_train.evaluation.map_images import MISSED, heatmap_rgb, outline, overlay_rgb
from shared_schemas import atomic_write_bytes

__all__ = [
    "heatmap_rgb",
    "overlay_rgb",
    "save_recall_bars",
    "save_pr_curves",
    "save_best_worst",
    "save_class_recall_rows",
    "save_pr_scatter",
    "save_coverage_sweep",
]


def _figure(figsize: tuple[float, float]) -> Figure:
    figure = Figure(figsize=figsize)
    FigureCanvasAgg(figure)
    return figure


def _save(fig: Figure, path: str | os.PathLike) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())


def _percent(value) -> float:
    return np.nan if value is None else 100.0 * value


def save_recall_bars(reports: Sequence[tuple[str, dict]], path) -> None:
    """Per-class R_PX and R_DW, one bar per model: defects should be high, impurities low."""
    names = [
        n
        for n, c in reports[0][1]["per_class"].items()
        if any(r["per_class"].get(n, {}).get("pixels") for _, r in reports)
    ]
    fig = _figure((max(6, 1.4 * len(names) * 2), 3.4))
    axes = fig.subplots(1, 2, sharey=True)
    width = 0.8 / len(reports)
    x = np.arange(len(names))
    for panel, (key, title) in zip(
        axes,
        (("pixel_recall", "pixel recall R_PX"), ("defect_wise_recall", "defect-wise R_DW")),
        strict=True,
    ):
        for i, (label, report) in enumerate(reports):
            values = [_percent(report["per_class"][n][key]) for n in names]
            panel.bar(x + (i - (len(reports) - 1) / 2) * width, values, width, label=label)
        kinds = [reports[0][1]["per_class"][n]["kind"] for n in names]
        panel.set_xticks(
            x,
            [f"{n}\n({'↑' if k == 'defect' else '↓'})" for n, k in zip(names, kinds, strict=True)],
        )
        panel.set_title(title)
        panel.set_ylim(0, 105)
        panel.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("%")
    axes[-1].legend(fontsize=8)
    _save(fig, path)


def save_pr_curves(reports: Sequence[tuple[str, dict]], path) -> None:
    """Pixel precision-recall curves with each model's calibrated operating point."""
    fig = _figure((4.6, 3.8))
    ax = fig.subplots()
    for label, report in reports:
        curve = report.get("curves", {}).get("pr", {})
        if curve.get("recall"):
            line = ax.plot(curve["recall"], curve["precision"], label=label)[0]
            pixel = report["pixel"]
            if pixel.get("recall") is not None and pixel.get("precision") is not None:
                ax.plot(pixel["recall"], pixel["precision"], "o", color=line.get_color())
    ax.set_xlabel("pixel recall")
    ax.set_ylabel("pixel precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("PR curve (dot: threshold)")
    _save(fig, path)


def save_best_worst(panels: Sequence[tuple[str, dict]], vmin: float, vmax: float, path) -> None:
    """Rows of (image, heat map, overlay) for the best- and worst-scoring test images.

    Each panel dict holds `image` (H, W, 3), `map` (H, W), `predicted`, `truth`, `valid` (bool)
    and `f1`.
    """
    fig = _figure((9, 3.1 * len(panels)))
    axes = fig.subplots(len(panels), 3, squeeze=False)
    for row, (title, panel) in zip(axes, panels, strict=True):
        truth_outline = outline(panel["truth"])
        shown = np.clip(panel["image"], 0, 1).copy()
        shown[truth_outline] = MISSED
        shown[~panel["valid"]] *= 0.35
        row[0].imshow(shown)
        row[0].set_title(f"{title}: image, truth outline", fontsize=9)
        row[1].imshow(panel["map"], cmap="inferno", vmin=vmin, vmax=vmax)
        row[1].set_title(f"anomaly map ({vmin:.3g}..{vmax:.3g})", fontsize=9)
        row[2].imshow(overlay_rgb(panel["image"], panel["predicted"], panel["truth"]))
        row[2].set_title(f"green TP, red FP, blue FN (F1 {panel['f1']:.2f})", fontsize=9)
        for ax in row:
            ax.set_axis_off()
    _save(fig, path)


def _mean_std_percent(stats: dict | None) -> tuple[float, float]:
    """(mean, std) in % of a {'mean', 'std'} summary; NaN where missing, 0 std for one seed."""
    if stats is None:
        return np.nan, 0.0
    return 100.0 * stats["mean"], 100.0 * (stats["std"] or 0.0)


def save_class_recall_rows(rows, classes, paper, path) -> None:
    """Per-class R_PX (top) and R_DW (bottom), one horizontal bar per row (training scenario) with
    the seeds' std as error bar and the paper's value as a ring where it has one.

    rows: [(label, {"<class>.R_PX": stats, "<class>.R_DW": stats})], stats {"mean", "std"} as
    fractions; classes: [(name, kind)]; paper: {label: {(name, kind): (R_PX, R_DW) in %}}.
    """
    labels = [label for label, _ in rows]
    fig = _figure((2.6 * len(classes), 1.2 + 0.32 * len(labels) * 2))
    axes = fig.subplots(2, len(classes), sharey=True, squeeze=False)
    y = np.arange(len(labels))[::-1]
    for r, key in enumerate(("R_PX", "R_DW")):
        for c, (name, kind) in enumerate(classes):
            ax = axes[r][c]
            values = [_mean_std_percent(stats.get(f"{name}.{key}")) for _, stats in rows]
            colour = "tab:green" if kind == "defect" else "tab:red"
            ax.barh(y, [v[0] for v in values], xerr=[v[1] for v in values], color=colour,
                    alpha=0.6, error_kw={"elinewidth": 0.8})  # fmt: skip
            for yi, label in zip(y, labels, strict=True):
                if label in paper:
                    ax.plot(paper[label][(name, kind)][r], yi, "o", mfc="none", mec="black", ms=4)
            ax.set_xlim(0, 105)
            ax.grid(axis="x", alpha=0.3)
            ax.set_title(f"{name} {'↑' if kind == 'defect' else '↓'} {key}", fontsize=9)
            ax.tick_params(labelsize=7)
        axes[r][0].set_yticks(y, labels)
    _save(fig, path)


def save_pr_scatter(points, paper, path) -> None:
    """Pixel precision against recall of every scenario (mean ± std over seeds), with the
    paper's value of the same row as a ring joined to ours by a thin line.

    points: [(label, precision stats, recall stats)] as fractions; paper: {label: (P, R) in %}.
    """
    fig = _figure((7.5, 6.0))
    ax = fig.subplots()
    colours = colormaps["tab20"]
    for i, (label, precision, recall) in enumerate(points):
        p, p_std = _mean_std_percent(precision)
        r, r_std = _mean_std_percent(recall)
        colour = colours(i % 20)
        ax.errorbar(r, p, xerr=r_std, yerr=p_std, fmt="o", color=colour, ms=5, label=label)
        if label in paper:
            paper_p, paper_r = paper[label]
            ax.plot(paper_r, paper_p, "o", mfc="none", mec=colour, ms=7)
            ax.plot([r, paper_r], [p, paper_p], "-", color=colour, lw=0.6, alpha=0.6)
    _percent_axes(ax, "pixel recall R_PX [%]", "pixel precision P_PX [%]", 100)
    ax.set_title("Precision vs recall (filled: ours, ring: paper)")
    _save(fig, path)


def _percent_axes(ax, xlabel: str, ylabel: str, y_top: float) -> None:
    """Both axes in %, a light grid, the legend outside on the right."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, y_top)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))


def save_coverage_sweep(title: str, sweep: dict, kinds: dict[str, str], path) -> None:
    """Appendix C, Fig. 5: per-class R_DW against the minimum covered share of an instance, one
    line per class (defects solid, impurities dashed).

    sweep: {"min_covered_share": [c], "defect_wise_recall": {class: [R_DW at c]}} as fractions;
    kinds: {class: "defect" | "impurity"}.
    """
    fig = _figure((5.6, 3.6))
    ax = fig.subplots()
    shares = 100.0 * np.asarray(sweep["min_covered_share"], dtype=float)
    for name, recalls in sweep["defect_wise_recall"].items():
        style = "-" if kinds.get(name) == "defect" else "--"
        ax.plot(shares, [_percent(v) for v in recalls], style, marker="o", ms=3, label=name)
    _percent_axes(
        ax, "minimum covered share of an instance [%]", "defect-wise recall R_DW [%]", 105
    )
    ax.set_title(title, fontsize=10)
    _save(fig, path)
