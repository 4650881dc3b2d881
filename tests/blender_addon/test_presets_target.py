"""The target-* content presets (no bpy): the stand-in for the paper's real train/val/test sets."""

from collections import Counter

import pytest

from blender_addon.core.defect_presets import class_counts, preset_info, preset_plan
from blender_addon.core.render_options import RenderOptions, parse_args, to_settings
from blender_addon.core.render_plan import plan_samples
from blender_addon.core.vocabulary import DEFECT_CLASSES, IMPURITIES, IMPURITY_CLASSES, WATER_STAIN


def _instance_classes(settings) -> Counter:
    return Counter(
        d.get("class", d.get("class_name"))
        for p in plan_samples(settings)
        if p.view == 0
        for d in p.spec.instances
    )


@pytest.mark.parametrize("name", ["target-train", "target-val", "target-test"])
def test_target_presets_imply_the_target_domain_unless_given(name):
    assert parse_args(["--out", "x", "--preset", name]).settings.domain == "target"
    given = parse_args(["--out", "x", "--preset", name, "--domain", "synthetic"]).settings
    assert given.domain == "synthetic"
    assert to_settings(RenderOptions(preset=name)).domain == "target"  # the sidebar's path


def test_demo_presets_and_no_preset_stay_synthetic():
    assert parse_args(["--out", "x", "--preset", "demo-test"]).settings.domain == "synthetic"
    assert parse_args(["--out", "x"]).settings.domain == "synthetic"
    assert parse_args(["--out", "x", "--domain", "target"]).settings.domain == "target"


def test_target_test_set_holds_every_defect_class_at_least_six_times():
    settings = parse_args(["--out", "x", "--preset", "target-test"]).settings
    assert settings.split == "test" and settings.count == 20
    placed = _instance_classes(settings)  # what the renders will hold, not only the plan table
    for cls in DEFECT_CLASSES:
        assert placed[cls] >= 6, (cls, placed)
    planned = Counter({k: v for k, v in class_counts("target-test").items() if v})
    stains = placed.pop("water_stain")
    assert placed == planned
    # target stains are residue-film instances (not Algorithm 1's shader): one or more per
    # stained plate, and no plate keeps the shader's stain
    stained_plates = sum(preset_plan("target-test", k).water_stain for k in range(20))
    assert stains >= stained_plates
    assert all(p.spec.stain is None for p in plan_samples(settings))


@pytest.mark.parametrize("target, demo", [("target-val", "demo-val"), ("target-test", "demo-test")])
def test_target_val_and_test_place_like_the_demo_presets(target, demo):
    assert preset_info(target).cycle == preset_info(demo).cycle
    assert preset_info(target).split == preset_info(demo).split
    assert all(preset_plan(target, k) == preset_plan(demo, k) for k in range(20))


def test_validation_plates_are_defective_with_impurities_on_half():
    """The paper calibrates on one defective plate seen from both sides: defects on both sides,
    impurities on one. Every validation plate holds a defect, half of them impurities too, and a
    cycle shows every class."""
    cycle = preset_info("target-val").cycle
    assert all(plan.kind == "defect" for plan in cycle)
    with_impurities = [p for p in cycle if p.water_stain or set(p.classes) & set(IMPURITY_CLASSES)]
    assert 2 * len(with_impurities) == len(cycle)
    shown = {c for plan in cycle for c in plan.classes}
    shown |= {WATER_STAIN} if any(p.water_stain for p in cycle) else set()
    assert shown == set(DEFECT_CLASSES) | set(IMPURITIES)


def test_target_train_is_nominal_without_impurities():
    """The paper added impurities to defective samples only: its real training plates are clean."""
    settings = parse_args(["--out", "x", "--preset", "target-train"]).settings
    assert settings.split == "train"
    planned = plan_samples(settings)
    assert len(planned) == settings.count == 12
    assert all(p.spec.stain is None and not p.spec.instances for p in planned)
    # even when the stained variant of a plate is asked for, nothing is added
    stained = parse_args(["--out", "x", "--preset", "target-train", "--impurities", "water_stain"])
    assert all(not p.spec.instances for p in plan_samples(stained.settings))


@pytest.mark.parametrize("extra", [["--preset", "cpu"], ["--preset", "sensor", "--grid", "4", "3"]])
def test_target_test_fits_at_the_resolution_presets(extra):
    """The cpu preset's 20 mm view is half the default: every plate plan must still fit in it."""
    settings = parse_args(["--out", "x", "--preset", "target-test", *extra]).settings
    placed = _instance_classes(settings)
    assert all(placed[c] >= 6 for c in DEFECT_CLASSES), placed
