"""What a plan costs before it runs: its work counted by hand on small plans, the reference units
scaled by pixels and samples, and the estimate the dry run prints."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from seqcore_train.cli import cli
from seqcore_train.experiment.cost import (
    REFERENCE_UNITS,
    estimate,
    plan_work,
    reference_units,
)
from seqcore_train.experiment.plan import load_plan, scenario_folder
from seqcore_train.experiment.status import render_marker

from .test_experiment_plan import PLANS, write_plan

SMALL = '[render]\npreset = "cpu"\nsamples = 16\n'


def test_work_of_a_whole_plan_counted_by_hand(tmp_path):
    plan = load_plan(write_plan(tmp_path, scenarios='["Synth (ft)"]', extra=SMALL))
    assert [s.label for s in plan.scenarios] == ["Synth", "Synth (ft)"]
    assert plan.seeds == (0,) and plan.epochs == 5
    assert plan_work(plan) == {
        "render_synth": 4,  # 2 paired plates, both halves
        "render_target": 2 + 2 + 4,  # target-train, val, test
        # Synth on one half of the pairs (2 images), Synth (ft) on the 2 target-train plates
        "image_epochs": (2 + 2) * 5,
        "scored": (2 + 4) * 2,  # validation and test, for each scenario
    }


def test_work_left_skips_what_the_folder_holds(tmp_path):
    plan = load_plan(write_plan(tmp_path, scenarios='["Synth (ft)"]', extra=SMALL))
    out = tmp_path / "out"
    synth = out / "data" / "synth-s0"
    synth.parent.mkdir(parents=True)
    render_marker(synth).write_text(json.dumps({"images": 4}))
    scenario_folder(out, 0, "Synth").mkdir(parents=True)  # finished
    assert plan_work(plan, out) == {
        "render_synth": 0,
        "render_target": 8,
        "image_epochs": 2 * 5,  # Synth (ft) alone
        "scored": 6,
    }


def test_reference_units_scale_with_pixels_and_samples(tmp_path):
    at_cpu = reference_units(load_plan(write_plan(tmp_path, extra=SMALL)))
    assert at_cpu["render_synth_s"] == pytest.approx(REFERENCE_UNITS["render_synth_s"])
    assert at_cpu["scored_image_s"] == pytest.approx(REFERENCE_UNITS["scored_image_s"])
    bigger = reference_units(
        load_plan(write_plan(tmp_path, extra="[render]\nresolution = [1224, 1024]\nsamples = 32\n"))
    )
    assert bigger["epoch_image_s"] == pytest.approx(4 * REFERENCE_UNITS["epoch_image_s"])
    assert bigger["render_target_s"] == pytest.approx(8 * REFERENCE_UNITS["render_target_s"])
    gpu = write_plan(tmp_path, extra=SMALL.replace("samples", 'device = "gpu"\nsamples'))
    assert reference_units(load_plan(gpu)) is None  # CPU units say nothing about a GPU


def test_estimate_adds_the_parts():
    work = {"render_synth": 10, "render_target": 5, "image_epochs": 100, "scored": 40}
    units = {"render_synth_s": 2.0, "render_target_s": 4.0, "epoch_image_s": 0.5,
             "scored_image_s": 0.25}  # fmt: skip
    parts = estimate(work, units)
    assert parts == {"renders": 40.0, "training": 50.0, "scoring": 10.0, "total": 100.0}


def test_dry_run_prints_the_estimate(tmp_path):
    result = CliRunner().invoke(
        cli, ["experiment", str(PLANS / "medium.toml"), "--out", str(tmp_path / "o"), "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert (
        result.output.strip().splitlines()[-1].startswith("estimate on an idle 2-core CPU: about ")
    )


def test_the_medium_plan_fits_its_four_hours():
    plan = load_plan(PLANS / "medium.toml")
    work = plan_work(plan)
    assert work["scored"] == 19 * 5 * (18 + 140)
    assert estimate(work, reference_units(plan))["total"] < 3.5 * 3600  # half an hour to spare
