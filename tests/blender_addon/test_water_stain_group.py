"""The "SeqCore Water Stain" node group: idempotent rebuilds, single-stain mode, Perlin outline."""

import numpy as np
import pytest

from blender_addon.core.camera import CameraView, pixel_centers_mm
from blender_addon.core.masks import AOV_STAIN_MASK
from blender_addon.core.sample_spec import SampleSpec, sample_texture
from blender_addon.core.water_stain import StainParams, water_stain_reference

pytestmark = pytest.mark.blender


def test_rebuilding_the_group_keeps_materials_links_and_values(fresh_bpy):
    from blender_addon.nodes.water_stain import WATER_STAIN_GROUP, build_water_stain_group
    from blender_addon.scene.materials import add_water_stain

    material = fresh_bpy.data.materials.new("m")
    group_node = add_water_stain(material, StainParams(radius=0.004, seed=17))
    tree = build_water_stain_group()
    count = len(tree.nodes)
    again = build_water_stain_group()
    assert again is tree and len(again.nodes) == count
    assert len([g for g in fresh_bpy.data.node_groups if g.name.startswith(WATER_STAIN_GROUP)]) == 1
    assert group_node.inputs["Radius"].default_value == pytest.approx(0.004)
    assert group_node.inputs["Seed"].default_value == 17
    assert group_node.outputs["Reflectance"].is_linked
    aovs = {n.aov_name for n in material.node_tree.nodes if n.bl_idname == "ShaderNodeOutputAOV"}
    assert {"seqcore_stain_mask", "seqcore_stain_id", "seqcore_plate"} <= aovs


def _render_mask(stain, tmp_path, name):
    from blender_addon.scene.render_sample import render_spec

    spec = SampleSpec(
        texture=sample_texture(np.random.default_rng(1)),
        light="ring",
        camera=CameraView(width_mm=20.0),
        resolution=(80, 67),
        samples=4,
        sampling_seed=2,
        stain=stain,
    )
    planes = render_spec(spec, tmp_path / name).planes
    return spec, planes[AOV_STAIN_MASK] >= 0.5


def test_single_stain_mode_and_perlin_outline(fresh_bpy, tmp_path):
    circle = StainParams(radius=0.004, amplitude=0.0, center=(0.001, -0.002, 0.0), seed=3)
    spec, mask = _render_mask(circle, tmp_path, "circle")
    xs, ys = pixel_centers_mm(spec.camera, spec.resolution)
    points = np.stack([xs.ravel() / 1000, ys.ravel() / 1000, np.zeros(xs.size)], axis=1)
    ref = water_stain_reference(points, circle).mask.reshape(xs.shape)
    assert (mask & ref).sum() / (mask | ref).sum() >= 0.97

    wobbly = StainParams(
        radius=0.004, amplitude=0.0015, frequency=500.0, center=(0.001, -0.002, 0.0), seed=3
    )
    _, perturbed = _render_mask(wobbly, tmp_path, "wobbly")
    changed = (perturbed != mask).sum()
    assert changed > 0.05 * mask.sum()  # the outline moved ...
    assert 0.5 < perturbed.sum() / mask.sum() < 1.5  # ... around the same stain


def test_off_centre_camera_sees_the_plate_where_view_rect_says(fresh_bpy, tmp_path):
    """A grid position's camera: a stain placed in plate coordinates lands where the mapping says."""
    from blender_addon.scene.render_sample import render_spec

    stain = StainParams(radius=0.003, amplitude=0.0, center=(0.029, -0.012, 0.0), seed=1)
    spec = SampleSpec(
        texture=sample_texture(np.random.default_rng(2)),
        light="hex",
        camera=CameraView(center_mm=(25.0, -10.0), width_mm=20.0),
        resolution=(80, 67),
        samples=4,
        sampling_seed=3,
        stain=stain,
    )
    mask = render_spec(spec, tmp_path / "w").planes[AOV_STAIN_MASK] >= 0.5
    xs, ys = pixel_centers_mm(spec.camera, spec.resolution)
    points = np.stack([xs.ravel() / 1000, ys.ravel() / 1000, np.zeros(xs.size)], axis=1)
    ref = water_stain_reference(points, stain).mask.reshape(xs.shape)
    assert ref.sum() > 300
    assert (mask & ref).sum() / (mask | ref).sum() >= 0.97
