"""report.json and report.md: the evaluation's stable keys and the paper's Table I / Table II.

report.json is nested: `{"pixel": {"precision": ...}}` is the stable key `pixel.precision`, and
`per_class.<name>.pixel_recall` is `{"per_class": {"<name>": {"pixel_recall": ...}}}`. Ratios are
fractions in [0, 1] (null where undefined, e.g. a class absent from the test set); report.md shows
percentages like the paper.

The stable keys, the ones scripts may rely on: `pixel.precision`, `pixel.recall`, `pixel.f1`,
`pixel.auroc`, `pixel.aupro`, `image.auroc`, `mean_defect_wise_recall`, `threshold`, and per class
`per_class.<name>.pixel_recall` and `per_class.<name>.defect_wise_recall`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from shared_schemas import atomic_write_text

__all__ = ["table_one", "table_two", "table_scores", "render_markdown", "write_json"]

Rows = Sequence[tuple[str, dict]]


def _pct(value) -> str:
    return "–" if value is None else f"{100.0 * value:.1f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _present_classes(rows: Rows) -> list[tuple[str, str]]:
    """(name, kind) of classes with pixels or instances in any report, in class-table order."""
    seen: dict[str, str] = {}
    for _label, report in rows:
        for name, entry in report.get("per_class", {}).items():
            if entry.get("pixels") or entry.get("instances"):
                seen.setdefault(name, entry["kind"])
    order = list(rows[0][1].get("per_class", {}))
    return sorted(seen.items(), key=lambda item: order.index(item[0]) if item[0] in order else 999)


def table_one(rows: Rows) -> str:
    """Table I: per-class pixel-wise and defect-wise recall [%] (defects ↑, impurities ↓)."""
    classes = _present_classes(rows)
    header = ["Trainset"]
    for name, kind in classes:
        arrow = "↑" if kind == "defect" else "↓"
        header += [f"{name}{arrow} R_PX", f"{name}{arrow} R_DW"]
    body = []
    for label, report in rows:
        cells = [label]
        for name, _kind in classes:
            entry = report["per_class"].get(name, {})
            cells += [_pct(entry.get("pixel_recall")), _pct(entry.get("defect_wise_recall"))]
        body.append(cells)
    return _table(header, body)


def table_two(rows: Rows) -> str:
    """Table II: binary segmentation P_PX, R_PX, F1_PX and mean defect-wise recall [%]."""
    body = [
        [
            label,
            _pct(r["pixel"].get("precision")),
            _pct(r["pixel"].get("recall")),
            _pct(r["pixel"].get("f1")),
            _pct(r.get("mean_defect_wise_recall")),
        ]
        for label, r in rows
    ]
    return _table(["Training scenario", "P_PX", "R_PX", "F1_PX", "mR_DW"], body)


def table_scores(rows: Rows) -> str:
    """Threshold-free scores [%] and the calibrated threshold."""
    body = [
        [
            label,
            _pct(r["pixel"].get("auroc")),
            _pct(r["pixel"].get("aupro")),
            _pct(r["image"].get("auroc")),
            "–" if r.get("threshold") is None else f"{r['threshold']:.4g}",
        ]
        for label, r in rows
    ]
    return _table(["Model", "pixel AUROC", "AUPRO@0.3", "image AUROC", "threshold"], body)


def render_markdown(
    rows: Rows, title: str, notes: Sequence[str] = (), figures: Sequence[tuple[str, str]] = ()
) -> str:
    """The whole report.md: tables in the paper's layout, notes, then the figures."""
    parts = [f"# {title}", ""]
    parts += [f"{note}" for note in notes] + ([""] if notes else [])
    parts += [
        "## Table I: per-class pixel-wise and defect-wise recall [%]",
        "",
        table_one(rows),
        "",
        "## Table II: binary anomaly segmentation and mean defect-wise recall [%]",
        "",
        table_two(rows),
        "",
        "## Threshold-free scores",
        "",
        table_scores(rows),
        "",
    ]
    for caption, relative in figures:
        parts += [f"### {caption}", "", f"![{caption}]({relative})", ""]
    return "\n".join(parts)


def write_json(path: str | Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")
