"""Option text -> DefectSettings, and render.py's defect/preset options (no rendering)."""

import pytest

from blender_addon.core.defect_options import parse_range, settings_from_options
from blender_addon.core.sample_spec import sample_plate_specs
from blender_addon.render import parse_args, settings_from_args


def test_parse_range():
    assert parse_range("2", "x") == (2, 2)
    assert parse_range("1-3", "x") == (1, 3)
    assert parse_range("0.1-0.4", "x", integer=False) == (0.1, 0.4)
    for bad in ("3-1", "a", "1-2-3", "-1"):
        with pytest.raises(ValueError, match="--what"):
            parse_range(bad, "--what")


def test_settings_from_options():
    s = settings_from_options(
        defects="2-4",
        defect_classes="dent,scratch",
        impurities=("water_stain", "sticker"),
        impurity_count="1-2",
        placement="next_to_defect",
        sizes=["dent_radius_mm=2-3", "sticker_size_mm=5-6"],
    )
    assert s.defect_count == (2, 4) and s.defect_classes == ("dent", "scratch")
    assert s.impurity_classes == ("sticker",) and s.impurity_count == (1, 2)
    assert s.placement == "next_to_defect"
    assert s.dent_radius_mm == (2.0, 3.0) and s.sticker_size_mm == (5.0, 6.0)
    none = settings_from_options(defects=None, impurities=("fingerprint",))
    assert none.defect_count == (0, 0) and none.impurity_classes == ("fingerprint",)
    with pytest.raises(ValueError, match="unknown 'crack_mm'"):
        settings_from_options(sizes=["crack_mm=1-2"])
    with pytest.raises(ValueError, match="--defect-classes: unknown crack"):
        settings_from_options(defect_classes="crack")


def test_render_options_reach_the_plate_specs():
    args = parse_args(
        ["--out", "x", "--defects", "2-2", "--defect-classes", "bump", "--variant", "stained",
         "--impurities", "fingerprint", "--impurity-count", "1", "--placement", "next_to_defect"]
    )  # fmt: skip
    settings = settings_from_args(args)
    assert settings.defects and settings.defect_settings.defect_count == (2, 2)
    specs = sample_plate_specs(settings, 0, with_stain=True)
    classes = sorted(d["class"] for d in specs[0].defects)
    assert classes == ["bump", "bump", "fingerprint"]
    assert specs[0].stain is None  # water_stain not asked for


def test_plain_defects_flag_and_preset_defaults():
    args = parse_args(["--out", "x", "--defects", "--impurities", "water_stain,sticker"])
    settings = settings_from_args(args)
    assert settings.defect_settings.defect_count == (1, 3)
    assert settings.count == 8 and settings.split == "train" and settings.variant == "paired"
    preset = settings_from_args(parse_args(["--out", "x", "--preset", "demo-val"]))
    assert (preset.split, preset.count, preset.variant) == ("val", 10, "stained")
    assert preset.preset == "demo-val" and "fingerprint" in preset.impurities
    mine = settings_from_args(parse_args(["--out", "x", "--preset", "demo-test", "--count", "3"]))
    assert mine.count == 3 and mine.split == "test"


def test_bad_preset_options_exit_with_one_line(capsys):
    with pytest.raises(SystemExit) as err:
        parse_args(["--out", "x", "--preset", "demo-test", "--variant", "paired"])
    assert err.value.code == 2
    assert "use --variant stained or clean" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--out", "x", "--preset", "demo-train"])
