"""--light-mode each (no bpy): every plate under every light, the paper's domain-randomised set."""

from dataclasses import replace

import pytest

from blender_addon.core.render_options import parse_args
from blender_addon.core.render_plan import Shard, plan_ids, plan_samples
from blender_addon.core.sample_spec import DatasetSettings

DR_LIGHTS = ("hex", "hex_rot90", "hex_x2")


def _settings(**kw) -> DatasetSettings:
    return DatasetSettings(**{"count": 3, "resolution": (64, 54), "lights": DR_LIGHTS, **kw})


def test_each_renders_every_plate_under_every_light_from_one_spec():
    planned = plan_samples(_settings(light_mode="each"))
    assert len(planned) == 3 * 3 * 2  # plates x lights x (clean, stained)
    ids = [p.sample_id for p in planned]
    assert len(set(ids)) == len(ids)
    for plate in range(3):
        mine = [p for p in planned if p.plate == plate and p.variant == "stained"]
        assert sorted(p.spec.light for p in mine) == sorted(DR_LIGHTS)
        first = mine[0].spec
        for p in mine:  # same plate, same seed: only the light differs
            assert replace(p.spec, light=first.light) == first
            assert p.sample_id == f"{plate:06d}_{p.spec.light}_stained"


def test_each_is_the_concatenation_of_the_single_light_sets():
    """The paper's DR set: the original set, the set under hex_rot90 and the set under hex_x2."""
    each = plan_samples(_settings(light_mode="each"))
    for light in DR_LIGHTS:
        alone = plan_samples(_settings(lights=(light,)))
        mine = [p for p in each if p.spec.light == light]
        assert [p.spec for p in mine] == [p.spec for p in alone]
        assert [p.sample_id for p in mine] == [
            p.sample_id.replace("_", f"_{light}_", 1) for p in alone
        ]


def test_each_keeps_the_pairs():
    planned = plan_samples(_settings(light_mode="each"))
    by_pair: dict = {}
    for p in planned:
        by_pair.setdefault(p.pair, []).append(p)
    assert len(by_pair) == 9
    for pair, members in by_pair.items():
        clean, stained = sorted(members, key=lambda p: p.variant)
        assert (clean.variant, stained.variant) == ("clean", "stained")
        assert clean.spec == stained.spec.without_stain()
        assert pair.endswith(stained.spec.light)


def test_random_mode_is_todays_plan():
    planned = plan_samples(_settings())
    assert [p.sample_id for p in planned][:2] == ["000000_clean", "000000_stained"]
    assert len(planned) == 3 * 2
    assert "light_mode" not in _settings().to_dict()  # old datasets resume unchanged


@pytest.mark.parametrize("variant", ["paired", "stained"])
def test_resume_bookkeeping_knows_the_light_suffixes(variant):
    settings = _settings(light_mode="each", variant=variant, grid=(2, 1))
    for shard in (Shard(1, 2), Shard(2, 2)):
        expected = [p.sample_id for p in plan_samples(settings, shard)]
        assert plan_ids(settings.to_dict(), shard) == expected


def test_command_line():
    argv = ["--out", "x", "--light", "hex", "--light", "hex_x2", "--light-mode", "each"]
    settings = parse_args(argv).settings
    assert settings.light_mode == "each" and settings.lights == ("hex", "hex_x2")
    assert parse_args(["--out", "x"]).settings.light_mode == "random"
