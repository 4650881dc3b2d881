"""The built-in plate renders in a scene of its own, under the hall light of core.look.

Blender's startup scene holds a 2 m cube around the origin: a plate rendered inside it reflects the
cube's lit inside instead of the world, and its labels get no hall light (look version 2 did so).
"""

import numpy as np
import pytest
from scipy import ndimage

from blender_addon.core import look
from blender_addon.core.camera import CameraView, view_rect_mm
from blender_addon.core.defects import DefectSettings, place_instances
from blender_addon.core.masks import AOV_DEFECT_MASK
from blender_addon.core.sample_spec import SampleSpec, sample_texture

pytestmark = pytest.mark.blender


def _read(path) -> np.ndarray:
    import imageio.v3 as iio

    return iio.imread(path).astype(np.float64).mean(axis=-1)


def _spec(**kw) -> SampleSpec:
    base = dict(
        texture=sample_texture(np.random.default_rng(5)),
        light="hex",
        camera=CameraView(width_mm=24.0),
        resolution=(96, 80),
        samples=8,
        sampling_seed=2,
        denoise=False,
    )
    return SampleSpec(**{**base, **kw})


def test_the_startup_scene_does_not_reach_the_plates_render(bpy_module, tmp_path):
    from blender_addon.scene.build import SCENE_NAME
    from blender_addon.scene.render_sample import render_spec

    bpy = bpy_module
    bpy.ops.wm.read_factory_settings(use_empty=False)  # the startup cube, light and camera
    startup = bpy.context.scene
    before = sorted(o.name for o in startup.objects)
    assert "Cube" in before
    in_startup_file = _read(render_spec(_spec(), tmp_path / "startup").image_path)
    inspection = bpy.data.scenes[SCENE_NAME]
    assert sorted(o.name for o in startup.objects) == before
    assert all(o.name.startswith("SeqCore") for o in inspection.objects)
    # the old way, for contrast: the same plate built into the startup scene, inside the cube
    in_cube = _read(render_spec(_spec(), tmp_path / "cube", scene=startup).image_path)

    bpy.ops.wm.read_factory_settings(use_empty=True)
    alone = _read(render_spec(_spec(), tmp_path / "empty").image_path)
    same, cube = np.abs(in_startup_file - alone), np.abs(in_cube - alone)
    print(f"mean |difference|: startup file {same.mean():.3f}, inside the cube {cube.mean():.2f}")
    # same scene, same seed: equal up to float noise; the cube changes the render by grey levels
    assert same.mean() < 0.05 and np.percentile(same, 99.9) <= 1.0, same.max()
    assert cube.mean() > 2.0, cube.mean()


def test_the_hall_lights_labels_and_leaves_the_metals_mirror_image(
    fresh_bpy, tmp_path, monkeypatch
):
    """The hall is bright only far off the plate's normal: a diffuse paper label gets its light,
    the metal's mirror reflection (near the normal) barely changes."""
    from blender_addon.scene.render_sample import render_spec

    spec = _spec()
    rect = view_rect_mm(spec.camera, spec.resolution)
    settings = DefectSettings(sticker_size_mm=(7.0, 8.0))
    sticker = place_instances(np.random.default_rng(3), ["sticker"], settings, rect)
    spec = _spec(instances=tuple(s.to_dict() for s in sticker))
    lit = render_spec(spec, tmp_path / "hall")
    label = lit.planes[AOV_DEFECT_MASK] >= 0.5
    assert label.sum() > 200
    metal = ~ndimage.binary_dilation(label, iterations=3)
    monkeypatch.setattr(look, "HALL_RADIANCE", (look.HALL_RADIANCE[0],) * 2)  # no hall
    unlit = render_spec(spec, tmp_path / "no_hall")
    with_hall, without = _read(lit.image_path), _read(unlit.image_path)
    label_gain = float(np.median(with_hall[label] - without[label]))
    metal_change = float(np.mean(np.abs(with_hall[metal] - without[metal])))
    print(f"label +{label_gain:.1f} grey levels, metal {metal_change:.2f} on average")
    assert label_gain > 20, label_gain
    assert metal_change < 3, metal_change
