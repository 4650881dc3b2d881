"""Defect/impurity settings in the SeqCore sidebar: properties -> settings, presets, preview operator."""

import pytest

pytestmark = pytest.mark.blender


@pytest.fixture
def registered(fresh_bpy):
    import blender_addon

    blender_addon.register()
    yield fresh_bpy
    blender_addon.unregister()


def test_sidebar_settings_become_defect_settings(registered):
    from blender_addon.core.errors import SettingsError
    from blender_addon.properties import dataset_settings

    s = registered.context.scene.seqcore
    s.defects, s.stickers = True, True
    s.defect_count = (2, 4)
    s.defect_classes = {"dent", "scratch"}
    s.impurity_count = (1, 1)
    s.placement = "next_to_defect"
    s.scratch_width_mm = (0.2, 0.3)
    ds = dataset_settings(s)
    d = ds.defect_settings
    assert d.defect_count == (2, 4) and d.defect_classes == ("scratch", "dent")
    assert d.impurity_classes == ("sticker",) and d.impurity_count == (1, 1)
    assert d.placement == "next_to_defect"
    assert d.scratch_width_mm == pytest.approx((0.2, 0.3))
    assert ds.defects and ds.preset == ""
    assert ds.impurities == ("water_stain", "sticker")
    s.scratch_width_mm = (0.5, 0.2)
    with pytest.raises(SettingsError, match="scratch_width_mm"):
        dataset_settings(s)


def test_a_preset_with_paired_is_refused_like_on_the_command_line(registered, tmp_path):
    from blender_addon.core.errors import SettingsError
    from blender_addon.properties import dataset_settings

    s = registered.context.scene.seqcore
    s.preset, s.output_dir = "demo-test", str(tmp_path / "ds")
    assert s.variant == "paired"
    with pytest.raises(SettingsError, match="set the variant to stained or clean, not paired"):
        dataset_settings(s)
    with pytest.raises(RuntimeError, match="stained or clean"):  # the operator's error report
        registered.ops.seqcore.render_dataset()
    assert not (tmp_path / "ds").exists()
    s.variant = "stained"
    ds = dataset_settings(s)
    assert ds.preset == "demo-test" and ds.variant == "stained" and ds.defects


def test_preview_shows_plate_zero_as_the_dataset_renders_it(registered):
    from blender_addon.core.render_plan import plan_samples
    from blender_addon.properties import dataset_settings, defect_preview_spec

    s = registered.context.scene.seqcore
    s.dataset_seed, s.count, s.variant = 5, 3, "paired"
    s.defects, s.fingerprints, s.defect_count, s.impurity_count = True, True, (2, 3), (1, 1)
    s.lights = {"hex", "ring", "hex_x2"}
    preview = defect_preview_spec(s)
    plate0 = [p for p in plan_samples(dataset_settings(s)) if p.plate == 0]
    assert preview == plate0[-1].spec and plate0[-1].variant == "stained"
    assert preview.instances and preview.instances == plate0[0].spec.instances
    s.preset, s.variant = "demo-test", "stained"  # a preset's plate 0 too (a clean plate)
    assert defect_preview_spec(s) == plan_samples(dataset_settings(s))[0].spec


def test_preview_operator_puts_the_layer_on_the_plate(registered):
    bpy = registered
    s = bpy.context.scene.seqcore
    s.resolution_x, s.resolution_y = 64, 54
    with pytest.raises(RuntimeError, match="Enable Defects"):  # nothing enabled yet
        bpy.ops.seqcore.preview_defects()
    s.defects, s.fingerprints = True, True
    s.defect_count, s.impurity_count = (2, 2), (1, 1)
    assert bpy.ops.seqcore.preview_defects() == {"FINISHED"}
    tree = bpy.data.objects["SeqCore Plate"].active_material.node_tree
    assert "SeqCore Layer Bump" in tree.nodes
    assert tree.nodes["SeqCore BSDF"].inputs["Normal"].links[0].from_node.name == (
        "SeqCore Layer Bump"
    )
    assert bpy.ops.seqcore.build_scene() == {"FINISHED"}  # plain scene again: no layer
    tree = bpy.data.objects["SeqCore Plate"].active_material.node_tree
    assert "SeqCore Layer Bump" not in tree.nodes
