"""The demo flow: fit Synth and Synth_WS (the paper's labels), calibrate, evaluate, write the
comparison report with a plain verdict on the water-stain effect."""

from __future__ import annotations

import json

import numpy as np
import pytest

from seqcore_train import demo
from seqcore_train.evaluation.metrics import flatten

TINY = dict(coreset_size=32, epochs=1, batch_size=4, device="cpu")


def check_report(out):
    markdown = (out / "report.md").read_text()
    assert "| Synth |" in markdown and "| Synth_WS |" in markdown
    assert "the paper's effect" in markdown
    assert "Table I" in markdown and "Table II" in markdown
    for relative in (
        "figures/per_class_recall.png",
        "figures/pr_curves.png",
        "eval/synth/figures/best_worst.png",
        "eval/synth_ws/figures/best_worst.png",
    ):
        assert (out / relative).stat().st_size > 1000, relative
        assert f"]({relative})" in markdown
    for stem in ("synth", "synth_ws"):
        report = json.loads((out / "eval" / stem / "report.json").read_text())
        assert "pixel.f1" in flatten(report) and report["threshold"] > 0


def test_compare_on_generated_datasets(tmp_path, manifest_writer):
    rng = np.random.default_rng(11)
    folders = {
        "train": manifest_writer(tmp_path / "train", rng, {"train": 3}, 64, ("clean", "stained")),
        "val": manifest_writer(tmp_path / "val", rng, {"val": 2}, 64),
        "test": manifest_writer(tmp_path / "test", rng, {"test": 2}, 64),
    }
    config = demo.DemoConfig(resolution=(64, 64), **TINY)
    reports = demo.compare(folders, tmp_path / "out", config, log=lambda _m: None)
    assert set(reports) == {"Synth", "Synth_WS"}
    check_report(tmp_path / "out")


@pytest.mark.slow
@pytest.mark.blender
def test_demo_renders_and_reports(tmp_path):
    pytest.importorskip("bpy")
    out = tmp_path / "demo"
    code = demo.main([
        "--out", str(out), "--train-plates", "1", "--val-plates", "2", "--test-plates", "2",
        "--resolution", "64", "54", "--samples", "2", "--coreset-size", "32", "--epochs", "1",
        "--device", "cpu",
    ])  # fmt: skip
    assert code == 0
    check_report(out)


def test_renders_from_other_add_on_sources_are_discarded(tmp_path):
    from seqcore_train.experiment.runner import RENDER_SCRIPT
    from shared_schemas import source_digest

    def rendered(name: str, source: str | None) -> object:
        folder = tmp_path / name
        folder.mkdir()
        generator = {"version": "0.1.0", "blender": "5.0.1"} | (
            {"source": source} if source else {}
        )
        (folder / "manifest.json").write_text(json.dumps({"generator": generator}))
        (folder / "images").mkdir()
        return folder

    messages = []
    current = rendered("current", source_digest(RENDER_SCRIPT.parent))
    assert not demo.discard_other_renders(current, messages.append) and current.is_dir()
    for name, source in [("earlier", "0123456789abcdef"), ("before-sources", None)]:
        stale = rendered(name, source)
        assert demo.discard_other_renders(stale, messages.append) and not stale.exists()
    assert len(messages) == 2 and "rendering again" in messages[0] and "unrecorded" in messages[1]
    assert not demo.discard_other_renders(tmp_path / "never-rendered", messages.append)


def _stains(recall: float, instances: int) -> dict:
    return {"per_class": {"water_stain": {"defect_wise_recall": recall, "instances": instances}}}


def test_stain_effect_is_stated_plainly_either_way():
    # 40 stains: 60 % vs 20 % differ by 40 points, two standard errors are 2 * 0.1 = 20 points
    seen = demo.stain_effect({"A": _stains(0.6, 40), "B": _stains(0.2, 40)}, "A", "B")
    assert "this run shows the paper's effect" in seen and "±20%" in seen
    # 10 points apart on 40 stains is within two standard errors (about 20 points)
    unseen = demo.stain_effect({"A": _stains(0.3, 40), "B": _stains(0.2, 40)}, "A", "B")
    assert "this run does not show" in unseen
    reversed_ = demo.stain_effect({"A": _stains(0.2, 40), "B": _stains(0.6, 40)}, "A", "B")
    assert "does not show" in reversed_ and "-40%" in reversed_
    none = demo.stain_effect({"A": _stains(0.0, 0), "B": _stains(0.0, 0)}, "A", "B")
    assert "holds no water stains" in none


def test_row_labels_follow_the_augmentation():
    assert demo.row_labels(demo.DemoConfig()) == ("Synth", "Synth_WS")
    assert demo.row_labels(demo.DemoConfig(augment=True)) == ("Synth_DA", "Synth_WS+DA")
