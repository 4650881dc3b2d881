"""The experiment's report: Tables I and II beside the paper's values, seeds as mean ± std, and
a direction table that says, claim by claim, whether the paper's finding reproduces.

The direction rule (`verdict`): a claim is "A is larger than B". For every seed that finished all
rows the claim needs, d = A - B. With n such seeds, mean m and sample standard deviation s of d,
the standard error is se = s / sqrt(n), and the verdict is
    ✓             when m >  K_NOISE * se   (the paper's direction, beyond the seeds' spread),
    ✗             when m < -K_NOISE * se   (the opposite direction, beyond the spread),
    within noise  otherwise (including m = 0),
with K_NOISE = 2. One seed has no spread: its verdict is "1 seed" (the sign is shown, not judged).
Seeds are paired (same validation and test images), so the spread of d is the right noise.
This is a rough two-standard-error rule, not a significance test: with 3 seeds a t-test at 95 %
would need 4.3 se.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from seqcore_train.evaluation.figures import save_class_recall_rows, save_pr_scatter
from seqcore_train.evaluation.report import write_json
from seqcore_train.experiment.plan import PAPER_ROWS, Plan, scenario_catalogue, scenario_folder
from shared_schemas import atomic_write_text

__all__ = [
    "K_NOISE",
    "PAPER_TABLE_ONE",
    "PAPER_TABLE_TWO",
    "CLAIMS",
    "verdict",
    "mean_std",
    "paper_reports",
    "claim_differences",
    "load_seed_reports",
    "build_report",
    "write_report",
]

K_NOISE = 2.0
CLASSES = (("scratch", "defect"), ("bump", "defect"), ("dent", "defect"),
           ("water_stain", "impurity"), ("fingerprint", "impurity"), ("sticker", "impurity"))  # fmt: skip

# Paper Table I [%]: per class (R_PX, R_DW), classes in CLASSES order.
PAPER_TABLE_ONE = {
    "Real": ((80.5, 99.0), (49.7, 100.0), (96.0, 97.7), (23.5, 75.9), (4.3, 93.8), (34.0, 100.0)),
    "Synth": ((82.6, 97.5), (33.7, 99.4), (93.1, 98.5), (15.3, 52.5), (1.2, 79.2), (30.5, 100.0)),
    "Synth_WS": ((72.9, 95.0), (31.4, 100.0), (85.3, 97.0), (5.3, 37.9), (1.1, 75.0),
                 (23.4, 100.0)),
    "Synth (ft)": ((75.5, 96.5), (45.3, 100.0), (94.3, 95.5), (17.6, 66.5), (2.1, 89.6),
                   (29.0, 100.0)),
    "Synth_WS (ft)": ((68.1, 93.3), (35.4, 100.0), (91.0, 93.2), (11.6, 51.6), (1.0, 79.2),
                      (25.8, 96.8)),
}  # fmt: skip
# Paper Table II [%]: P_PX, R_PX, F1_PX, mR_DW.
PAPER_TABLE_TWO = {
    "Real": (35.7, 68.4, 47.0, 98.9),
    "Synth": (26.1, 62.7, 36.8, 98.4),
    "Synth_DA": (31.2, 60.8, 41.2, 98.4),
    "Synth_DR": (29.4, 66.7, 40.8, 99.4),
    "Synth_DR+DA": (27.4, 66.2, 38.7, 99.2),
    "Synth_WS": (23.3, 56.2, 32.9, 97.3),
    "Synth_WS+DA": (27.7, 58.0, 37.5, 97.9),
    "Synth_WS+DR": (24.4, 59.7, 34.6, 98.4),
    "Synth_WS+DR+DA": (29.4, 52.0, 37.5, 95.3),
    "Synth (ft)": (41.6, 63.8, 50.3, 97.3),
    "Synth_DA (ft)": (45.6, 57.9, 51.0, 96.1),
    "Synth_DR (ft)": (41.3, 63.7, 50.1, 96.5),
    "Synth_DR+DA (ft)": (47.3, 58.2, 52.2, 95.2),
    "Synth_WS (ft)": (50.3, 55.6, 52.9, 95.5),
    "Synth_WS+DA (ft)": (49.5, 55.8, 52.5, 95.0),
    "Synth_WS+DR (ft)": (44.5, 58.3, 50.5, 95.9),
    "Synth_WS+DR+DA (ft)": (44.5, 55.7, 49.5, 95.6),
    "Melding": (51.5, 52.6, 52.0, 93.9),
    "Melding_WS": (53.9, 50.1, 51.9, 91.7),
}
assert tuple(PAPER_TABLE_TWO) == PAPER_ROWS

# A metric of one report, as a fraction in [0, 1] (None where undefined).
Metric = Callable[[dict], float | None]
TABLE_TWO_METRICS: dict[str, Metric] = {
    "P_PX": lambda r: r["pixel"].get("precision"),
    "R_PX": lambda r: r["pixel"].get("recall"),
    "F1_PX": lambda r: r["pixel"].get("f1"),
    "mR_DW": lambda r: r.get("mean_defect_wise_recall"),
}


def _class_metric(name: str, key: str) -> Metric:
    return lambda r: r.get("per_class", {}).get(name, {}).get(key)


TABLE_ONE_METRICS: dict[str, Metric] = {}
for _name, _kind in CLASSES:
    TABLE_ONE_METRICS[f"{_name}.R_PX"] = _class_metric(_name, "pixel_recall")
    TABLE_ONE_METRICS[f"{_name}.R_DW"] = _class_metric(_name, "defect_wise_recall")


def paper_reports() -> dict[str, dict]:
    """The paper's tables as report dicts (fractions), so claims read ours and theirs alike."""
    reports: dict[str, dict] = {}
    for label, (p, r, f1, mr) in PAPER_TABLE_TWO.items():
        reports[label] = {
            "pixel": {"precision": p / 100, "recall": r / 100, "f1": f1 / 100},
            "mean_defect_wise_recall": mr / 100,
            "per_class": {},
        }
    for label, values in PAPER_TABLE_ONE.items():
        reports[label]["per_class"] = {
            name: {"kind": kind, "pixel_recall": px / 100, "defect_wise_recall": dw / 100}
            for (name, kind), (px, dw) in zip(CLASSES, values, strict=True)
        }
    return reports


# ---- the direction table ------------------------------------------------------------------------

SeedReports = dict[str, dict]  # row label -> report of one seed


def _f1(r: dict) -> float | None:
    return r["pixel"].get("f1")


def _group(rows: SeedReports, labels, metric: Metric, combine) -> float | None:
    values = [metric(rows[label]) for label in labels if label in rows]
    values = [v for v in values if v is not None]
    return combine(values) if values else None


_NON_FT_SYNTH = tuple(r for r in PAPER_ROWS if r.startswith("Synth") and "(ft)" not in r)
_FT = tuple(r for r in PAPER_ROWS if r.endswith("(ft)"))
_DA_DR_PAIRS = (("Synth_DA", "Synth_DR"), ("Synth_WS+DA", "Synth_WS+DR"))


def _mean(values):
    return sum(values) / len(values)


@dataclass(frozen=True)
class Claim:
    """A paper finding as 'A > B' on one seed's reports; A or B is None when its rows are missing
    (a seed counts for the claim only when both are there)."""

    key: str
    text: str
    a_name: str
    b_name: str
    a: Callable[[SeedReports], float | None]
    b: Callable[[SeedReports], float | None]


def _da_minus_dr_groups(rows: SeedReports) -> tuple[list[str], list[str]]:
    pairs = [(da, dr) for da, dr in _DA_DR_PAIRS if da in rows and dr in rows]
    return [da for da, _ in pairs], [dr for _, dr in pairs]


CLAIMS: tuple[Claim, ...] = (
    Claim(
        "ws_lowers_water_stain_recall",
        "Training with water stains lowers water-stain R_DW (Table I)",
        "R_DW water stain, Synth", "R_DW water stain, Synth_WS",
        lambda rows: _group(rows, ["Synth"], _class_metric("water_stain", "defect_wise_recall"),
                            _mean),
        lambda rows: _group(rows, ["Synth_WS"],
                            _class_metric("water_stain", "defect_wise_recall"), _mean),
    ),
    Claim(
        "ft_raises_precision",
        "Fine-tuning on real data raises precision (Table II)",
        "P_PX Synth (ft)", "P_PX Synth",
        lambda rows: _group(rows, ["Synth (ft)"], TABLE_TWO_METRICS["P_PX"], _mean),
        lambda rows: _group(rows, ["Synth"], TABLE_TWO_METRICS["P_PX"], _mean),
    ),
    Claim(
        "melding_close_to_ft",
        "Melding comes close to fine-tuning in F1: at least the weakest (ft) row",
        "F1 Melding", "F1 of the weakest (ft) row",
        lambda rows: _group(rows, ["Melding"], _f1, _mean),
        lambda rows: _group(rows, _FT, _f1, min),
    ),
    Claim(
        "da_beats_dr",
        "Augmentation helps more than domain randomisation (F1, DA rows vs DR rows, without ft)",
        "mean F1 of the DA rows", "mean F1 of the DR rows",
        lambda rows: _group(rows, _da_minus_dr_groups(rows)[0], _f1, _mean),
        lambda rows: _group(rows, _da_minus_dr_groups(rows)[1], _f1, _mean),
    ),
    Claim(
        "real_best_without_ft",
        "Real is best without fine-tuning (F1 of Real vs the best synthetic row without ft)",
        "F1 Real", "F1 of the best synthetic row without ft",
        lambda rows: _group(rows, ["Real"], _f1, _mean),
        lambda rows: _group(rows, _NON_FT_SYNTH, _f1, max),
    ),
)  # fmt: skip


def mean_std(values) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for one value)."""
    values = [float(v) for v in values]
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def verdict(differences, k: float = K_NOISE) -> str:
    """✓, ✗, 'within noise', '1 seed' or 'not run' for the per-seed differences d = A - B."""
    differences = [float(d) for d in differences]
    if not differences:
        return "not run"
    if len(differences) == 1:
        return "1 seed"
    mean, std = mean_std(differences)
    se = std / math.sqrt(len(differences))
    if mean > k * se and mean > 0:
        return "✓"
    if mean < -k * se and mean < 0:
        return "✗"
    return "within noise"


def claim_differences(claim: Claim, seeds: dict[int, SeedReports]) -> dict:
    """A, B and d = A - B for every seed with the rows the claim needs."""
    a_values, b_values, diffs = [], [], []
    for _seed, rows in sorted(seeds.items()):
        a, b = claim.a(rows), claim.b(rows)
        if a is not None and b is not None:
            a_values.append(a)
            b_values.append(b)
            diffs.append(a - b)
    return {"a": a_values, "b": b_values, "d": diffs}


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


def build_report(plan: Plan, seeds: dict[int, SeedReports]) -> dict:
    """Everything report.json holds: per-row statistics, the paper's values, the claims."""
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
    claims = []
    for claim in CLAIMS:
        ours = claim_differences(claim, seeds)
        paper_a, paper_b = claim.a(paper), claim.b(paper)
        claims.append({
            "key": claim.key,
            "claim": claim.text,
            "a": claim.a_name,
            "b": claim.b_name,
            "ours": {name: _stats(ours[name]) for name in ("a", "b", "d")},
            "paper": {"a": paper_a, "b": paper_b, "d": paper_a - paper_b},
            "verdict": verdict(ours["d"]),
        })  # fmt: skip
    return {
        "plan": str(plan.path),
        "seeds": list(plan.seeds),
        "rule": f"d = A - B per seed; ✓ if mean(d) > {K_NOISE:g} se, ✗ if mean(d) < -{K_NOISE:g} "
        "se, else within noise; se = sd(d) / sqrt(n seeds); one seed: '1 seed'",
        "rows": rows,
        "claims": claims,
        "paper": {"table_one": PAPER_TABLE_ONE, "table_two": PAPER_TABLE_TWO},
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
        body.append([
            claim["claim"],
            f"A = {claim['a']}, B = {claim['b']}",
            numbers,
            f"{100 * paper['a']:.1f} vs {100 * paper['b']:.1f}; d = {100 * paper['d']:.1f}",
            claim["verdict"],
        ])  # fmt: skip
    lines = ["| Paper claim (A > B) | A, B | ours [%] | paper [%] | reproduces? |",
             "|---|---|---|---|:---:|"]  # fmt: skip
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
        f"Rule: {report['rule']}.",
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
    report = build_report(plan, seeds)
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
    write_json(out / "report.json", report)
    atomic_write_text(out / "report.md", _markdown(plan, report, figures))
    return report
