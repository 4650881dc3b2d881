"""A user's scene as a dataset, without Blender: file checks, per-sample draws, the plan, options."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from blender_addon.core.errors import RenderSetupError, SettingsError
from blender_addon.core.render_options import (
    RenderOptions,
    check_scene_options,
    parse_args,
    to_scene_settings,
)
from blender_addon.core.render_plan import Shard, check_compatible, plan_ids
from blender_addon.core.sample_spec import STAIN_RADIUS_MM
from blender_addon.core.scene_spec import (
    SceneSettings,
    SceneSpec,
    check_blend_file,
    file_sha256,
    plan_scene,
)
from shared_schemas import Manifest

SETTINGS = SceneSettings(
    scene_path="/parts/bracket.blend",
    scene_sha256="ab" * 32,
    stain_materials=("Steel",),
    cameras=("Cam A", "Cam B"),
    count=3,
    resolution=(64, 48),
    samples=4,
)


def test_a_blend_file_is_recognised_by_its_header(tmp_path):
    good = tmp_path / "part.blend"
    good.write_bytes(b"BLENDER-v405" + bytes(20))
    assert check_blend_file(good) == good
    zstd = tmp_path / "packed.blend"
    zstd.write_bytes(b"\x28\xb5\x2f\xfd" + bytes(20))
    assert check_blend_file(zstd) == zstd
    for name, data, problem in (
        ("notes.blend", b"hello, world", "not a .blend file"),
        ("part.txt", b"BLENDER-v405", "not a .blend file"),
        ("missing.blend", None, "no such file"),
    ):
        path = tmp_path / name
        if data is not None:
            path.write_bytes(data)
        with pytest.raises(SettingsError, match=problem) as err:
            check_blend_file(path)
        assert str(path) in str(err.value)


def test_file_sha256_is_the_content_digest(tmp_path):
    path = tmp_path / "x.blend"
    path.write_bytes(b"abc")
    assert file_sha256(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_every_camera_sees_the_same_stains_light_and_seed_with_its_own_jitter():
    settings = replace(SETTINGS, camera_jitter_mm=5.0, camera_jitter_deg=2.0)
    plan = plan_scene(settings)
    assert [p.sample_id for p in plan[:4]] == [
        "000000_v00_clean", "000000_v00_stained", "000000_v01_clean", "000000_v01_stained",
    ]  # fmt: skip
    stained = [p.spec for p in plan if p.plate == 0 and p.variant == "stained"]
    assert [s.camera for s in stained] == ["Cam A", "Cam B"]
    assert stained[0].stain == stained[1].stain is not None
    assert stained[0].sampling_seed == stained[1].sampling_seed
    assert stained[0].camera_offset_mm != stained[1].camera_offset_mm
    for spec in stained:
        assert all(abs(v) <= 5.0 for v in spec.camera_offset_mm)
        assert all(abs(v) <= 2.0 for v in spec.camera_rotation_deg)
    clean = plan[0].spec
    assert clean.stain is None and clean.sampling_seed == stained[0].sampling_seed
    assert {p.spec.stain for p in plan if p.variant == "stained" and p.view == 0}.__len__() == 3


def test_no_jitter_leaves_the_cameras_where_they_are():
    for p in plan_scene(SETTINGS):
        assert p.spec.camera_offset_mm == p.spec.camera_rotation_deg == (0.0, 0.0, 0.0)
        assert json.dumps(p.spec.to_params())  # JSON-ready, no -0.0 surprises
        assert "-0.0" not in json.dumps(p.spec.to_params()["camera_jitter"])


def test_stain_ranges_bound_the_draws():
    settings = replace(SETTINGS, count=40, stain_radius_mm=(5.0, 6.0), stain_spacing=(2.0, 2.5))
    stains = [p.spec.stain for p in plan_scene(settings) if p.spec.stain is not None]
    assert all(0.005 <= s.radius <= 0.006 for s in stains)
    assert all(2.0 <= s.cell_size / s.radius <= 2.5 for s in stains)
    default = [p.spec.stain for p in plan_scene(replace(SETTINGS, count=40)) if p.spec.stain]
    assert all(STAIN_RADIUS_MM[0] / 1000 <= s.radius <= STAIN_RADIUS_MM[1] / 1000 for s in default)


def test_light_mode_each_renders_every_light_change_with_the_same_draws():
    one = plan_scene(replace(SETTINGS, lights=("rot90",)))
    each = plan_scene(replace(SETTINGS, lights=("original", "rot90"), light_mode="each"))
    rot = [p for p in each if "_rot90_" in p.sample_id]
    assert [p.spec for p in rot] == [p.spec for p in one]
    assert {p.spec.light for p in each} == {"original", "rot90"}
    drawn = plan_scene(replace(SETTINGS, count=30, lights=("original", "x2", "rot90_x2")))
    assert {p.spec.light for p in drawn} == {"original", "x2", "rot90_x2"}


@pytest.mark.parametrize("variant", ["paired", "stained", "clean"])
@pytest.mark.parametrize("mode", ["random", "each"])
def test_the_plan_ids_the_merge_counts_are_the_plans(variant, mode):
    settings = replace(SETTINGS, variant=variant, light_mode=mode, lights=("original", "x2"))
    for shard in (Shard(1, 2), Shard(2, 2)):
        ids = [p.sample_id for p in plan_scene(settings, shard)]
        assert plan_ids(json.loads(json.dumps(settings.to_dict())), shard) == ids


def test_params_round_trip():
    for p in plan_scene(replace(SETTINGS, camera_jitter_mm=1.0)):
        params = json.loads(json.dumps(p.spec.to_params()))
        assert SceneSpec.from_params(params) == p.spec
        assert params["texture"] == {}  # the pair contract compares it


def test_a_resumed_run_refuses_a_changed_file_in_one_line(tmp_path):
    manifest = Manifest(name="ds", generator={"settings": SETTINGS.to_dict()}, samples=[])
    check_compatible(manifest, SETTINGS, tmp_path, {})  # the same file: fine
    moved = replace(SETTINGS, scene_path="/elsewhere/bracket.blend")
    check_compatible(manifest, moved, tmp_path, {})  # moved, same content: fine
    changed = replace(SETTINGS, scene_sha256="cd" * 32)
    with pytest.raises(RenderSetupError) as err:
        check_compatible(manifest, changed, tmp_path, {})
    message = str(err.value)
    assert "another version of /parts/bracket.blend" in message and "\n" not in message
    assert "abababababab" in message and "cdcdcdcdcdcd" in message


def test_options_of_the_other_kind_of_dataset_are_refused():
    with pytest.raises(SettingsError, match="--defects is an option of the plate"):
        check_scene_options(RenderOptions(scene="p.blend", defect_count=(1, 2)))
    with pytest.raises(SettingsError, match="--light is an option of the plate"):
        check_scene_options(RenderOptions(scene="p.blend", lights=("hex",)))
    with pytest.raises(SettingsError, match="--camera needs --scene"):
        check_scene_options(RenderOptions(cameras=("Cam",)))
    check_scene_options(RenderOptions(scene="p.blend", count=3, scene_lights=("x2",)))


def test_render_py_checks_the_file_before_anything_else(tmp_path, capsys):
    text = tmp_path / "part.blend"
    text.write_text("not blender")
    with pytest.raises(SystemExit) as exit_:
        parse_args(["--out", str(tmp_path / "out"), "--scene", str(text)])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and err == [f"render.py: error: {text}: not a .blend file"]
    assert not (tmp_path / "out").exists()


def test_scene_settings_take_the_files_size_unless_given():
    options = RenderOptions(scene="/p.blend", count=2, scene_lights=("x2", "x2"))
    settings = to_scene_settings(options, "00" * 32, ("Cam",), ("Steel",), (320, 240))
    assert settings.resolution == (320, 240) and settings.lights == ("x2",)
    given = to_scene_settings(replace(options, resolution=(64, 48)), "0", ("C",), ("S",), (1, 1))
    assert given.resolution == (64, 48)
    with pytest.raises(SettingsError, match="--stain-radius-mm"):
        to_scene_settings(replace(options, stain_radius_mm=(0.0, 1.0)), "0", ("C",), ("S",), (1, 1))
