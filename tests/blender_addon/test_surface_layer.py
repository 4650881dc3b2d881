"""apply_surface_layer on a small self-built material: wiring, image contents, idempotency, removal."""

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from blender_addon.core.defects import DefectSettings, place_instances, rasterize  # noqa: E402
from blender_addon.core.masks import AOV_DEFECT_ID, AOV_DEFECT_MASK  # noqa: E402
from blender_addon.nodes.helpers import node_tree_of  # noqa: E402
from blender_addon.nodes.surface_layer import (  # noqa: E402
    LAYER_PREFIX,
    apply_surface_layer,
    layer_images,
    purge_layer_images,
    remove_surface_layer,
)

pytestmark = pytest.mark.blender

VIEW = (-10.0, -8.0, 10.0, 8.0)


@pytest.fixture
def material():
    """Principled 'SeqCore BSDF' with a bump already on its normal and a texture on its roughness."""
    mat = bpy.data.materials.new("SeqCore Test Layer Material")
    tree = node_tree_of(mat)  # Blender 4.2 creates the tree only on request
    tree.nodes.clear()
    out = tree.nodes.new("ShaderNodeOutputMaterial")
    bsdf = tree.nodes.new("ShaderNodeBsdfPrincipled")
    bsdf.name = "SeqCore BSDF"
    grooves = tree.nodes.new("ShaderNodeBump")
    grooves.name = "Grooves"
    noise = tree.nodes.new("ShaderNodeTexNoise")
    noise.name = "Rough Noise"
    tree.links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    tree.links.new(grooves.outputs["Normal"], bsdf.inputs["Normal"])
    tree.links.new(noise.outputs["Fac"], bsdf.inputs["Roughness"])
    yield mat
    purge_layer_images(mat)
    bpy.data.materials.remove(mat)


def _layer(classes=("scratch", "dent", "sticker")):
    settings = DefectSettings(sticker_size_mm=(5.0, 8.0), fingerprint_size_mm=(8.0, 10.0))
    specs = place_instances(np.random.default_rng(2), list(classes), settings, VIEW)
    assert [s.class_name for s in specs] == list(classes)
    return specs, rasterize(specs, VIEW, 6.0)


def _feeder(socket):
    return socket.links[0].from_node.name if socket.is_linked else None


def test_layer_is_wired_and_images_hold_the_arrays(material):
    specs, layer = _layer()
    apply_surface_layer(material, layer)
    tree = material.node_tree
    bsdf = tree.nodes["SeqCore BSDF"]
    bump = tree.nodes[f"{LAYER_PREFIX} Bump"]
    assert _feeder(bsdf.inputs["Normal"]) == bump.name
    assert _feeder(bump.inputs["Normal"]) == "Grooves"  # brushing grooves kept upstream
    rough = tree.nodes[f"{LAYER_PREFIX} Roughness"]
    assert _feeder(bsdf.inputs["Roughness"]) == rough.name
    assert _feeder(rough.inputs[0]) == "Rough Noise"
    output = next(n for n in tree.nodes if n.bl_idname == "ShaderNodeOutputMaterial")
    mix = tree.nodes[f"{LAYER_PREFIX} Mix"]
    assert _feeder(output.inputs["Surface"]) == mix.name
    assert _feeder(mix.inputs[1]) == "SeqCore BSDF"
    aov = tree.nodes[f"{LAYER_PREFIX} Defect ID"]
    assert aov.aov_name == AOV_DEFECT_ID
    assert tree.nodes[f"{LAYER_PREFIX} Defect Mask"].aov_name == AOV_DEFECT_MASK
    index_tex = tree.nodes[f"{LAYER_PREFIX} Index"]
    assert index_tex.interpolation == "Closest" and index_tex.extension == "CLIP"

    data, albedo = layer_images(material)
    h, w = layer.shape
    assert tuple(data.size) == (w, h) and data.is_float
    pixels = np.empty(w * h * 4, np.float32)
    data.pixels.foreach_get(pixels)
    pixels = pixels.reshape(h, w, 4)
    np.testing.assert_array_equal(pixels[..., 0], layer.height)
    np.testing.assert_array_equal(pixels[..., 2], layer.instance.astype(np.float32))
    assert set(np.unique(pixels[..., 2])) == {0.0, 1.0, 2.0, 3.0}
    albedo_pixels = np.empty(w * h * 4, np.float32)
    albedo.pixels.foreach_get(albedo_pixels)
    np.testing.assert_allclose(albedo_pixels.reshape(h, w, 4), layer.albedo, atol=1e-6)

    # Mapping: object-space metres -> [0, 1] over the layer extent (row 0 = min y).
    mapping = tree.nodes[f"{LAYER_PREFIX} Mapping"]
    scale = np.array(mapping.inputs["Scale"].default_value)[:2]
    loc = np.array(mapping.inputs["Location"].default_value)[:2]
    x0, y0, x1, y1 = layer.extent_mm
    np.testing.assert_allclose(np.array([x0, y0]) / 1000 * scale + loc, [0, 0], atol=1e-6)
    np.testing.assert_allclose(np.array([x1, y1]) / 1000 * scale + loc, [1, 1], atol=1e-6)


def test_apply_twice_replaces_and_remove_restores(material):
    tree = material.node_tree
    before = {n.name for n in tree.nodes}
    _, layer = _layer()
    apply_surface_layer(material, layer)
    count = len(tree.nodes)
    _, other = _layer(("bump",))
    apply_surface_layer(material, other)
    assert len(tree.nodes) == count
    assert len(layer_images(material)) == 2
    data = layer_images(material)[0]
    assert tuple(data.size) == (other.shape[1], other.shape[0])

    assert remove_surface_layer(material)
    assert {n.name for n in tree.nodes} == before
    bsdf = tree.nodes["SeqCore BSDF"]
    assert _feeder(bsdf.inputs["Normal"]) == "Grooves"
    assert _feeder(bsdf.inputs["Roughness"]) == "Rough Noise"
    output = next(n for n in tree.nodes if n.bl_idname == "ShaderNodeOutputMaterial")
    assert _feeder(output.inputs["Surface"]) == "SeqCore BSDF"
    assert layer_images(material) == []
    assert not remove_surface_layer(material)


def test_remove_restores_unlinked_roughness_value():
    mat = bpy.data.materials.new("SeqCore Test Layer Plain")
    try:
        nodes = node_tree_of(mat).nodes
        bsdf = next(n for n in nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")
        bsdf.inputs["Roughness"].default_value = 0.123
        _, layer = _layer(("fingerprint",))
        apply_surface_layer(mat, layer)
        rough = mat.node_tree.nodes[f"{LAYER_PREFIX} Roughness"]
        assert rough.inputs[0].default_value == pytest.approx(0.123)
        remove_surface_layer(mat)
        assert not bsdf.inputs["Roughness"].is_linked and not bsdf.inputs["Normal"].is_linked
        assert bsdf.inputs["Roughness"].default_value == pytest.approx(0.123)
    finally:
        purge_layer_images(mat)
        bpy.data.materials.remove(mat)
