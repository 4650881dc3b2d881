"""Renders with the difficulties of the paper's camera images (Appendix A), as measured properties.

- the light's reflection is over-exposed (a share of pixels at 255), more so under the doubled light;
- the dark field shows the brushing texture: a structure along the brushing direction that two
  sampling seeds agree on, well above the difference between them (the sampling noise);
- stains change reflectance only (Algorithm 1) by default and fade in the clipped and the dark field;
- fingerprint ridges finer than the pixels can show are left out, so they never alias.
"""

from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

from blender_addon.core.camera import CameraView
from blender_addon.core.defect_params import FingerprintParams, InstanceSpec
from blender_addon.core.defect_raster import rasterize
from blender_addon.core.sample_spec import (
    DatasetSettings,
    SampleSpec,
    sample_plate_specs,
    sample_texture,
)
from blender_addon.core.water_stain import StainParams

FINGERPRINT = FingerprintParams(
    center_mm=(0.0, 0.0),
    size_mm=12.0,
    aspect=0.7,
    angle=0.4,
    ridge_spacing_mm=0.45,
    residue=0.2,
    residue_color=(0.35, 0.33, 0.29),
    roughness_delta=0.15,
    height_mm=0.001,
    seed=7,
)


def _read(path) -> np.ndarray:
    import imageio.v3 as iio

    return iio.imread(path).astype(np.float64)


def _texture(direction_deg: float = 0.0) -> dict:
    return {**sample_texture(np.random.default_rng(11)), "direction_deg": direction_deg}


def _spec(**kw) -> SampleSpec:
    base = dict(
        texture=_texture(),
        light="hex",
        camera=CameraView(width_mm=40.0),
        resolution=(96, 80),
        samples=4,
        sampling_seed=3,
    )
    return SampleSpec(**{**base, **kw})


def _high_frequency_share(image: np.ndarray) -> float:
    """Share of the (mean-free, Hann-windowed) spectrum's energy above half the Nyquist frequency."""
    h, w = image.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    power = np.abs(np.fft.fft2((image - image.mean()) * window)) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij")
    return float(power[np.hypot(fx, fy) > 0.25].sum() / power.sum())


def test_rim_roughness_is_off_by_default_and_an_option():
    default = sample_plate_specs(DatasetSettings(count=1, seed=2), 0, with_stain=True)[0]
    assert default.stain.roughness == 0.0
    assert default.to_params()["stain"]["roughness"] == 0.0  # recorded in params
    rough = sample_plate_specs(
        DatasetSettings(count=1, seed=2, stain_rim_roughness=0.15), 0, with_stain=True
    )[0]
    assert 0.0 < rough.stain.roughness <= 0.15
    # the option changes nothing else: the other stain and texture draws keep their values
    assert replace(rough.stain, roughness=0.0) == default.stain
    assert rough.texture == default.texture
    assert DatasetSettings(stain_rim_roughness=0.15).to_dict()["stain_rim_roughness"] == 0.15


def _fingerprint_image(image_px_per_mm: float, limit: bool) -> np.ndarray:
    """The fingerprint's residue cover on image pixels: its 2x layer box-averaged, as a render does."""
    layer = rasterize(
        [InstanceSpec("fingerprint", FINGERPRINT)],
        (-8.0, -8.0, 8.0, 8.0),
        2 * image_px_per_mm,
        image_px_per_mm=image_px_per_mm if limit else 1e6,
    )
    a = layer.albedo[..., 3]
    h, w = (a.shape[0] // 2) * 2, (a.shape[1] // 2) * 2
    return a[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))


@pytest.mark.parametrize("image_px_per_mm", [4.0, 8.0])  # ridges 1.8 and 3.6 px apart
def test_fingerprint_ridges_stay_below_half_nyquist_at_any_resolution(image_px_per_mm):
    filtered = _fingerprint_image(image_px_per_mm, limit=True)
    raw = _fingerprint_image(image_px_per_mm, limit=False)
    assert _high_frequency_share(filtered) < 0.1
    # the smudge stays: same mean cover, low contrast (alpha never above the residue)
    assert abs(filtered.mean() - raw.mean()) <= 0.1 * raw.mean()
    assert filtered.max() <= FINGERPRINT.residue + 1e-6


def test_fingerprint_ridge_limit_is_what_removes_the_fine_ridges():
    # at 3.6 px per nominal period (shorter where the whorl and warps bend the ridges) the
    # unlimited pattern keeps a quarter of its energy above Nyquist / 2, the limited one < 10 %
    # (at 1.8 px the unlimited ridges fold below Nyquist / 2 instead: the false whorls seen before)
    assert _high_frequency_share(_fingerprint_image(8.0, limit=False)) > 0.2


@pytest.mark.blender
def test_three_fields_and_the_doubled_light_over_exposes_more(fresh_bpy, tmp_path):
    """Appendix A's dark, bright and over-exposed fields: under hex a dark field, a wide bright
    field that does not clip, and an over-exposed minority; the doubled light over-exposes more.
    A narrower view (the camera closer, same lens) shows the same fields."""
    from blender_addon.scene.render_sample import render_spec

    def fields(spec, name) -> dict:
        image = _read(render_spec(spec, tmp_path / name, with_masks=False).image_path)
        grey = image.mean(axis=-1)
        return {
            "dark": float(np.mean(grey < 60)),
            "bright": float(np.mean((grey >= 150) & (grey <= 250))),
            "clipped": float(np.mean(image.min(axis=-1) >= 255)),
        }

    share = {light: fields(_spec(light=light), light) for light in ("hex", "hex_x2")}
    narrow = fields(_spec(camera=CameraView(width_mm=20.0)), "narrow")
    print(f"fields: {share}, hex at 20 mm: {narrow}")
    # measured (bpy 5.0.1, 96 x 80, 4 spp): see BENCHMARKS.md "Render calibration"
    hex_ = share["hex"]
    assert hex_["dark"] >= 0.2 and hex_["bright"] >= 0.2, share
    assert 0.01 <= hex_["clipped"] <= 0.25, share
    assert hex_["clipped"] < hex_["bright"], share
    assert share["hex_x2"]["clipped"] > hex_["clipped"] + 0.05, share
    assert all(abs(narrow[k] - hex_[k]) < 0.1 for k in hex_), (narrow, hex_)


@pytest.mark.blender
@pytest.mark.slow
def test_dark_field_shows_the_brushing_texture_above_the_sampling_noise(fresh_bpy, tmp_path):
    from blender_addon.scene.render_sample import render_spec

    # a 24 mm view at 192 px (0.125 mm/px, like 306 px over 40 mm): the inner dark hexagon and
    # the dark field around the band
    spec = _spec(camera=CameraView(width_mm=24.0), resolution=(192, 160), samples=16)
    a, b = (
        _read(render_spec(replace(spec, sampling_seed=s), tmp_path / str(s), False).image_path)
        for s in (1, 2)
    )
    a, b = a.mean(axis=-1), b.mean(axis=-1)
    level = ndimage.gaussian_filter((a + b) / 2, 8)
    # the darkest 30 %, 6 px away from the reflection's edge (whose gradient is no texture)
    dark = ndimage.binary_erosion(level < np.percentile(level, 30), iterations=6)
    assert dark.sum() > 3000 and np.median(a[dark]) < 90

    def structure(axis: int) -> tuple[float, float]:
        """(signal, noise) variance of the detail left after smoothing 31 px along `axis`:
        signal = covariance of the two seeds' renders, noise = half their difference's variance."""
        da, db = (
            ndimage.uniform_filter1d(z - ndimage.gaussian_filter(z, 8), 31, axis=axis)[dark]
            for z in (a, b)
        )
        return float(np.mean((da - da.mean()) * (db - db.mean()))), float(np.var(da - db) / 2)

    along, along_noise = structure(1)  # brushing direction 0 deg: grooves run along x
    across, _ = structure(0)
    print(f"dark field: along {along:.1f}, noise {along_noise:.1f}, across {across:.1f}")
    # measured (bpy 5.0.1): along 269, noise 8.6, across 52; uniform roughness gave 70 / 3.0 / 41
    assert along > 10 * along_noise, (along, along_noise)
    assert along > 3 * across, (along, across)


@pytest.mark.blender
@pytest.mark.slow
def test_stains_change_reflectance_only_and_fade_in_clipped_and_dark_fields(fresh_bpy, tmp_path):
    from blender_addon.core.masks import AOV_STAIN_MASK
    from blender_addon.scene.materials import PLATE_MATERIAL, owned_material
    from blender_addon.scene.render_sample import render_spec

    stain = StainParams(
        radius=0.0022, frequency=300.0, amplitude=0.0005, alpha=-0.45, gamma=2.5, cell_size=0.0075
    )
    spec = _spec(resolution=(128, 107), samples=8, stain=stain)
    stained = render_spec(spec, tmp_path / "stained")
    tree = owned_material(PLATE_MATERIAL).node_tree
    assert tree.nodes.get("SeqCore Stain Roughness") is None  # Algorithm 1: reflectance only
    roughness_source = tree.nodes["SeqCore BSDF"].inputs["Roughness"].links[0].from_node
    assert roughness_source.label == "SeqCore Brushed Aluminium"
    clean = _read(render_spec(spec.without_stain(), tmp_path / "clean", False).image_path)
    image = _read(stained.image_path)
    inside = stained.planes[AOV_STAIN_MASK] >= 0.999
    change = np.abs(image - clean).mean(axis=-1)
    level = clean.mean(axis=-1)
    zones = {
        "clipped": clean.min(axis=-1) >= 255,
        "dark": level < np.percentile(level, 30),
        "mid": (level >= 80) & (clean.max(axis=-1) < 250),
    }
    contrast = {}
    for name, zone in zones.items():
        assert (inside & zone).sum() >= 30, (name, (inside & zone).sum())
        contrast[name] = float(change[inside & zone].mean())
    print(f"stain contrast by zone: {contrast}")
    # measured with the calibrated light, look 3 (own scene, hall light): bpy 5.0.1 clipped 7.7,
    # dark 7.2, mid 20.4 (look 2, inside the startup cube: 6.9 / 7.3 / 21.6); bpy 4.2.23, look 2:
    # 16.3 / 7.9 / 20.4: under 4.2 the stains' rims darken the over-exposed line below the clip
    # level more often, so there they fade less (README, "Renders that look like the camera
    # images"); an older light (5.0.1): 2.4 / 5.9 / 19.2
    import bpy

    assert contrast["mid"] >= 8, contrast
    fade = 0.45 if bpy.app.version >= (5, 0, 0) else 0.85
    assert contrast["clipped"] <= fade * contrast["mid"], contrast
    assert contrast["dark"] <= 0.4 * contrast["mid"], contrast
