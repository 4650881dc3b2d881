"""Scoring's fast paths: cell scores -> map as two matrix products, the screened 1-NN search, and
predict's fast PNG level; against scipy, float64 brute force and the image decoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

import seqcore_train.model.scoring as scoring
from seqcore_train.data.images import read_mask, write_png
from seqcore_train.model.geometry import Axis, resample_to_axes
from seqcore_train.model.scoring import gaussian_blur, maps_from_cells, nn_distances


def _scipy_map(cells: np.ndarray, size, axes, sigma: float) -> np.ndarray:
    """Bilinear from cell centres (held beyond the outer ones), then scipy's Gaussian filter."""
    rows = (np.arange(size[0]) - axes[0].offset) / axes[0].step
    cols = (np.arange(size[1]) - axes[1].offset) / axes[1].step
    grid = np.stack(np.meshgrid(rows, cols, indexing="ij"))
    resampled = ndimage.map_coordinates(cells, grid, order=1, mode="nearest")
    if sigma <= 0:
        return resampled
    # torch's "reflect" is scipy's "mirror"; the kernel's radius is int(4 sigma + 0.5)
    return ndimage.gaussian_filter(resampled, sigma=sigma, mode="mirror", truncate=4.0)


@pytest.mark.parametrize(
    "size, cells, axes, sigma",
    [
        ((512, 512), (64, 64), (Axis(8.0, 3.5), Axis(8.0, 3.5)), 4.0),
        ((333, 517), (42, 65), (Axis(8.0, 2.0), Axis(8.0, 4.25)), 2.0),
        ((100, 37), (7, 3), (Axis(16.0, 5.5), Axis(16.0, 9.0)), 4.0),
        ((64, 48), (8, 6), (Axis(8.0, 3.0), Axis(8.0, 3.0)), 0.0),
    ],
)
def test_maps_from_cells_equal_scipy_resample_and_blur(size, cells, axes, sigma):
    scores = torch.rand(2, *cells, generator=torch.Generator().manual_seed(sum(size))) * 20
    maps = maps_from_cells(scores, size, axes, sigma)
    assert maps.shape == (2, *size) and maps.dtype == torch.float32
    for i in range(2):
        expected = _scipy_map(scores[i].double().numpy(), size, axes, sigma)
        # float32 products of float64-composed operators: a few ulps of the largest score
        np.testing.assert_allclose(maps[i].numpy(), expected, rtol=0, atol=2e-5 * 20)


def test_maps_from_cells_on_tiny_maps_pad_by_replication_as_the_blur_does():
    """Maps narrower than the blur's radius cannot be reflected; both paths replicate the edge."""
    scores = torch.rand(3, 2, 3, generator=torch.Generator().manual_seed(7))
    axes = (Axis(8.0, 3.5), Axis(8.0, 3.5))
    direct = gaussian_blur(resample_to_axes(scores, axes, (Axis(), Axis()), (12, 20)), 4.0)
    ours = maps_from_cells(scores, (12, 20), axes, 4.0)
    assert torch.allclose(ours, direct, rtol=0, atol=1e-6)


def test_map_operators_are_cached_per_geometry():
    scores = torch.rand(1, 8, 8)
    axes = (Axis(8.0, 3.5), Axis(8.0, 3.5))
    maps_from_cells(scores, (64, 64), axes, 4.0)
    hits = scoring._map_operators.cache_info().hits
    maps_from_cells(scores * 2, (64, 64), axes, 4.0)
    assert scoring._map_operators.cache_info().hits == hits + 1
    maps_from_cells(scores, (64, 64), axes, 2.0)  # another sigma: another operator
    assert scoring._map_operators.cache_info().hits == hits + 1


def test_nn_distances_settle_near_ties_exactly_with_any_chunk_size():
    """Patches almost equidistant from several bank points (contested rows): the distance is the
    exact nearest one, whatever number of rows a product holds."""
    g = torch.Generator().manual_seed(11)
    bank = torch.randn(200, 32, generator=g, dtype=torch.float64) * 3 + 30
    centre = bank[10:].mean(dim=0)
    for k, (axis, sign) in enumerate([(0, 1), (0, -1), (1, 1), (1, -1)]):
        bank[k] = centre  # four points at distance 5 of the centre: patches near it tie closely
        bank[k, axis] += sign * 5.0
    patches = torch.cat(
        [
            centre + 1e-3 * torch.randn(50, 32, generator=g, dtype=torch.float64),
            bank[5:10],  # exact members: distance 0
            torch.randn(100, 32, generator=g, dtype=torch.float64) * 3 + 30,
        ]
    )
    exact = torch.cdist(patches, bank).min(dim=1).values  # float64 brute force
    bank32, patches32 = bank.float(), patches.float()
    results = [nn_distances(patches32, bank32, chunk_size=chunk) for chunk in (4096, 7, 1)]
    for result in results:
        # float32 inputs: distances of ~30 known to a few float32 ulps of the coordinates
        assert torch.allclose(result.double(), exact, rtol=0, atol=64 * 2.0**-23 * 32)
        assert torch.equal(result[50:55], torch.zeros(5))
    # the reported distance is computed from its pair alone, so the row split cannot change it
    assert torch.allclose(results[1], results[0], rtol=2.0**-22, atol=0)
    assert torch.allclose(results[2], results[0], rtol=2.0**-22, atol=0)


@pytest.mark.parametrize("level", [None, 0, 1, 9])
def test_write_png_levels_round_trip(tmp_path, level):
    rng = np.random.default_rng(0)
    image = (rng.random((37, 50)) * 255).astype(np.uint8)
    write_png(tmp_path / "a.png", image, level)
    assert np.array_equal(read_mask(tmp_path / "a.png"), image)
