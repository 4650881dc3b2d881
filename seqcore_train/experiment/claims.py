"""The paper's findings as claims 'A > B', and the test that decides each on our runs.

A claim reads one seed's reports (row label -> evaluate's report.json) and gives A and B; d = A - B.
The paper's own tables (`paper_reports`) give its A and B the same way. Our d is decided by a paired
bootstrap over the test images and the seeds (`evaluation/bootstrap.py`, from each evaluation's
per_image.json): the rows were scored on the same test images, so one draw of images serves every
row and seed. The verdict (`verdict`):
    ✓             when the 95 % interval of d lies above 0 (the paper's direction),
    ✗             when it lies below 0 (the opposite direction),
    within noise  otherwise;
its half-width is about the smallest difference the test set and seeds can see. One seed shows its
interval (test images only) but is judged '1 seed': the training renders' spread is not in it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqcore_train.evaluation.bootstrap import (
    RESAMPLES,
    Interval,
    count_matrix,
    paired_bootstrap,
    report_from_sums,
)
from seqcore_train.experiment.plan import PAPER_ROWS, Plan, scenario_folder

__all__ = [
    "CLASSES",
    "PAPER_TABLE_ONE",
    "PAPER_TABLE_TWO",
    "TABLE_ONE_METRICS",
    "TABLE_TWO_METRICS",
    "CLAIMS",
    "Claim",
    "Metric",
    "SeedReports",
    "BOOTSTRAP_SEED",
    "paper_reports",
    "claim_differences",
    "load_seed_counts",
    "bootstrap_claim",
    "verdict",
]

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


def _min(values):
    return np.min(np.stack(values), axis=0)  # element-wise over resamples; a number stays one


def _max(values):
    return np.max(np.stack(values), axis=0)


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


def _side(labels, metric: Metric, combine=_mean) -> Callable[[SeedReports], float | None]:
    """One side of a claim: `metric` of the rows `labels`, combined over those a seed has."""
    return lambda rows: _group(rows, labels, metric, combine)


def _da_minus_dr_groups(rows: SeedReports) -> tuple[list[str], list[str]]:
    pairs = [(da, dr) for da, dr in _DA_DR_PAIRS if da in rows and dr in rows]
    return [da for da, _ in pairs], [dr for _, dr in pairs]


CLAIMS: tuple[Claim, ...] = (
    Claim(
        "ws_lowers_water_stain_recall",
        "Training with water stains lowers water-stain R_DW (Table I)",
        "R_DW water stain, Synth", "R_DW water stain, Synth_WS",
        _side(["Synth"], _class_metric("water_stain", "defect_wise_recall")),
        _side(["Synth_WS"], _class_metric("water_stain", "defect_wise_recall")),
    ),
    Claim(
        "ws_lowers_defect_recall",
        "Training with water stains lowers defect recall (R_PX, Table II)",
        "R_PX Synth", "R_PX Synth_WS",
        _side(["Synth"], TABLE_TWO_METRICS["R_PX"]),
        _side(["Synth_WS"], TABLE_TWO_METRICS["R_PX"]),
    ),
    Claim(
        "ft_raises_precision",
        "Fine-tuning on real data raises precision (Table II)",
        "P_PX Synth (ft)", "P_PX Synth",
        _side(["Synth (ft)"], TABLE_TWO_METRICS["P_PX"]),
        _side(["Synth"], TABLE_TWO_METRICS["P_PX"]),
    ),
    Claim(
        "ft_beats_real",
        "Fine-tuned synthetic data beats Real (F1 of the paper's best row, Table II)",
        "F1 Synth_WS (ft)", "F1 Real",
        _side(["Synth_WS (ft)"], _f1),
        _side(["Real"], _f1),
    ),
    Claim(
        "melding_close_to_ft",
        "Melding comes close to fine-tuning in F1: at least the weakest (ft) row",
        "F1 Melding", "F1 of the weakest (ft) row",
        _side(["Melding"], _f1),
        _side(_FT, _f1, _min),
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
        _side(["Real"], _f1),
        _side(_NON_FT_SYNTH, _f1, _max),
    ),
)  # fmt: skip


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


# ---- the bootstrap ------------------------------------------------------------------------------

SeedCounts = dict[str, np.ndarray]  # row label -> (test images, columns) counts of one seed
BOOTSTRAP_SEED = 20240  # the report's draws are the same on every run


def load_seed_counts(plan: Plan, out: Path) -> tuple[dict[int, SeedCounts], list[str]]:
    """Each finished scenario's per-image counts (eval/per_image.json) on the test images every
    one of them saw, in one order: (seed -> row label -> counts, test image ids)."""
    loaded: dict[int, dict[str, dict]] = {}
    for seed in plan.seeds:
        for scenario in plan.scenarios:
            path = scenario_folder(out, seed, scenario.label) / "eval" / "per_image.json"
            if path.is_file():
                per_image = json.loads(path.read_text(encoding="utf-8"))
                loaded.setdefault(seed, {})[scenario.label] = per_image
    every = [
        {image["id"] for image in p["images"]} for rows in loaded.values() for p in rows.values()
    ]
    ids = sorted(set.intersection(*every)) if every else []
    names = [name for name, _kind in CLASSES]
    counts = {seed: {label: count_matrix(p, ids, names) for label, p in rows.items()}
              for seed, rows in loaded.items()}  # fmt: skip
    return counts, ids


def bootstrap_claim(
    claim: Claim,
    counts: dict[int, SeedCounts],
    rng: np.random.Generator,
    resamples: int = RESAMPLES,
) -> tuple[Interval | None, list[int]]:
    """The claim's d over all test images and its interval over paired draws of test images and
    seeds; only seeds with per-image counts for the rows the claim needs take part."""

    def reports(rows: SeedCounts, weights: np.ndarray) -> dict[str, dict]:
        return {label: report_from_sums(weights @ c, CLASSES) for label, c in rows.items()}

    seeds = []
    n_images = 0
    for seed, rows in sorted(counts.items()):
        full = {label: report_from_sums(c.sum(axis=0), CLASSES) for label, c in rows.items()}
        a, b = claim.a(full), claim.b(full)  # NaN: a class the test images lack
        if a is not None and b is not None and np.isfinite(a - b):
            seeds.append(seed)
            n_images = next(iter(rows.values())).shape[0]
    if not seeds or n_images == 0:
        return None, seeds

    def difference(weights: np.ndarray) -> np.ndarray:
        per_seed = []
        for seed in seeds:
            rows = reports(counts[seed], weights)
            per_seed.append(np.asarray(claim.a(rows)) - np.asarray(claim.b(rows)))
        return np.stack(per_seed)

    return paired_bootstrap(difference, n_images, len(seeds), rng, resamples), seeds


def verdict(interval: Interval | None, n_seeds: int) -> str:
    """✓, ✗, 'within noise', '1 seed', 'no per-image records' or 'not run' (no seed has the
    rows), from the bootstrap interval over `n_seeds` seeds."""
    if n_seeds == 0:
        return "not run"
    if interval is None:
        return "no per-image records"
    if n_seeds == 1:
        return "1 seed"
    return interval.verdict()
