"""Render options -> DatasetSettings without Blender: option text, presets, render.py's parser."""

import pytest

from blender_addon.core.defect_options import parse_class_list, parse_range, parse_size
from blender_addon.core.errors import SettingsError
from blender_addon.core.render_options import RenderOptions, parse_args, to_settings
from blender_addon.core.sample_spec import sample_plate_specs


def test_parse_range():
    assert parse_range("2", "x") == (2, 2)
    assert parse_range("1-3", "x") == (1, 3)
    assert parse_range("0.1-0.4", "x", integer=False) == (0.1, 0.4)
    for bad in ("3-1", "a", "1-2-3", "-1"):
        with pytest.raises(SettingsError, match="--what"):
            parse_range(bad, "--what")


def test_class_lists_and_sizes():
    known = ("scratch", "bump", "dent")
    assert parse_class_list("dent, scratch,dent", known, "x") == ("dent", "scratch")
    assert parse_class_list("dent,dent", known, "x", unique=False) == ("dent", "dent")
    with pytest.raises(SettingsError, match="--defect-classes: unknown crack"):
        parse_class_list("crack", known, "--defect-classes")
    assert parse_size("sticker_size_mm=5-6") == ("sticker_size_mm", (5.0, 6.0))
    with pytest.raises(SettingsError, match="unknown 'crack_mm'"):
        parse_size("crack_mm=1-2")


def test_options_become_defect_settings():
    s = to_settings(
        RenderOptions(
            defect_count=(2, 4),
            defect_classes=("dent", "scratch"),
            impurities=("water_stain", "sticker"),
            impurity_count=(1, 2),
            placement="next_to_defect",
            sizes=(("dent_radius_mm", (2.0, 3.0)), ("sticker_size_mm", (5.0, 6.0))),
        )
    ).defect_settings
    assert s.defect_count == (2, 4) and s.defect_classes == ("dent", "scratch")
    assert s.impurity_classes == ("sticker",) and s.impurity_count == (1, 2)
    assert s.placement == "next_to_defect"
    assert s.dent_radius_mm == (2.0, 3.0) and s.sticker_size_mm == (5.0, 6.0)
    none = to_settings(RenderOptions(impurities=("fingerprint",))).defect_settings
    assert none.defect_count == (0, 0) and none.impurity_classes == ("fingerprint",)
    assert to_settings(RenderOptions()).defect_settings is None  # water stains only


def test_render_options_reach_the_plate_specs():
    args = parse_args(
        ["--out", "x", "--defects", "2-2", "--defect-classes", "bump", "--variant", "stained",
         "--impurities", "fingerprint", "--impurity-count", "1", "--placement", "next_to_defect"]
    )  # fmt: skip
    settings = args.settings
    assert settings.defects and settings.defect_settings.defect_count == (2, 2)
    specs = sample_plate_specs(settings, 0, with_stain=True)
    classes = sorted(d["class"] for d in specs[0].instances)
    assert classes == ["bump", "bump", "fingerprint"]
    assert specs[0].stain is None  # water_stain not asked for


def test_plain_defects_flag_and_preset_defaults():
    settings = parse_args(
        ["--out", "x", "--defects", "--impurities", "water_stain,sticker"]
    ).settings
    assert settings.defect_settings.defect_count == (1, 3)
    assert settings.count == 8 and settings.split == "train" and settings.variant == "paired"
    preset = parse_args(["--out", "x", "--preset", "demo-val"]).settings
    assert (preset.split, preset.count, preset.variant) == ("val", 12, "stained")
    assert preset.preset == "demo-val" and "fingerprint" in preset.impurities
    mine = parse_args(["--out", "x", "--preset", "demo-test", "--count", "3"]).settings
    assert mine.count == 3 and mine.split == "test"


def test_a_preset_refuses_paired_the_same_way_everywhere(capsys):
    """A preset renders each plate once: paired is refused by the one rule, not switched silently."""
    with pytest.raises(SettingsError, match="set the variant to stained or clean, not paired"):
        to_settings(RenderOptions(preset="demo-test", variant="paired"))
    with pytest.raises(SystemExit) as err:
        parse_args(["--out", "x", "--preset", "demo-test", "--variant", "paired"])
    assert err.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        "render.py: error: preset demo-test renders each plate once: "
        "set the variant to stained or clean, not paired"
    ]
    with pytest.raises(SystemExit):
        parse_args(["--out", "x", "--preset", "demo-train"])
