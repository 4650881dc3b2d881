"""Preset compositions (numpy only): every class in a 20-plate test set, guaranteed placements."""

import pytest

from blender_addon.core import defect_presets
from blender_addon.core.defect_presets import (
    PlatePlan,
    plan_instances,
    preset_info,
    preset_plan,
)
from blender_addon.core.defects import DefectSettings, footprint, footprint_distance
from blender_addon.core.vocabulary import DEFECT_CLASSES, IMPURITY_CLASSES, PRESETS

VIEW = (-20.0, -16.75, 20.0, 16.75)


def test_every_preset_name_has_a_plan_table():
    assert tuple(defect_presets._PRESETS) == PRESETS


# target-train is nominal by design (no defects); tests/blender_addon/test_presets_target.py checks it
@pytest.mark.parametrize("name", [n for n in PRESETS if preset_info(n).split != "train"])
def test_default_count_holds_every_class_and_every_kind(name):
    info = preset_info(name)
    plans = [preset_plan(name, plate) for plate in range(info.count)]
    classes = {c for p in plans for c in p.classes}
    assert classes == set(DEFECT_CLASSES + IMPURITY_CLASSES)
    assert any(p.water_stain for p in plans)
    # test sets have clean, defect and impurity-only plates; validation plates are all defective, as the
    # paper's one defective validation plate (test_presets_target.py checks that rule)
    kinds = {"defect"} if info.split == "val" else {"clean", "defect", "impurity"}
    assert {p.kind for p in plans} == kinds
    assert any(p.placement == "next_to_defect" and p.kind == "defect" for p in plans)


def test_twenty_image_test_preset():
    info = preset_info("demo-test")
    assert info.split == "test" and info.count == 20
    plans = [preset_plan("demo-test", plate) for plate in range(20)]
    for cls in DEFECT_CLASSES + IMPURITY_CLASSES:
        assert sum(cls in p.classes for p in plans) >= 2, cls
    assert sum(p.water_stain for p in plans) >= 2


def test_plan_instances_places_every_class_reproducibly():
    settings = DefectSettings()
    for plate in range(20):
        plan = preset_plan("demo-test", plate)
        specs = plan_instances([5, plate, 2], plan, settings, VIEW)
        assert sorted(s.class_name for s in specs) == sorted(plan.classes)
        assert specs == plan_instances([5, plate, 2], plan, settings, VIEW)
        if plan.placement == "next_to_defect":
            defects = [footprint(s) for s in specs if s.is_defect]
            for spec in (s for s in specs if not s.is_defect):
                gap = min(footprint_distance(footprint(spec), d) for d in defects)
                assert gap <= settings.gap_mm[1], (plate, gap)


def test_plan_that_cannot_fit_is_a_clear_error():
    huge = DefectSettings(sticker_size_mm=(60.0, 70.0))
    with pytest.raises(ValueError, match="does not fit"):
        plan_instances([1], PlatePlan(("sticker", "sticker")), huge, VIEW, attempts=2)
    with pytest.raises(ValueError, match="unknown preset"):
        preset_info("demo-train")
