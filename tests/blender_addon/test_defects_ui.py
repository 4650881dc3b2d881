"""Defect/impurity settings in the SeqCore sidebar: properties -> DefectSettings, preview operator."""

import pytest

pytestmark = pytest.mark.blender


@pytest.fixture
def registered(fresh_bpy):
    import blender_addon

    blender_addon.register()
    yield fresh_bpy
    blender_addon.unregister()


def test_sidebar_settings_become_defect_settings(registered):
    from blender_addon.properties import dataset_settings, defect_settings

    s = registered.context.scene.seqcore
    s.defects, s.stickers = True, True
    s.defect_count = (2, 4)
    s.defect_classes = {"dent", "scratch"}
    s.impurity_count = (1, 1)
    s.placement = "next_to_defect"
    s.scratch_width_mm = (0.2, 0.3)
    d = defect_settings(s)
    assert d.defect_count == (2, 4) and d.defect_classes == ("scratch", "dent")
    assert d.impurity_classes == ("sticker",) and d.impurity_count == (1, 1)
    assert d.placement == "next_to_defect"
    assert d.scratch_width_mm == pytest.approx((0.2, 0.3))
    ds = dataset_settings(s)
    assert ds.defects and ds.defect_settings == d and ds.preset == ""
    assert ds.impurities == ("water_stain", "sticker")
    s.preset = "demo-test"
    ds = dataset_settings(s)
    assert ds.preset == "demo-test" and ds.variant == "stained"
    s.scratch_width_mm = (0.5, 0.2)
    with pytest.raises(ValueError, match="scratch_width_mm"):
        defect_settings(s)


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
