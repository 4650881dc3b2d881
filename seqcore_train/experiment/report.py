"""The experiment's report: Tables I and II beside the paper's values (seeds as mean ± std), the
direction table that says, claim by claim, whether the paper's finding reproduces (claims.py: a
paired bootstrap over test images and seeds), and Appendix C's coverage sweep per row family.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from seqcore_train.evaluation.bootstrap import RESAMPLES
from seqcore_train.evaluation.figures import (
    save_class_recall_rows,
    save_coverage_sweep,
    save_pr_scatter,
)
from seqcore_train.evaluation.report import write_json
from seqcore_train.experiment.claims import (
    BOOTSTRAP_SEED,
    CLAIMS,
    CLASSES,
    PAPER_TABLE_ONE,
    PAPER_TABLE_TWO,
    TABLE_ONE_METRICS,
    TABLE_TWO_METRICS,
    Metric,
    SeedReports,
    bootstrap_claim,
    claim_differences,
    load_seed_counts,
    paper_reports,
    verdict,
)
from seqcore_train.experiment.plan import Plan, scenario_catalogue, scenario_folder
from shared_schemas import atomic_write_text

__all__ = [
    "mean_std",
    "row_family",
    "family_sweeps",
    "load_seed_reports",
    "build_report",
    "write_report",
]


def mean_std(values) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for one value)."""
    values = [float(v) for v in values]
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


# ---- loading and tables -------------------------------------------------------------------------


def load_seed_reports(plan: Plan, out: Path) -> dict[int, SeedReports]:
    """Finished scenarios' evaluation reports: seed -> row label -> report."""
    seeds: dict[int, SeedReports] = {}
    for seed in plan.seeds:
        rows = {}
        for scenario in plan.scenarios:
            path = scenario_folder(out, seed, scenario.label) / "eval" / "report.json"
            if path.is_file():
                rows[scenario.label] = json.loads(path.read_text(encoding="utf-8"))
        seeds[seed] = rows
    return seeds


def _stats(values: list[float]) -> dict | None:
    if not values:
        return None
    mean, std = mean_std(values)
    return {"mean": mean, "std": std, "n": len(values), "values": values}


def _fmt(stats: dict | None, scale: float = 100.0) -> str:
    if stats is None:
        return "–"
    text = f"{scale * stats['mean']:.1f}"
    return text if stats["std"] is None else f"{text} ± {scale * stats['std']:.1f}"


def _paper(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])  # fmt: skip


def _row_stats(seeds: dict[int, SeedReports], label: str, metrics: dict[str, Metric]) -> dict:
    stats = {}
    for key, metric in metrics.items():
        values = [metric(rows[label]) for rows in seeds.values() if label in rows]
        stats[key] = _stats([v for v in values if v is not None])
    return stats


def build_report(
    plan: Plan,
    seeds: dict[int, SeedReports],
    counts: tuple[dict, list[str]] = ({}, []),
    rng: np.random.Generator | None = None,
    resamples: int = RESAMPLES,
) -> dict:
    """Everything report.json holds: per-row statistics, the paper's values, the claims with
    their bootstrap intervals (from `counts`, claims.load_seed_counts), the coverage sweeps."""
    order = list(scenario_catalogue(plan.meld_sizes))  # the paper's row order, extra melds last
    labels = sorted((s.label for s in plan.scenarios), key=order.index)
    rows = {}
    for label in labels:
        done = [seed for seed, reports in seeds.items() if label in reports]
        rows[label] = {
            "seeds": done,
            "table_two": _row_stats(seeds, label, TABLE_TWO_METRICS),
            "table_one": _row_stats(seeds, label, TABLE_ONE_METRICS),
        }
    paper = paper_reports()
    seed_counts, test_ids = counts
    rng = rng if rng is not None else np.random.default_rng(BOOTSTRAP_SEED)
    claims = []
    for claim in CLAIMS:
        ours = claim_differences(claim, seeds)
        paper_a, paper_b = claim.a(paper), claim.b(paper)
        interval, used = bootstrap_claim(claim, seed_counts, rng, resamples)
        claims.append({
            "key": claim.key,
            "claim": claim.text,
            "a": claim.a_name,
            "b": claim.b_name,
            "ours": {name: _stats(ours[name]) for name in ("a", "b", "d")},
            "paper": {"a": paper_a, "b": paper_b, "d": paper_a - paper_b},
            "bootstrap": None if interval is None else {
                **{key: _finite(getattr(interval, key))
                   for key in ("d", "low", "high", "half_width")},
                "seeds": used, "images": len(test_ids),
                "resamples": interval.resamples, "defined": interval.defined,
            },
            "verdict": verdict(interval, len(used) if interval else len(ours["d"])),
        })  # fmt: skip
    return {
        "plan": str(plan.path),
        "seeds": list(plan.seeds),
        "rule": f"d = A - B; 95 % interval of d from {resamples} paired bootstrap draws of the "
        "test images and the seeds (with replacement); ✓ if it lies above 0, ✗ if below, else "
        "within noise; one seed: '1 seed'",
        "rows": rows,
        "claims": claims,
        "coverage_sweep": family_sweeps(seeds),
        "paper": {"table_one": PAPER_TABLE_ONE, "table_two": PAPER_TABLE_TWO},
    }


def _finite(value: float) -> float | None:
    """None for NaN (no resample had the difference defined), so report.json stays JSON."""
    return float(value) if np.isfinite(value) else None


def _nan_mean(curves: np.ndarray) -> list[float | None]:
    """Mean over rows of (rows, shares), NaN left out; None where no row has a value."""
    present = ~np.isnan(curves)
    sums = np.where(present, curves, 0.0).sum(axis=0)
    counts = present.sum(axis=0)
    return [round(float(t / n), 6) if n else None for t, n in zip(sums, counts, strict=True)]


def row_family(label: str) -> str:
    """Real, Synth, Synth_WS, Synth (ft), Synth_WS (ft) or Melding: rows that differ only by
    DA / DR (or a meld's size) share a family."""
    if label.startswith("Melding"):
        return "Melding"
    if label == "Real":
        return label
    base = "Synth_WS" if label.startswith("Synth_WS") else "Synth"
    return f"{base} (ft)" if label.endswith("(ft)") else base


def family_sweeps(seeds: dict[int, SeedReports]) -> dict[str, dict]:
    """Appendix C per row family: per-class R_DW at each minimum covered share, the mean over
    the family's rows and seeds (evaluate's report.json `coverage_sweep`)."""
    gathered: dict[str, dict] = {}
    for rows in seeds.values():
        for label, report in rows.items():
            sweep = report.get("coverage_sweep")
            if not sweep:
                continue
            family = gathered.setdefault(row_family(label), {"rows": set(), "curves": {}})
            family["rows"].add(label)
            family["shares"] = sweep["min_covered_share"]
            for name, curve in sweep["defect_wise_recall"].items():
                values = [np.nan if v is None else v for v in curve]
                family["curves"].setdefault(name, []).append(values)
    return {
        name: {
            "rows": sorted(family["rows"]),
            "min_covered_share": family["shares"],
            "defect_wise_recall": {
                cls: _nan_mean(np.array(curves, dtype=float))
                for cls, curves in family["curves"].items()
            },
        }
        for name, family in gathered.items()
    }


def _table_two_md(report: dict) -> str:
    header = ["Training scenario"]
    for name in TABLE_TWO_METRICS:
        header += [name, "paper"]
    body = []
    for label, row in report["rows"].items():
        paper = PAPER_TABLE_TWO.get(label, (None,) * 4)
        cells = [label]
        for i, name in enumerate(TABLE_TWO_METRICS):
            cells += [_fmt(row["table_two"][name]), _paper(paper[i])]
        body.append(cells)
    return _table(header, body)


def _table_one_md(report: dict) -> str:
    header = ["Trainset"]
    for name, kind in CLASSES:
        arrow = "↑" if kind == "defect" else "↓"
        header += [f"{name}{arrow} R_PX", f"{name}{arrow} R_DW"]
    body = []
    for label in PAPER_TABLE_ONE:
        if label not in report["rows"]:
            continue
        stats = report["rows"][label]["table_one"]
        cells = [label]
        for i, (name, _kind) in enumerate(CLASSES):
            for j, key in enumerate(("R_PX", "R_DW")):
                paper = PAPER_TABLE_ONE[label][i][j]
                cells.append(f"{_fmt(stats[f'{name}.{key}'])} ({paper:.1f})")
        body.append(cells)
    return _table(header, body)


def _claims_md(report: dict) -> str:
    body = []
    for claim in report["claims"]:
        ours, paper = claim["ours"], claim["paper"]
        if ours["d"] is None:
            numbers = "not run (rows missing)"
        else:
            numbers = (f"{_fmt(ours['a'])} vs {_fmt(ours['b'])}; d = {_fmt(ours['d'])} "
                       f"(n = {ours['d']['n']})")  # fmt: skip
        boot = claim["bootstrap"]
        interval = "–" if boot is None or boot["low"] is None else (
            f"d = {100 * boot['d']:.1f} [{100 * boot['low']:.1f}, {100 * boot['high']:.1f}], "
            f"± {100 * boot['half_width']:.1f} ({len(boot['seeds'])} seeds × {boot['images']} images)"
        )  # fmt: skip
        body.append([
            claim["claim"],
            f"A = {claim['a']}, B = {claim['b']}",
            numbers,
            interval,
            f"{100 * paper['a']:.1f} vs {100 * paper['b']:.1f}; d = {100 * paper['d']:.1f}",
            claim["verdict"],
        ])  # fmt: skip
    lines = ["| Paper claim (A > B) | A, B | ours [%] (mean ± std over seeds) | "
             "bootstrap 95 % interval [%], half-width | paper [%] | reproduces? |",
             "|---|---|---|---|---|:---:|"]  # fmt: skip
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body])


def _markdown(plan: Plan, report: dict, figures: list[tuple[str, str]]) -> str:
    counts = {label: len(row["seeds"]) for label, row in report["rows"].items()}
    missing = [f"{label} ({n}/{len(plan.seeds)})" for label, n in counts.items()
               if n < len(plan.seeds)]  # fmt: skip
    data_lines = []
    for role, data in plan.data.items():
        if data.rendered:
            data_lines.append(f"`{role}`: render.py {' '.join(data.render_arguments(plan.seeds[0]))}"
                              f"{' (per seed)' if data.per_seed else ''}")  # fmt: skip
        else:
            data_lines.append(f"`{role}`: {data.path}")
    parts = [
        "# SeqCore experiment: the paper's Tables I and II on the target-domain stand-in",
        "",
        f"Plan `{plan.path.name}`: seeds {', '.join(map(str, plan.seeds))}; coreset "
        f"{plan.coreset_size}, {plan.epochs} epoch{'s' if plan.epochs > 1 else ''}, backbone {plan.backbone}; render settings "
        f'`{" ".join(plan.render.arguments())}`. "Real" is the target domain '
        "(the stand-in for the paper's unpublished real images). Every scenario is calibrated "
        "on `real_val` and evaluated on `real_test`. Values: ours as mean ± sample standard "
        "deviation over seeds [%], the paper's beside them.",
        "",
        "Data: " + "; ".join(data_lines) + ".",
        "",
    ]
    if missing:
        parts += ["**Incomplete:** rows not finished for every seed: " + ", ".join(missing), ""]
    parts += [
        "## Direction table: do the paper's findings reproduce?",
        "",
        _claims_md(report),
        "",
        f"Rule: {report['rule']}. The half-width is about the smallest difference this test set "
        "and these seeds can tell from noise.",
        "",
        "## Table I: per-class pixel-wise and defect-wise recall [%], ours (paper)",
        "",
        _table_one_md(report),
        "",
        "## Table II: binary anomaly segmentation and mean defect-wise recall [%]",
        "",
        _table_two_md(report),
        "",
    ]
    for caption, relative in figures:
        parts += [f"### {caption}", "", f"![{caption}]({relative})", ""]
    return "\n".join(parts)


def write_report(plan: Plan, out: Path) -> dict:
    """report.md, report.json and figures/ in `out` from the finished scenarios found there."""
    out = Path(out)
    seeds = load_seed_reports(plan, out)
    report = build_report(plan, seeds, load_seed_counts(plan, out))
    figures = []
    done = [(label, row) for label, row in report["rows"].items() if row["seeds"]]
    if done:
        figures = [
            ("Per-class recall of every row (mean ± std over seeds; ○ paper)",
             "figures/per_class_recall.png"),
            ("Pixel precision vs recall of every scenario (○ paper)", "figures/precision_recall.png"),
        ]  # fmt: skip
        save_class_recall_rows(
            [(label, row["table_one"]) for label, row in done],
            CLASSES,
            {label: dict(zip(CLASSES, values, strict=True)) for label, values in PAPER_TABLE_ONE.items()},
            out / figures[0][1],
        )  # fmt: skip
        save_pr_scatter(
            [(label, row["table_two"]["P_PX"], row["table_two"]["R_PX"]) for label, row in done],
            {label: (v[0], v[1]) for label, v in PAPER_TABLE_TWO.items()},
            out / figures[1][1],
        )
    kinds = dict(CLASSES)
    for family, sweep in report["coverage_sweep"].items():
        relative = f"figures/coverage_{family.lower().replace(' (ft)', '_ft')}.png"
        caption = (
            f"Appendix C, {family}: R_DW vs minimum covered share ({', '.join(sweep['rows'])})"
        )
        save_coverage_sweep(family, sweep, kinds, out / relative)
        figures.append((caption, relative))
    write_json(out / "report.json", report)
    atomic_write_text(out / "report.md", _markdown(plan, report, figures))
    return report
