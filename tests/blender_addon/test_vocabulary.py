"""The add-on's names, defined once: they agree with the manifest's class table and the sidebar labels."""

from blender_addon.core import vocabulary as v
from shared_schemas import DEFAULT_CLASSES


def test_class_names_match_the_manifest_class_table():
    kinds = {c.name: c.kind for c in DEFAULT_CLASSES}
    assert {n: kinds[n] for n in v.DEFECT_CLASSES} == dict.fromkeys(v.DEFECT_CLASSES, "defect")
    assert {n: kinds[n] for n in v.IMPURITIES} == dict.fromkeys(v.IMPURITIES, "impurity")
    assert set(kinds) == set(v.DEFECT_CLASSES + v.IMPURITIES)


def test_every_choice_has_a_sidebar_label():
    names = (*v.LIGHTS, *v.VARIANTS, *v.SPLITS, *v.DEFECT_CLASSES, *v.PLACEMENTS, *v.PRESETS)
    for name in (*names, *v.DEVICES):
        label, description = v.LABELS[name]
        assert label and isinstance(description, str), name
    assert v.enum_items(v.VARIANTS)[0] == ("paired", *v.LABELS["paired"])
    assert v.DEFAULT_LIGHT in v.LIGHTS and v.DEFAULT_SPLIT in v.SPLITS
