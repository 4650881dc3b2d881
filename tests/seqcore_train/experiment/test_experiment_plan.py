"""Experiment plans: the shipped plans parse, the paper's protocol is what the scenarios ask for,
and a bad plan fails with one line naming the file and the key before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from seqcore_train.cli import cli
from seqcore_train.data.augment import (
    augment_batch,
    border_only,
    epoch_generator,
    paper_augmentation,
)
from seqcore_train.experiment.plan import (
    PAPER_ROWS,
    PlanError,
    load_plan,
    scenario_catalogue,
    slug,
)

PLANS = Path(__file__).resolve().parents[3] / "plans"

MINIMAL = """
[experiment]
scenarios = {scenarios}
[data.synth]
count = 2
[data.real_train]
count = 2
[data.real_val]
{val}
[data.real_test]
count = 4
"""


def write_plan(tmp_path, scenarios='["Synth"]', val="count = 2", extra=""):
    path = tmp_path / "plan.toml"
    path.write_text(MINIMAL.format(scenarios=scenarios, val=val) + extra)
    return path


@pytest.mark.parametrize(
    "name", ["tiny", "small", "medium", "paper", "calibration", "calibration_large"]
)
def test_shipped_plans_parse(name):
    plan = load_plan(PLANS / f"{name}.toml")
    labels = [s.label for s in plan.scenarios]
    assert len(set(labels)) == len(labels)
    for scenario in plan.scenarios:  # every scenario comes after the ones it starts from
        for need in scenario.needs:
            assert labels.index(need) < labels.index(scenario.label)
    if name.startswith("calibration"):  # the two baselines the renders are tuned on, nothing else
        assert labels == ["Real", "Synth"]
    elif name != "tiny":
        assert set(PAPER_ROWS) <= set(labels)  # all 19 rows of Table II
    if name in ("small", "paper"):
        assert {"Melding (0.5x)", "Melding (2x)", "Melding_WS (0.5x)", "Melding_WS (2x)"} <= set(
            labels
        )
        assert len(plan.seeds) >= 3
    if name == "paper":
        assert plan.coreset_size == 2048 and plan.epochs == 5
        assert plan.render.resolution_preset == "sensor"
        assert all(plan.data[r].count >= 80 for r in ("synth", "synth_rot90", "synth_x2"))


def test_the_large_calibration_renders_the_medium_plans_plates():
    """Its Real and Synth rows are judged on the very test set the experiment's rows are."""
    large, medium = load_plan(PLANS / "calibration_large.toml"), load_plan(PLANS / "medium.toml")
    for role, data in large.data.items():
        assert data.render_arguments(0) == medium.data[role].render_arguments(0), role
    assert large.render == medium.render
    assert (large.coreset_size, large.epochs) == (medium.coreset_size, medium.epochs)


@pytest.mark.parametrize(
    "name", ["tiny", "small", "paper", "calibration", "calibration_large", "medium"]
)
def test_domain_randomisation_sets_are_distinct_plates(name):
    """Appendix A: the three light sets share the parameter ranges, but each image is unique."""
    plan = load_plan(PLANS / f"{name}.toml")
    lights = [r for r in ("synth", "synth_rot90", "synth_x2") if r in plan.data]
    for seed in plan.seeds:
        render_seeds = [plan.data[r].render_seed(seed) for r in lights]
        assert len(set(render_seeds)) == len(render_seeds), (name, seed, render_seeds)
        arguments = [plan.data[r].render_arguments(seed) for r in lights]
        for args in arguments:  # same ranges: nothing but the light and the seed differs
            assert "--light" in args
        # and no plate of one light set is drawn again by another seed's set (a set rendered once
        # is the same folder for every seed)
        others = {
            plan.data[r].render_seed(s)
            for r in lights
            for s in plan.seeds
            if s != seed and plan.data[r].per_seed
        }
        assert not set(render_seeds) & others


def test_medium_plan_is_sized_to_decide():
    """>= 40 test instances of every class, every defect class >= 3 times in validation, >= 5
    seeds, synthetic sets several times the target-train set (counted from the add-on's presets)."""
    from blender_addon.core.defect_presets import class_counts, preset_plan

    plan = load_plan(PLANS / "medium.toml")
    test, val = plan.data["real_test"], plan.data["real_val"]
    assert (test.preset, val.preset) == ("target-test", "target-val")
    stained = sum(preset_plan("target-test", k).water_stain for k in range(test.count))
    assert min(class_counts("target-test", test.count).values()) >= 40 and stained >= 40
    val_counts = class_counts("target-val", val.count)
    assert min(val_counts[c] for c in ("scratch", "bump", "dent")) >= 3
    assert len(plan.seeds) >= 5 and plan.render.resolution_preset == "cpu"
    real = plan.data["real_train"].count
    assert all(plan.data[r].count >= 3 * real for r in ("synth", "synth_rot90", "synth_x2"))


def test_catalogue_follows_the_papers_protocol():
    rows = scenario_catalogue((0.5, 2.0))
    assert tuple(r for r in rows if "x)" not in r) == PAPER_ROWS
    assert rows["Real"].train == ("real_train",) and rows["Real"].augment == "none"
    # the black-out on every synthetic image; DA adds the rest
    assert rows["Synth"].augment == "border" and rows["Synth_WS"].augment == "border"
    assert rows["Synth_DA"].augment == "full" and rows["Synth_WS+DR+DA"].augment == "full"
    assert rows["Synth_WS+DR"].train == ("synth", "synth_rot90", "synth_x2")  # three light sets
    assert rows["Synth_WS+DR"].variant == "stained" and rows["Synth_DR"].variant == "clean"
    ft = rows["Synth_DR+DA (ft)"]
    assert (ft.kind, ft.base, ft.train) == ("finetune", "Synth_DR+DA", ("real_train",))
    assert rows["Melding"].parts == ("Real", "Synth", "Synth_DR", "Synth_DA")
    assert rows["Melding_WS"].parts == ("Real", "Synth_WS", "Synth_WS+DR", "Synth_WS+DA")
    assert rows["Melding_WS (0.5x)"].meld_factor == 0.5
    assert len({slug(label) for label in rows}) == len(rows)  # one folder per row


def test_border_only_blacks_out_every_image_and_changes_nothing_else():
    generator = torch.Generator().manual_seed(3)
    images = 0.2 + 0.6 * torch.rand((6, 3, 40, 48), generator=generator)
    out, _ = augment_batch(images, None, border_only(), epoch_generator(5, 0))
    black = (out == 0).all(dim=1)  # (B, H, W)
    for i in range(len(images)):
        assert black[i].any(), f"image {i} has no black-out"
        assert not black[i].all()
    kept = ~black[:, None].expand_as(out)
    assert torch.allclose(out[kept], images[kept], atol=1e-6)  # no brightness, blur, noise, flip
    assert paper_augmentation().border_p == 1.0


def test_a_bad_scenario_name_is_one_line_naming_file_and_key(tmp_path):
    path = write_plan(tmp_path, scenarios='["Synth", "Synth_DAA"]')
    with pytest.raises(PlanError) as error:
        load_plan(path)
    message = str(error.value)
    assert "\n" not in message
    assert str(path) in message and "experiment.scenarios" in message
    assert "'Synth_DAA'" in message and "did you mean 'Synth_DA'" in message


def test_a_missing_data_folder_is_one_line(tmp_path):
    path = write_plan(tmp_path, val='path = "renders/val"')
    with pytest.raises(PlanError, match=r"data\.real_val\.path: .*renders/val does not exist"):
        load_plan(path)


def test_a_missing_data_role_names_the_scenario_that_needs_it(tmp_path):
    path = write_plan(tmp_path, scenarios='["Synth_DR"]')
    with pytest.raises(PlanError, match=r"data\.synth_rot90: missing; Synth_DR needs it"):
        load_plan(path)


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ("[render]\nresolution = [96]\n", r"render\.resolution: expected \[W, H\]"),
        ("[render]\npreset = 'phone'\n", r"render\.preset: must be one of sensor, cpu"),
        ("[data.synth_x2]\nlight = ['hex', 'disco']\n", r"data\.synth_x2\.light: 'disco'"),
        ("[data.synth_rot90]\ncuont = 3\n", r"data\.synth_rot90\.cuont: unknown key .*'count'"),
        ("[render]\ngpu_backend = 'optix'\n", r"render\.gpu_backend: needs device = \"gpu\""),
        ("[render]\ndevice = 'gpu'\ngpu_backend = 'vulkan'\n", r"render\.gpu_backend: must be one"),
        ("[render]\ndevice = 'gpu'\ngpu_ids = [0, 0]\n", r"render\.gpu_ids: a GPU is listed twice"),
        ("[render]\ndevice = 'gpu'\ngpu_ids = [-1]\n", r"render\.gpu_ids: expected GPU numbers"),
    ],
)
def test_bad_values_are_one_line(tmp_path, extra, match):
    with pytest.raises(PlanError, match=match):
        load_plan(write_plan(tmp_path, extra=extra))


def test_cli_fails_before_anything_runs(tmp_path):
    path = write_plan(tmp_path, scenarios='["Synth (fft)"]')
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["experiment", str(path), "--out", str(out)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seqcore-train: error: ")
    assert "experiment.scenarios" in lines[0] and "Synth (ft)" in lines[0]
    assert not out.exists()  # nothing rendered, nothing written


@pytest.mark.blender
def test_an_option_render_py_lacks_fails_before_anything_runs(tmp_path):
    pytest.importorskip("bpy")
    from seqcore_train.experiment.runner import run_experiment

    path = write_plan(tmp_path, extra="[data.synth_rot90]\nargs = ['--glitter', '3']\n")
    path.write_text(path.read_text().replace('["Synth"]', '["Synth_DR"]').replace(
        "[data.synth_rot90]", "[data.synth_x2]\n[data.synth_rot90]"))  # fmt: skip
    out = tmp_path / "out"
    with pytest.raises(PlanError, match=r"data\.synth_rot90: render\.py has no option --glitter"):
        run_experiment(load_plan(path), out, log=lambda _m: None)
    assert not out.exists()


def test_render_gpu_selection_reaches_render_py(tmp_path):
    extra = "[render]\ndevice = 'gpu'\ngpu_backend = 'optix'\ngpu_ids = [0, 2]\n"
    arguments = load_plan(write_plan(tmp_path, extra=extra)).render.arguments()
    at = arguments.index("--device")
    assert arguments[at : at + 6] == [
        "--device",
        "gpu",
        "--gpu-backend",
        "optix",
        "--gpu-ids",
        "0,2",
    ]


@pytest.mark.parametrize("device", ["tpu", "cuda:7"])
def test_a_model_device_this_machine_lacks_fails_at_load(tmp_path, device):
    if device.startswith("cuda") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a GPU 7")
    plan = write_plan(tmp_path, scenarios=f'["Synth"]\ndevice = "{device}"')
    with pytest.raises(PlanError, match=rf"experiment\.device: .*{device}"):
        load_plan(plan)


def test_sets_from_two_renderers_are_refused_before_training(tmp_path):
    import json

    from seqcore_train.experiment.runner import check_one_renderer

    def rendered(name: str, source: str, blender: str = "5.0.1") -> Path:
        folder = tmp_path / name
        folder.mkdir()
        generator = {"version": "0.1.0", "source": source, "blender": blender}
        (folder / "manifest.json").write_text(json.dumps({"generator": generator}))
        return folder

    test = rendered("real_test", "aaaaaaaaaaaaaaaa")
    train = rendered("synth-s0", "aaaaaaaaaaaaaaaa")
    check_one_renderer([test, train])  # one renderer: fine
    upgraded = rendered("synth-s1", "bbbbbbbbbbbbbbbb")  # a new seed after an upgrade
    with pytest.raises(PlanError, match="different renderers") as caught:
        check_one_renderer([test, train, upgraded])
    assert str(test) in str(caught.value) and str(upgraded) in str(caught.value)
    lts = rendered("synth-s2", "aaaaaaaaaaaaaaaa", blender="4.2.23")
    with pytest.raises(PlanError, match="Blender 4.2.23"):
        check_one_renderer([test, lts])


def test_the_plans_render_names_are_the_add_ons():
    """The toolkit may not import the add-on, so it keeps render.py's names once, in
    experiment/plan.py; they must be the names render.py accepts."""
    from blender_addon.core import vocabulary
    from seqcore_train.experiment import plan

    assert plan.LIGHTS == vocabulary.LIGHTS
    assert (plan.HEX, plan.HEX_ROT90, plan.HEX_X2, plan.RING) == vocabulary.LIGHTS
    assert plan.VARIANTS == vocabulary.VARIANTS and plan.DOMAINS == vocabulary.DOMAINS
    assert set(plan.LIGHT_MODES) == set(vocabulary.LIGHT_MODES)
    assert plan.CONTENT_PRESETS == vocabulary.PRESETS
    assert plan.RESOLUTION_PRESETS == vocabulary.RESOLUTION_PRESETS
    assert plan.IMPURITIES == vocabulary.IMPURITIES
    assert {role["light"] for role in plan.ROLES.values() if "light" in role} == {
        (light,) for light in vocabulary.LIGHTS[:3]
    }
