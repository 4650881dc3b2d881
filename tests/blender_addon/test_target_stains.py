"""The target domain's water stains (no bpy): residue films, another model than Algorithm 1."""

import numpy as np
import pytest

from blender_addon.core.defect_params import InstanceSpec, instances_from_dicts
from blender_addon.core.defect_raster import footprint, rasterize, residue_outline
from blender_addon.core.target_stains import (
    STAIN_COUNT,
    draw_residue_stain,
    place_residue_stains,
)
from blender_addon.core.water_stain import StainParams, water_stain_reference

PX_PER_MM = 40.0


def _layer(params):
    r = params.radius_mm * 1.5
    spec = InstanceSpec("water_stain", params)
    return rasterize([spec], (-r, -r, r, r), PX_PER_MM)


def _polar(layer):
    h, w = layer.instance.shape
    x0, y0 = layer.extent_mm[:2]
    xs = x0 + (np.arange(w) + 0.5) / PX_PER_MM
    ys = y0 + (np.arange(h) + 0.5) / PX_PER_MM
    gx, gy = np.meshgrid(xs, ys)
    return gx, gy


@pytest.mark.parametrize("seed", range(8))
def test_residue_stain_has_a_darker_rim_and_a_heterogeneous_interior(seed):
    params = draw_residue_stain(np.random.default_rng(seed))
    layer = _layer(params)
    gx, gy = _polar(layer)
    cos, sin = np.cos(params.angle), np.sin(params.angle)
    u, v = cos * gx + sin * gy, -sin * gx + cos * gy
    theta = np.arctan2(v / params.aspect, u)
    rho = np.hypot(u, v / params.aspect) / (params.radius_mm * residue_outline(params, theta))
    alpha = layer.albedo[..., 3]
    inside = layer.instance > 0
    # the mask is the outline, and the footprint covers it
    assert np.array_equal(inside, rho < 1)
    discs = footprint(InstanceSpec("water_stain", params))
    gap = np.hypot(gx[..., None] - discs[:, 0], gy[..., None] - discs[:, 1]) - discs[:, 2]
    assert np.all(gap.min(axis=-1)[inside] <= 0)
    rim = inside & (rho > 0.95)
    core = inside & (rho < 0.4)
    assert alpha[rim].mean() > 1.5 * alpha[core].mean()  # darker edges
    # heterogeneous inside: the film varies by a good share of its mean
    assert alpha[core].std() > 0.1 * alpha[core].mean()
    assert np.all(alpha[~inside] == 0)


def test_rim_width_varies_around_the_outline():
    params = draw_residue_stain(np.random.default_rng(3))
    mean, variation, phase = params.rim_width
    theta = np.linspace(0, 2 * np.pi, 361)
    widths = mean * (1 + variation * np.cos(3 * theta + phase))
    assert widths.max() / widths.min() > 1.3


def test_residue_stains_differ_from_algorithm_1_stains():
    """Algorithm 1's change grows monotonically towards the rim along every ray; a residue stain
    with inner rings does not: going outwards, its cover falls again after each ring."""
    r = 0.003
    stain = StainParams(radius=r, amplitude=0.0, alpha=-0.4, gamma=3.0, center=(0.0, 0.0, 0.0))
    radii = np.linspace(0.0, 0.98 * r, 200)
    points = np.column_stack([radii, np.zeros_like(radii), np.zeros_like(radii)])
    reference = water_stain_reference(points, stain, np.full((200, 3), 0.8))
    change = 0.8 - reference.reflectance[:, 0]
    assert np.all(np.diff(change) >= -1e-12)
    rng = np.random.default_rng(0)
    ringed = next(p for p in iter(lambda: draw_residue_stain(rng), None) if p.rings)
    layer = _layer(ringed)
    row = layer.albedo[layer.albedo.shape[0] // 2, :, 3]
    half = row[row.size // 2 :]
    half = half[half > 0]
    drawdown = np.maximum.accumulate(half) - half  # how far the cover falls after a peak
    assert drawdown.max() > 0.05


def test_placed_stains_keep_clear_of_other_instances_and_round_trip():
    rng = np.random.default_rng(5)
    rect = (-10.0, -8.4, 10.0, 8.4)
    for _ in range(10):
        stains = place_residue_stains(rng, [], rect)
        assert 1 <= len(stains) <= STAIN_COUNT[1]
        for spec in stains:
            x, y = spec.params.center_mm
            assert rect[0] <= x <= rect[2] and rect[1] <= y <= rect[3]
        back = instances_from_dicts([s.to_dict() for s in stains])
        assert back == stains
