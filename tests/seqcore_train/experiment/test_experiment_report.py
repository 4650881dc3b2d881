"""The experiment report: the direction rule on hand-made numbers, the claims on the paper's own
tables, and report.md / report.json / figures from hand-written evaluation reports."""

from __future__ import annotations

import json

import numpy as np
import pytest

from seqcore_train.evaluation.bootstrap import Interval
from seqcore_train.evaluation.report import write_json
from seqcore_train.experiment.claims import (
    CLAIMS,
    PAPER_TABLE_ONE,
    PAPER_TABLE_TWO,
    bootstrap_claim,
    claim_differences,
    paper_reports,
    verdict,
)
from seqcore_train.experiment.plan import load_plan, slug
from seqcore_train.experiment.report import family_sweeps, row_family, write_report


@pytest.mark.parametrize(
    ("interval", "seeds", "expected"),
    [
        (Interval(0.04, 0.01, 0.07, 2000, 2000), 3, "✓"),  # the interval lies above 0
        (Interval(-0.04, -0.07, -0.01, 2000, 2000), 3, "✗"),  # below 0
        (Interval(0.04, -0.001, 0.08, 2000, 2000), 3, "within noise"),  # touches 0
        (Interval(0.0, 0.0, 0.0, 2000, 2000), 5, "within noise"),  # no difference at all
        (Interval(0.3, 0.2, 0.4, 2000, 2000), 1, "1 seed"),  # one seed: the renders' spread unseen
        (None, 3, "no per-image records"),
        (None, 0, "not run"),
    ],
)
def test_verdict_from_the_interval(interval, seeds, expected):
    assert verdict(interval, seeds) == expected


def test_every_claim_holds_on_the_papers_own_tables():
    """The paper's text states these findings; its tables must show them (d > 0), with the
    numbers the issue quotes."""
    paper = paper_reports()
    by_key = {c.key: c for c in CLAIMS}
    for claim in CLAIMS:
        a, b = claim.a(paper), claim.b(paper)
        assert a is not None and b is not None and a > b, claim.key
    ws = by_key["ws_lowers_water_stain_recall"]
    assert (ws.a(paper), ws.b(paper)) == pytest.approx((0.525, 0.379))
    ft = by_key["ft_raises_precision"]
    assert (ft.a(paper), ft.b(paper)) == pytest.approx((0.416, 0.261))
    meld = by_key["melding_close_to_ft"]
    assert meld.a(paper) == pytest.approx(0.520)
    assert meld.b(paper) == pytest.approx(min(PAPER_TABLE_TWO[r][2] for r in PAPER_TABLE_TWO
                                              if r.endswith("(ft)")) / 100)  # fmt: skip
    real = by_key["real_best_without_ft"]
    assert (real.a(paper), real.b(paper)) == pytest.approx((0.470, 0.412))  # Synth_DA's 41.2
    ft_real = by_key["ft_beats_real"]
    assert (ft_real.a(paper), ft_real.b(paper)) == pytest.approx((0.529, 0.470))
    defects = by_key["ws_lowers_defect_recall"]
    assert (defects.a(paper), defects.b(paper)) == pytest.approx((0.627, 0.562))


def _report(precision, recall, water_stain_dw=0.5):
    f1 = 2 * precision * recall / (precision + recall)
    per_class = {
        name: {"kind": kind, "pixel_recall": 0.5, "defect_wise_recall": 0.9, "pixels": 10,
               "instances": 3}
        for name, kind in (("scratch", "defect"), ("bump", "defect"), ("dent", "defect"),
                           ("water_stain", "impurity"), ("fingerprint", "impurity"),
                           ("sticker", "impurity"))
    }  # fmt: skip
    per_class["water_stain"]["defect_wise_recall"] = water_stain_dw
    return {
        "pixel": {"precision": precision, "recall": recall, "f1": f1},
        "mean_defect_wise_recall": 0.9,
        "per_class": per_class,
    }


def test_claims_from_seed_reports():
    seeds = {
        seed: {
            "Synth": _report(0.20 + 0.01 * seed, 0.6, water_stain_dw=0.6 + 0.01 * seed),
            "Synth_WS": _report(0.18, 0.6, water_stain_dw=0.40 - 0.02 * seed),
            "Synth (ft)": _report(0.19 - 0.01 * seed, 0.6),  # precision not raised
        }
        for seed in range(3)
    }
    by_key = {c.key: c for c in CLAIMS}
    ws = claim_differences(by_key["ws_lowers_water_stain_recall"], seeds)
    assert ws["d"] == pytest.approx([0.2, 0.23, 0.26])
    ft = claim_differences(by_key["ft_raises_precision"], seeds)
    assert ft["d"] == pytest.approx([-0.01, -0.03, -0.05])
    # rows the plan did not run: the claim is not run, not a verdict on missing numbers
    assert claim_differences(by_key["melding_close_to_ft"], seeds)["d"] == []
    del seeds[2]["Synth_WS"]  # a seed that did not finish a row drops out of that claim
    assert len(claim_differences(by_key["ws_lowers_water_stain_recall"], seeds)["d"]) == 2


NAMES = ("scratch", "bump", "dent", "water_stain", "fingerprint", "sticker")


def _per_image(tp, stains_found, images=10, fp_extra=0):
    """per_image.json of `images` test images: tp of 100 predicted pixels (+ fp_extra), 20
    missed, one instance of every class, water stains covered on the first `stains_found`."""
    return {"images": [
        {"id": f"t{k}", "tp": tp, "fp": 100 - tp + fp_extra * (k % 2), "fn": 20,
         "class_pixels": {name: [50, 25] for name in NAMES},
         "instances": [[name, 50, 0 if name == "water_stain" and k >= stains_found else 5]
                       for name in NAMES]}
        for k in range(images)
    ]}  # fmt: skip


def test_claims_bootstrapped_from_per_image_counts():
    """Synth finds 8 of 10 water stains in every seed, Synth_WS 2: every draw of images gives
    d > 0 (✓). Synth (ft)'s precision is below Synth's on every image: ✗. Seed 2 lacks Synth_WS."""
    from seqcore_train.evaluation.bootstrap import count_matrix

    ids = [f"t{k}" for k in range(10)]

    def counts(per_image):
        return count_matrix(per_image, ids, NAMES)

    seeds = {
        seed: {"Synth": counts(_per_image(30, 8, fp_extra=seed)),
               "Synth_WS": counts(_per_image(28, 2)),
               "Synth (ft)": counts(_per_image(25, 5, fp_extra=4))}
        for seed in range(3)
    }  # fmt: skip
    del seeds[2]["Synth_WS"]
    by_key = {c.key: c for c in CLAIMS}
    rng = np.random.default_rng(0)
    ws, used = bootstrap_claim(by_key["ws_lowers_water_stain_recall"], seeds, rng, 500)
    assert used == [0, 1] and ws.d == pytest.approx(0.6) and ws.low > 0.2
    assert verdict(ws, len(used)) == "✓"
    ft, used = bootstrap_claim(by_key["ft_raises_precision"], seeds, rng, 500)
    assert used == [0, 1, 2] and ft.high < 0 and verdict(ft, 3) == "✗"
    recall, _ = bootstrap_claim(by_key["ws_lowers_defect_recall"], seeds, rng, 500)
    assert recall.d == pytest.approx(30 / 50 - 28 / 48) and recall.low == recall.high == recall.d
    none, used = bootstrap_claim(by_key["melding_close_to_ft"], seeds, rng, 500)
    assert none is None and used == []


def test_coverage_sweep_per_row_family():
    assert [row_family(r) for r in ("Real", "Synth_DR+DA", "Synth_WS+DA", "Synth_DA (ft)",
                                    "Synth_WS (ft)", "Melding_WS", "Melding x2")] == [
        "Real", "Synth", "Synth_WS", "Synth (ft)", "Synth_WS (ft)", "Melding", "Melding"]  # fmt: skip
    sweep = {"min_covered_share": [0.0, 0.5], "defect_wise_recall": {"dent": [1.0, 0.5]}}
    other = {"min_covered_share": [0.0, 0.5],
             "defect_wise_recall": {"dent": [0.8, None], "bump": [None, None]}}  # fmt: skip
    seeds = {0: {"Synth": {"coverage_sweep": sweep}, "Synth_DA": {"coverage_sweep": other},
                 "Real": {}},
             1: {"Synth": {"coverage_sweep": other}}}  # fmt: skip
    families = family_sweeps(seeds)
    assert set(families) == {"Synth"}  # Real's report has no sweep (an older evaluation)
    assert families["Synth"]["rows"] == ["Synth", "Synth_DA"]
    assert families["Synth"]["defect_wise_recall"]["dent"] == pytest.approx([0.8667, 0.5], abs=1e-4)
    assert families["Synth"]["defect_wise_recall"]["bump"] == [None, None]  # no bumps: no value


def test_report_from_finished_scenarios(tmp_path):
    plan_path = tmp_path / "plan.toml"
    plan_path.write_text(
        """
[experiment]
seeds = [0, 1, 2]
scenarios = ["Synth (ft)", "Synth_WS (ft)", "Real"]
[data.synth]
count = 2
[data.real_train]
count = 2
[data.real_val]
count = 2
[data.real_test]
count = 2
"""
    )
    plan = load_plan(plan_path)
    out = tmp_path / "out"
    precision = {"Real": 0.36, "Synth": 0.26, "Synth_WS": 0.23, "Synth (ft)": 0.41,
                 "Synth_WS (ft)": 0.50}  # fmt: skip
    for seed in plan.seeds:
        for scenario in plan.scenarios:
            if seed == 2 and scenario.label == "Real":
                continue  # an unfinished row
            report = _report(precision[scenario.label] + 0.01 * seed, 0.6)
            report["coverage_sweep"] = {"min_covered_share": [0.0, 0.5, 1.0],
                                        "defect_wise_recall": {"scratch": [0.9, 0.5, 0.1]}}  # fmt: skip
            folder = out / "runs" / f"s{seed}" / slug(scenario.label) / "eval"
            write_json(folder / "report.json", report)
            tp = round(100 * (precision[scenario.label] + 0.01 * seed))
            write_json(folder / "per_image.json", _per_image(tp, 5))
    report = write_report(plan, out)
    markdown = (out / "report.md").read_text()
    stored = json.loads((out / "report.json").read_text())
    assert stored["claims"] == json.loads(json.dumps(report["claims"]))
    assert stored["rows"]["Synth (ft)"]["table_two"]["P_PX"]["n"] == 3
    assert stored["rows"]["Real"]["seeds"] == [0, 1]
    # Table II: ours as mean ± std beside the paper's value
    assert "| Synth (ft) | 42.0 ± 1.0 | 41.6 |" in markdown
    assert "| Real | 36.5 ± 0.7 | 35.7 |" in markdown
    assert "Real (2/3)" in markdown  # the unfinished row is named
    # Table I: five rows with the paper's values in brackets
    for label in PAPER_TABLE_ONE:
        assert f"| {label} | 50.0 ± 0.0 ({PAPER_TABLE_ONE[label][0][0]:.1f}) |" in markdown
    # the direction table: ft raises precision on every image and seed by 15 points -> ✓
    ft_line = next(line for line in markdown.splitlines() if "raises precision" in line)
    assert ft_line.rstrip(" |").endswith("✓") and "41.6 vs 26.1" in ft_line
    assert "d = 15.0 [15.0, 15.0], ± 0.0 (3 seeds × 10 images)" in ft_line
    ft_real = next(c for c in stored["claims"] if c["key"] == "ft_beats_real")
    assert ft_real["bootstrap"]["seeds"] == [0, 1] and ft_real["verdict"] == "✓"  # no Real in s2
    assert ft_real["paper"]["a"] == pytest.approx(0.529)
    for family in ("real", "synth", "synth_ws", "synth_ft", "synth_ws_ft"):
        assert f"](figures/coverage_{family}.png)" in markdown
        assert (out / f"figures/coverage_{family}.png").stat().st_size > 5000
    meld_line = next(line for line in markdown.splitlines() if "Melding comes close" in line)
    assert "not run" in meld_line
    for figure in ("figures/per_class_recall.png", "figures/precision_recall.png"):
        assert (out / figure).stat().st_size > 5000
        assert f"]({figure})" in markdown
