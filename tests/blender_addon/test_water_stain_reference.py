"""Algorithm 1 numpy reference: circles on the lattice, decay formula, seed offset, Perlin noise."""

import numpy as np
import pytest

from blender_addon.core.water_stain import (
    StainParams,
    perlin_noise,
    seed_offset_cells,
    water_stain_reference,
)


def _plane_points(half_mm: float, n: int) -> np.ndarray:
    xs = np.linspace(-half_mm, half_mm, n) / 1000.0
    x, y = np.meshgrid(xs, xs)
    return np.stack([x.ravel(), y.ravel(), np.zeros(x.size)], axis=1)


def _seed_near_plane(fraction: float) -> int:
    """A seed whose lattice has a layer within `fraction` cells of z = 0 (stains cut the plate)."""
    for seed in range(1000):
        z = float(seed_offset_cells(seed)[2]) % 1.0
        if min(z, 1.0 - z) < fraction:
            return seed
    raise AssertionError("no seed found")


def test_zero_amplitude_zero_jitter_gives_circles_around_lattice_points():
    seed = _seed_near_plane(0.05)
    params = StainParams(radius=0.002, amplitude=0.0, jitter=0.0, cell_size=0.008, seed=seed)
    points = _plane_points(20.0, 101)
    result = water_stain_reference(points, params)
    offset = seed_offset_cells(seed).astype(np.float64)
    # brute force: distance to every lattice point i*G - offset*G near the plate
    idx = np.arange(-6, 7)
    lattice = np.stack(np.meshgrid(idx, idx, np.arange(-1, 2)), -1).reshape(-1, 3)
    centres = (lattice - offset + np.round(offset)) * params.cell_size
    dist = np.min(np.linalg.norm(points[:, None] - centres[None], axis=-1), axis=1)
    np.testing.assert_allclose(result.distance, dist, atol=1e-9)
    clear = np.abs(dist - 0.002) > 1e-9  # grid points exactly on a rim round either way
    np.testing.assert_array_equal(result.mask[clear], (dist <= 0.002)[clear])
    assert 0.02 < result.mask.mean() < 0.5


def test_reflectance_follows_decay_inside_and_is_unchanged_outside():
    params = StainParams(radius=0.003, amplitude=0.0, gamma=2.0, alpha=-0.4, center=(0.0, 0.0, 0.0))
    points = np.array([[0.0, 0.0, 0.0], [0.0015, 0.0, 0.0], [0.0029, 0.0, 0.0], [0.004, 0.0, 0.0]])
    result = water_stain_reference(points, params, reflectance_in=0.8)
    expected = [0.8, 0.8 - 0.4 * 0.25, 0.8 - 0.4 * (0.0029 / 0.003) ** 2, 0.8]
    np.testing.assert_allclose(result.reflectance[:, 0], expected, atol=1e-12)
    np.testing.assert_array_equal(result.mask, [True, True, True, False])


def test_reflectance_is_clamped_at_zero_and_keeps_colour_channels():
    params = StainParams(radius=0.003, amplitude=0.0, gamma=1.0, alpha=-2.0, center=(0.0, 0.0, 0.0))
    rgb = np.array([[0.9, 0.5, 0.1]])
    result = water_stain_reference(np.array([[0.0029, 0, 0]]), params, reflectance_in=rgb)
    assert result.reflectance.shape == (1, 3)
    assert np.all(result.reflectance == 0.0)


def test_perturbation_changes_outline_but_not_far_points():
    base = StainParams(radius=0.003, amplitude=0.0, center=(0.0, 0.0, 0.0), frequency=800.0)
    wobbly = StainParams(radius=0.003, amplitude=0.001, center=(0.0, 0.0, 0.0), frequency=800.0)
    points = _plane_points(6.0, 121)
    a = water_stain_reference(points, base).mask
    b = water_stain_reference(points, wobbly).mask
    assert (a != b).sum() > 50
    far = np.linalg.norm(points, axis=1) > 0.0045
    assert not b[far].any()


def test_perlin_is_deterministic_bounded_smooth_and_zero_on_lattice():
    rng = np.random.default_rng(0)
    pts = rng.uniform(-20, 20, size=(5000, 3))
    n = perlin_noise(pts, seed=3)
    np.testing.assert_array_equal(n, perlin_noise(pts, seed=3))
    assert np.abs(n).max() <= 1.5 and n.std() > 0.1
    assert np.abs(perlin_noise(pts + 1e-4, seed=3) - n).max() < 0.01
    lattice = rng.integers(-10, 10, size=(100, 3)).astype(float)
    np.testing.assert_allclose(perlin_noise(lattice, seed=3), 0.0, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 123, 9999])
def test_seed_offset_is_float32_and_inside_range(seed):
    off = seed_offset_cells(seed)
    assert off.dtype == np.float32 and np.all((off >= 0) & (off < 64))


def test_params_round_trip():
    p = StainParams(center=(0.001, 0.002, 0.0), seed=5)
    assert StainParams.from_dict(p.to_dict()) == p
