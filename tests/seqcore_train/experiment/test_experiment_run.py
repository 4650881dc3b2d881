"""plans/tiny.toml end to end with real Cycles renders, real weights and real files: killed after
its first scenario, resumed, finished; the finished scenario's files are never written again."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seqcore_train.experiment.plan import load_plan, slug

ROOT = Path(__file__).resolve().parents[3]
TINY = ROOT / "plans" / "tiny.toml"
COMMAND = [sys.executable, "-c", "from seqcore_train.cli import main; main()", "experiment"]


def _files(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `folder`: (bytes, mtime in ns)."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """Run the tiny plan, kill it (SIGKILL, the whole process group) as soon as its first scenario
    has finished, run it again to the end, then once more."""
    pytest.importorskip("bpy")
    out = tmp_path_factory.mktemp("experiment") / "tiny"
    plan = load_plan(TINY)
    first = out / "runs" / "s0" / slug(plan.scenarios[0].label)
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    process = subprocess.Popen(
        [*COMMAND, str(TINY), "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )
    deadline = time.monotonic() + 900
    while not (first / "done.json").is_file():
        assert process.poll() is None, "the run ended before its first scenario finished"
        assert time.monotonic() < deadline, "the first scenario did not finish in 15 minutes"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = _files(first)
    resumed = subprocess.run(
        [*COMMAND, str(TINY), "--out", str(out)], capture_output=True, text=True, timeout=1200,
        env=env,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    models = {p: p.read_bytes() for p in (out / "runs").rglob("model.safetensors")}
    stamps = {p: p.stat().st_mtime_ns for p in models}
    again = subprocess.run(
        [*COMMAND, str(TINY), "--out", str(out)], capture_output=True, text=True, timeout=600,
        env=env,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    return {
        "out": out,
        "plan": plan,
        "first": first,
        "before": before,
        "resumed": resumed.stderr,
        "again": again.stderr,
        "models": models,
        "stamps": stamps,
    }


@pytest.mark.slow
@pytest.mark.blender
def test_resume_after_kill_leaves_finished_scenarios_untouched(tiny_run):
    first, plan = tiny_run["first"], tiny_run["plan"]
    assert _files(first) == tiny_run["before"]  # bytes and mtimes: nothing rewritten
    label = plan.scenarios[0].label
    assert f"[s0] {label}: finished earlier, skipped" in tiny_run["resumed"]
    assert f"[s0] {label}: train" not in tiny_run["resumed"]
    # renders finished before the kill are not redone
    assert "render synth-s0: rendered earlier, skipped" in tiny_run["resumed"]
    # a third run finds everything finished and writes no model again
    for scenario in plan.scenarios:
        assert f"[s0] {scenario.label}: finished earlier, skipped" in tiny_run["again"]
    for path, data in tiny_run["models"].items():
        assert path.read_bytes() == data and path.stat().st_mtime_ns == tiny_run["stamps"][path]
    assert not any((tiny_run["out"] / "runs" / "s0" / ".work").iterdir())


@pytest.mark.slow
@pytest.mark.blender
def test_tiny_plan_end_to_end(tiny_run):
    out, plan = tiny_run["out"], tiny_run["plan"]
    labels = [s.label for s in plan.scenarios]
    assert len(labels) == 7  # Synth_WS, Synth (ft), Melding and what they start from
    for label in labels:
        folder = out / "runs" / "s0" / slug(label)
        done = json.loads((folder / "done.json").read_text())
        assert done["settings"]["label"] == label
        report = json.loads((folder / "eval" / "report.json").read_text())
        assert report["threshold"] > 0 and 0 <= report["pixel"]["f1"] <= 1
        assert report["model"] == str(folder / "model.safetensors")
        assert report["images"] == 10  # the target-test renders
        for text_file in [*folder.rglob("*.json"), *folder.rglob("*.md")]:
            assert ".work" not in text_file.read_text(), text_file  # paths name the final folder
    # fine-tuning continued the pre-trained coreset; melding stayed at the coreset size
    from seqcore_train.model.patchcore import SeqPatchCore

    tuned = SeqPatchCore.load(out / "runs" / "s0" / "synth_ft" / "model.safetensors", device="cpu")
    assert tuned.metadata["finetuned_from"].endswith("synth/model.safetensors")
    melded = SeqPatchCore.load(out / "runs" / "s0" / "melding" / "model.safetensors", device="cpu")
    assert len(melded.bank) == plan.coreset_size
    # the renders: paired training sets, the target-domain stand-in for "Real"
    manifest = json.loads((out / "data" / "synth-s0" / "manifest.json").read_text())
    assert {s["variant"] for s in manifest["samples"]} == {"clean", "stained"}
    test = json.loads((out / "data" / "real_test" / "manifest.json").read_text())
    assert test["generator"]["settings"].get("domain") == "target"
    # the dry run's image counts are what render.py wrote; the run logged its progress
    from seqcore_train.experiment.status import planned_images

    for data in plan.data.values():
        samples = json.loads((data.folder(out, 0) / "manifest.json").read_text())["samples"]
        assert planned_images(data) == len(samples), data.role
    assert re.search(r"progress: 7/7 scenarios, .* elapsed\n", tiny_run["resumed"])
    # the report
    report = json.loads((out / "report.json").read_text())
    assert [c["key"] for c in report["claims"]] == [
        "ws_lowers_water_stain_recall", "ws_lowers_defect_recall", "ft_raises_precision",
        "ft_beats_real", "melding_close_to_ft", "da_beats_dr", "real_best_without_ft",
    ]  # fmt: skip
    verdicts = {c["key"]: c["verdict"] for c in report["claims"]}
    assert verdicts.pop("ft_beats_real") == "not run"  # the plan has no Synth_WS (ft) row
    assert set(verdicts.values()) == {"1 seed"}
    # one seed still shows its interval over the test images, from the evaluations' per_image.json
    boot = next(c["bootstrap"] for c in report["claims"] if c["key"] == "ft_raises_precision")
    assert boot["images"] == planned_images(plan.data["real_test"]) and boot["low"] <= boot["high"]
    assert set(report["coverage_sweep"]) == {"Real", "Synth", "Synth_WS", "Synth (ft)", "Melding"}
    markdown = (out / "report.md").read_text()
    for label in labels:
        assert f"| {label} |" in markdown
    assert "| Melding |" in markdown and "| 51.5 |" in markdown  # the paper's P_PX beside ours
    for figure in ("figures/per_class_recall.png", "figures/precision_recall.png"):
        assert (out / figure).stat().st_size > 5000
