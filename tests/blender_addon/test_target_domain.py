"""The target domain's draws and image effects (numpy only), against geometry, scipy and photon statistics."""

from dataclasses import replace

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from blender_addon.core.camera import PLATE_SIZE_MM, CameraView, pixel_centers_mm
from blender_addon.core.sample_spec import (
    DatasetSettings,
    SampleSpec,
    plate_rng,
    sample_plate_specs,
    sample_texture,
)
from blender_addon.core.target_domain import (
    apply_effects,
    edge_view,
    gaussian_blur,
    quantize,
    srgb_decode,
    srgb_encode,
    target_texture,
)

SIZE = (96, 80)


def _settings(domain: str, **kw) -> DatasetSettings:
    return DatasetSettings(count=12, resolution=SIZE, domain=domain, **kw)


def _effects(**kw) -> dict:
    base = {
        "blur_sigma_px": 1.0,
        "exposure_stops": 0.0,
        "white_balance": [1.0, 1.0, 1.0],
        "full_well_e": 10000.0,
        "read_noise_e": 3.0,
        "adc_bits": 12,
        "noise_seed": 7,
    }
    return {**base, **kw}


def test_target_draws_leave_the_plates_synthetic_draws_alone():
    for plate in range(12):
        (synthetic,) = sample_plate_specs(_settings("synthetic"), plate, True)
        (target,) = sample_plate_specs(_settings("target"), plate, True)
        # the target's stains are residue-film instances, not Algorithm 1's shader stains
        assert synthetic.stain is not None and target.stain is None
        stains = [d for d in target.instances if d["class"] == "water_stain"]
        others = tuple(d for d in target.instances if d["class"] != "water_stain")
        assert stains
        assert target.sampling_seed == synthetic.sampling_seed and target.light == synthetic.light
        assert target.texture["seed"] == synthetic.texture["seed"]
        assert synthetic.target is None and target.target is not None
        if target.target["edge"] is None:  # same view: same defects, too
            assert target.camera == synthetic.camera and others == synthetic.instances


def test_target_params_round_trip_and_redraw_identically():
    (a,) = sample_plate_specs(_settings("target", defects=True), 3, True)
    (b,) = sample_plate_specs(_settings("target", defects=True), 3, True)
    assert a == b
    assert SampleSpec.from_params(a.to_params()) == a
    (plain,) = sample_plate_specs(_settings("synthetic"), 3, True)
    assert "target" not in plain.to_params()  # synthetic params stay as manifests know them


def test_textures_are_drawn_partly_outside_the_synthetic_ranges():
    synthetic = [sample_texture(plate_rng(0, k, 0)) for k in range(400)]
    target = [target_texture(plate_rng(0, k, 4), t)[0] for k, t in enumerate(synthetic)]
    for key in ("roughness", "groove_depth", "streak_contrast"):
        low = min(t[key] for t in synthetic)
        high = max(t[key] for t in synthetic)
        outside = np.mean([not low <= t[key] <= high for t in target])
        assert 0.15 <= outside <= 0.85, (key, outside)  # partly, not wholly, outside


@pytest.mark.parametrize("seed", range(40))
def test_edge_views_show_the_drawn_share_of_background(seed):
    view = CameraView(center_mm=(0.0, 0.0), width_mm=40.0)
    moved, edge = edge_view(np.random.default_rng(seed), view, SIZE)
    if edge is None:
        assert moved == view
        return
    xs, ys = pixel_centers_mm(moved, SIZE)
    off = (np.abs(xs) > PLATE_SIZE_MM[0] / 2) | (np.abs(ys) > PLATE_SIZE_MM[1] / 2)
    pixels = SIZE[0] if edge["side"] in ("left", "right") else SIZE[1]
    # the background share the camera geometry gives, to within one pixel row or column
    assert abs(off.mean() - edge["fraction"]) <= 1.0 / pixels + 1e-9


def test_grid_views_go_to_their_nearest_plate_border():
    from blender_addon.core.camera import grid_centers_mm

    for seed in range(60):
        for center in grid_centers_mm(3, 3):
            view = CameraView(center_mm=center, width_mm=30.0)
            moved, edge = edge_view(np.random.default_rng(seed), view, SIZE)
            if edge is None or center == (0.0, 0.0):
                continue
            cx, cy = center
            nearest = "left" if cx < 0 else "right"  # 3 x 3 on 100 x 120: x borders are nearer
            if abs(cx) < 1e-9:
                nearest = "top" if cy > 0 else "bottom"
            assert edge["side"] == nearest, (center, edge)


def test_edge_share_over_many_plates():
    settings = DatasetSettings(count=300, resolution=SIZE, domain="target")
    edges = [sample_plate_specs(settings, k, True)[0].target["edge"] for k in range(300)]
    share = np.mean([e is not None for e in edges])
    assert 0.2 <= share <= 0.4  # EDGE_SHARE 0.3; binomial sd 0.026


def test_blur_matches_scipy_and_moves_nothing():
    rng = np.random.default_rng(0)
    image = rng.random((40, 50, 3)).astype(np.float32)
    ours = gaussian_blur(image, 1.3)
    theirs = gaussian_filter(image, sigma=(1.3, 1.3, 0), mode="mirror", truncate=3.0)
    assert np.abs(ours - theirs).max() < 1e-5
    spot = np.zeros((41, 41), np.float32)
    spot[13, 27] = 1.0
    blurred = gaussian_blur(spot, 1.5)
    rows, cols = np.mgrid[:41, :41]
    assert abs((blurred * rows).sum() / blurred.sum() - 13) < 1e-4
    assert abs((blurred * cols).sum() / blurred.sum() - 27) < 1e-4


def test_sensor_noise_follows_photon_statistics():
    """Shot noise is Poisson: the variance in electrons of a flat field is its mean plus the read
    noise squared (and 1/12 ADC step squared). Measured on the output, decoded back to electrons.
    The level (2000 e-) is where the normal approximation apply_effects uses is also close in shape."""
    level, full_well, read = 0.2, 10000.0, 3.0
    flat = np.full((200, 200, 3), level, np.float32)
    out = apply_effects(
        flat, np.ones((200, 200)), _effects(blur_sigma_px=0.0, full_well_e=full_well)
    )
    electrons = srgb_decode(out.astype(np.float64)) * full_well
    step = full_well / 4095
    expected_sd = np.sqrt(level * full_well + read**2 + step**2 / 12)
    assert electrons.mean() == pytest.approx(level * full_well, rel=0.01)
    assert electrons.std() == pytest.approx(expected_sd, rel=0.05)


def test_output_lies_on_the_12_bit_adc_grid():
    image = np.random.default_rng(1).random((30, 30, 3)).astype(np.float32) * 0.8
    out = apply_effects(image, np.ones((30, 30)), _effects())
    out16 = quantize(out, 16)
    counts = np.rint(srgb_decode(out16.astype(np.float64) / 65535) * 4095)
    # every 16-bit value is the encoding of a whole ADC count: the 12-bit steps are kept (to one
    # 16-bit step: apply_effects encodes in float32, this check in float64)
    again = quantize(srgb_encode(counts / 4095), 16).astype(np.int64)
    assert np.abs(again - out16).max() <= 1
    assert len(np.unique(counts)) > 500  # and they are many different counts, not a few


def test_pairs_stay_equal_outside_the_blurred_difference():
    """A clean/stained pair shares its effects: after the camera it must still differ only where the
    renders differ, widened by the lens blur's kernel radius (3 sigma), not everywhere by noise."""
    rng = np.random.default_rng(2)
    clean = (rng.random((64, 64, 3)) * 0.6).astype(np.float32)
    stained = clean.copy()
    stained[20:30, 10:25] *= 0.7  # a "stain"
    ones = np.ones((64, 64))
    fx = _effects(blur_sigma_px=1.2)
    a, b = apply_effects(clean, ones, fx), apply_effects(stained, ones, fx)
    changed = np.zeros((64, 64), bool)
    changed[20 - 4 : 30 + 4, 10 - 4 : 25 + 4] = True  # radius ceil(3 * 1.2) = 4
    assert np.array_equal(a[~changed], b[~changed])
    assert not np.array_equal(a[changed], b[changed])


def test_exposure_and_white_balance_scale_the_signal():
    flat = np.full((100, 100, 3), 0.1, np.float32)
    ones = np.ones((100, 100))
    plain = srgb_decode(apply_effects(flat, ones, _effects()).astype(np.float64))
    warm = srgb_decode(
        apply_effects(
            flat, ones, _effects(exposure_stops=0.5, white_balance=[1.08, 1.0, 0.92])
        ).astype(np.float64)
    )
    ratio = warm.mean(axis=(0, 1)) / plain.mean(axis=(0, 1))
    assert ratio == pytest.approx(np.sqrt(2) * np.array([1.08, 1.0, 0.92]), rel=0.01)


def test_background_is_black_and_effects_are_reproducible():
    image = np.full((60, 80, 3), 0.5, np.float32)
    plate = np.ones((60, 80))
    plate[:, 50:] = 0.0  # the plate ends at column 50
    out = apply_effects(image, plate, _effects())
    assert out[:, 60:].mean() < 0.03  # read noise only, far from the edge (blur is 1 px)
    assert out[:, :40].mean() > 0.6
    again = apply_effects(image, plate, _effects())
    assert np.array_equal(out, again)
    assert not np.array_equal(out, apply_effects(image, plate, _effects(noise_seed=8)))


def test_quantize_and_srgb():
    ramp = np.linspace(0, 1, 65536)
    assert np.array_equal(quantize(ramp, 16), np.arange(65536, dtype=np.uint16))
    assert quantize(np.array([0.5]), 8)[0] == 128
    # IEC 61966-2-1 reference points
    assert srgb_encode(np.array([0.0031308]))[0] == pytest.approx(0.04045, abs=1e-5)
    assert srgb_encode(np.array([0.18]))[0] == pytest.approx(0.4613, abs=1e-4)
    x = np.linspace(0, 1, 101)
    assert np.abs(srgb_decode(srgb_encode(x)) - x).max() < 1e-12
    with pytest.raises(ValueError):
        quantize(ramp, 12)


def test_settings_refuse_unknown_domain_and_modes():
    with pytest.raises(ValueError, match="domain"):
        DatasetSettings(domain="real")
    with pytest.raises(ValueError, match="bit_depth"):
        replace(DatasetSettings(), bit_depth=12)
