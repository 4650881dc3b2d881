"""The experiment's status and progress: image counts as render.py counts them, states read from an
output folder, the time-left estimate on hand-made rates, and `--dry-run` running nothing."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from seqcore_train.cli import cli
from seqcore_train.experiment.plan import DataSet, load_plan, scenario_folder
from seqcore_train.experiment.status import (
    Progress,
    describe,
    duration,
    planned_images,
    render_jobs,
    render_marker,
    scenario_jobs,
)

from .test_experiment_plan import PLANS, write_plan


@pytest.mark.parametrize(
    "data, images",
    [
        (DataSet("synth", "train", count=3, variant="paired"), 6),
        (DataSet("synth", "train", count=3), 6),  # render.py's default variant: paired
        (DataSet("real_test", "test", count=5, preset="target-test"), 5),  # presets: stained
        (
            DataSet(
                "synth", "train", count=2, variant="clean", light=("hex", "ring"), light_mode="each"
            ),
            4,
        ),
        (DataSet("synth", "train", count=2, light=("hex", "ring"), light_mode="random"), 4),
        (
            DataSet(
                "real_train", "train", count=2, preset="target-train", args=("--grid", "4", "3")
            ),
            24,
        ),
        (DataSet("real_test", "test", preset="target-test"), None),  # the preset's count
    ],
)
def test_planned_images(data, images):
    assert planned_images(data) == images


@pytest.mark.blender
def test_planned_images_match_a_real_render(tmp_path):
    """Views, lights under light mode "each", and pairs multiply as render.py renders them."""
    pytest.importorskip("bpy")
    from seqcore_train.experiment.runner import run_render

    data = DataSet("synth", "train", count=2, light=("hex", "ring"), light_mode="each",
                   args=("--grid", "2", "1"))  # fmt: skip
    out = tmp_path / "set"
    arguments = data.render_arguments(0) + ["--resolution", "32", "24", "--samples", "1"]
    run_render(out, arguments, "set", log=lambda line: None)
    samples = json.loads((out / "manifest.json").read_text())["samples"]
    assert planned_images(data) == len(samples) == 2 * 2 * 2 * 2


def test_the_paper_plan_renders_1898_images():
    """80 paired plates per light and seed (3 x 160 x 3), 120 target plates per seed, 18 + 80."""
    plan = load_plan(PLANS / "paper.toml")
    jobs = render_jobs(plan, PLANS / "no-such-folder")
    assert len(jobs) == 3 * 4 + 2 and {j.state for j in jobs} == {"to render"}
    assert sum(j.images for j in jobs) == 3 * (3 * 160 + 120) + 18 + 80 == 1898


def test_states_are_read_from_the_output_folder(tmp_path):
    plan = load_plan(write_plan(tmp_path, scenarios='["Synth (ft)"]'))
    out = tmp_path / "out"
    synth = plan.data["synth"].folder(out, 0)
    synth.parent.mkdir(parents=True)
    render_marker(synth).write_text(json.dumps({"images": 4}))
    scenario_folder(out, 0, "Synth").mkdir(parents=True)  # finished
    work = scenario_folder(out, 0, "Synth (ft)").parent / ".work" / "synth_ft"
    work.mkdir(parents=True)
    (work / "train.done.json").write_text("{}")
    states = {j.name: j.state for j in render_jobs(plan, out)}
    assert states == {"synth-s0": "rendered", "real_train-s0": "to render",
                      "real_val": "to render", "real_test": "to render"}  # fmt: skip
    scenarios = {j.label: (j.state, j.source) for j in scenario_jobs(plan, out)}
    assert scenarios == {
        "Synth": ("finished", "synth"),
        "Synth (ft)": ("in progress (train done)", "Synth + real_train"),
    }
    lines = describe(plan, out)
    assert lines[-1] == "to do: 3 renders (8 images), 1 of 2 scenarios"


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_time_left_extrapolates_this_runs_rates():
    clock = Clock()
    progress = Progress(scenarios=4, images_to_render=10, scenarios_done=1, clock=clock)
    assert progress.seconds_left() is None  # no rate seen yet
    clock.now += 50
    progress.rendered(images=5, seconds=50.0)  # 10 s per image
    assert progress.seconds_left() is None  # no scenario has run yet
    clock.now += 30
    progress.scenario_done(30.0)
    # 2 scenarios at 30 s, 5 images at 10 s
    assert progress.seconds_left() == pytest.approx(2 * 30 + 5 * 10)
    assert progress.line() == (
        "progress: 2/4 scenarios, 5/10 images rendered, 1 min elapsed, about 2 min left"
    )
    progress.scenario_done()  # finished earlier: counted, no rate
    progress.rendered(5, 70.0)
    assert progress.seconds_left() == pytest.approx(30.0)


def test_time_left_is_unknown_while_an_image_count_is():
    progress = Progress(scenarios=1, images_to_render=None)
    progress.rendered(3, 3.0)
    progress.scenario_done(1.0)
    assert progress.seconds_left() is None
    assert "left" not in progress.line()


@pytest.mark.parametrize(
    "seconds, text", [(0.4, "0 s"), (59, "59 s"), (61, "1 min"), (3599, "1 h 00 min"), (3569, "59 min"),
                      (3600, "1 h 00 min"), (7 * 3600 + 5 * 60 + 10, "7 h 05 min")],
)  # fmt: skip
def test_duration(seconds, text):
    assert duration(seconds) == text


def test_dry_run_lists_the_work_and_runs_nothing(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["experiment", str(PLANS / "tiny.toml"), "--out", str(out), "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"\n  synth-s0 +4 images +to render\n", result.output)
    assert "s0 Melding" in result.output
    assert (
        result.output.strip().splitlines()[-2] == "to do: 6 renders (30 images), 7 of 7 scenarios"
    )
    assert not out.exists()


def test_dry_run_checks_the_plan_first(tmp_path):
    path = write_plan(tmp_path, scenarios='["Synth (fft)"]')
    result = CliRunner().invoke(
        cli, ["experiment", str(path), "--out", str(tmp_path / "o"), "--dry-run"]
    )
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1 and "Synth (ft)" in result.output
