"""report.md tables in the paper's layout, from report dictionaries."""

from __future__ import annotations

from seqcore_train.evaluation.report import render_markdown, table_one, table_two


def fake_report(precision, scratch_px):
    return {
        "threshold": 1.5,
        "pixel": {"precision": precision, "recall": 0.5, "f1": 0.25, "auroc": 0.9, "aupro": None},
        "image": {"auroc": None},
        "per_class": {
            "scratch": {
                "kind": "defect",
                "pixel_recall": scratch_px,
                "defect_wise_recall": 1.0,
                "pixels": 10,
                "instances": 2,
            },
            "bump": {
                "kind": "defect",
                "pixel_recall": None,
                "defect_wise_recall": None,
                "pixels": 0,
                "instances": 0,
            },
            "water_stain": {
                "kind": "impurity",
                "pixel_recall": 0.053,
                "defect_wise_recall": 0.379,
                "pixels": 40,
                "instances": 3,
            },
        },
        "mean_defect_wise_recall": 1.0,
    }


def test_table_one_columns_and_percentages():
    table = table_one([("Synth", fake_report(0.3, 0.826)), ("Synth_WS", fake_report(0.2, 0.729))])
    header, rule, synth, synth_ws = table.splitlines()
    assert header.split(" | ")[1:3] == ["scratch↑ R_PX", "scratch↑ R_DW"]
    assert "water_stain↓ R_PX" in header and "bump" not in header  # absent classes left out
    assert synth.startswith("| Synth | 82.6 | 100.0 | 5.3 | 37.9")
    assert synth_ws.startswith("| Synth_WS | 72.9 |")


def test_table_two_and_missing_values():
    table = table_two([("Real", fake_report(0.357, 0.8))])
    assert table.splitlines()[0] == "| Training scenario | P_PX | R_PX | F1_PX | mR_DW |"
    assert table.splitlines()[2] == "| Real | 35.7 | 50.0 | 25.0 | 100.0 |"
    markdown = render_markdown([("Real", fake_report(0.357, 0.8))], "t", ["note"], [("F", "f.png")])
    assert "| Real | 90.0 | – | – | 1.5 |" in markdown and "![F](f.png)" in markdown
