"""The experiment report: the direction rule on hand-made numbers, the claims on the paper's own
tables, and report.md / report.json / figures from hand-written evaluation reports."""

from __future__ import annotations

import json

import pytest

from seqcore_train.evaluation.report import write_json
from seqcore_train.experiment.plan import load_plan, slug
from seqcore_train.experiment.report import (
    CLAIMS,
    PAPER_TABLE_ONE,
    PAPER_TABLE_TWO,
    claim_differences,
    paper_reports,
    verdict,
    write_report,
)


@pytest.mark.parametrize(
    ("differences", "expected"),
    [
        ([0.03, 0.04, 0.05], "✓"),  # mean 0.04, se 0.0058: far beyond 2 se
        ([-0.03, -0.04, -0.05], "✗"),
        ([0.01, 0.02, 0.03], "✓"),  # mean 0.02 > 2 * 0.0058
        ([0.0, 0.02, 0.04], "within noise"),  # same mean, se 0.0115: 2 se = 0.023 > 0.02
        ([0.01, -0.01, 0.02], "within noise"),
        ([-0.05, 0.0, -0.04, -0.06], "✗"),  # mean -0.0375, se 0.0131: beyond -2 se
        ([0.0, 0.0, 0.0], "within noise"),  # no spread and no difference
        ([0.02, 0.02, 0.02], "✓"),  # no spread, a difference
        ([0.5], "1 seed"),  # one seed has no spread to judge by
        ([], "not run"),
    ],
)
def test_direction_rule_on_hand_made_numbers(differences, expected):
    assert verdict(differences) == expected


def test_direction_rule_boundary_is_two_standard_errors():
    # d = (1, 2, 3) * x: mean 2x, sd x, se x / sqrt(3); mean / se = 3.46 -> ✓ at k = 2, noise at 4
    assert verdict([1.0, 2.0, 3.0]) == "✓"
    assert verdict([1.0, 2.0, 3.0], k=3.4) == "✓"
    assert verdict([1.0, 2.0, 3.0], k=3.5) == "within noise"


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
    assert verdict(ws["d"]) == "✓"
    ft = claim_differences(by_key["ft_raises_precision"], seeds)
    assert ft["d"] == pytest.approx([-0.01, -0.03, -0.05])
    assert verdict(ft["d"]) == "✗"
    # rows the plan did not run: the claim is not run, not a verdict on missing numbers
    assert claim_differences(by_key["melding_close_to_ft"], seeds)["d"] == []
    del seeds[2]["Synth_WS"]  # a seed that did not finish a row drops out of that claim
    assert len(claim_differences(by_key["ws_lowers_water_stain_recall"], seeds)["d"]) == 2


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
            write_json(out / "runs" / f"s{seed}" / slug(scenario.label) / "eval" / "report.json",
                       report)  # fmt: skip
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
    # the direction table: ft raises precision in every seed by 15 points, no spread -> ✓
    ft_line = next(line for line in markdown.splitlines() if "raises precision" in line)
    assert ft_line.rstrip(" |").endswith("✓") and "41.6 vs 26.1" in ft_line
    meld_line = next(line for line in markdown.splitlines() if "Melding comes close" in line)
    assert "not run" in meld_line
    for figure in ("figures/per_class_recall.png", "figures/precision_recall.png"):
        assert (out / figure).stat().st_size > 5000
        assert f"]({figure})" in markdown
