"""Chunked 1-NN scoring and anomaly maps against brute force and scipy."""

from __future__ import annotations

import pytest
import torch
from scipy import ndimage

from seqcore_train.model.geometry import Axis
from seqcore_train.model.scoring import (
    anomaly_maps,
    gaussian_blur,
    gaussian_kernel_size,
    nn_distances,
)

F32_ULP = 2.0**-23  # relative spacing of float32 numbers in [1, 2)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def test_nn_distances_match_brute_force_and_do_not_depend_on_chunk_size():
    g = _gen(0)
    bank = torch.randn(300, 64, generator=g) * 4 + 20  # large norms: the matrix product cancels
    patches = torch.randn(1000, 64, generator=g) * 4 + 20
    patches[:5] = bank[10:15]
    brute = torch.cdist(patches.double(), bank.double()).min(dim=1).values
    results = [nn_distances(patches, bank, chunk) for chunk in (1, 7, 256, 1000, 5000)]
    for result in results:
        assert torch.equal(result, results[0])
    assert torch.allclose(results[0].double(), brute, rtol=1e-6, atol=1e-5)
    assert torch.equal(results[0][:5], torch.zeros(5))  # exact zero for a patch in the bank


def test_nn_distances_reject_bad_input():
    with pytest.raises(ValueError, match="empty"):
        nn_distances(torch.zeros(3, 4), torch.zeros(0, 4))
    with pytest.raises(ValueError, match="features"):
        nn_distances(torch.zeros(3, 4), torch.zeros(2, 5))


def test_blur_matches_scipy_reflect():
    g = _gen(1)
    maps = torch.rand(2, 40, 50, generator=g, dtype=torch.float64)
    ours = gaussian_blur(maps, 2.0)
    assert gaussian_kernel_size(2.0) == 17
    for i in range(2):
        # scipy's "mirror" is torch's "reflect" (edge sample not repeated); radius int(4 sigma + 0.5)
        expected = ndimage.gaussian_filter(maps[i].numpy(), sigma=2.0, mode="mirror", truncate=4.0)
        assert torch.allclose(ours[i], torch.from_numpy(expected), atol=1e-12)


def test_anomaly_maps_put_each_distance_at_its_cell_centre_without_blur():
    """Without blur, the map is the cell distances placed at the cell centres and interpolated
    bilinearly between them (held constant beyond the outer centres), as scipy's map_coordinates."""
    g = _gen(2)
    bank = torch.randn(50, 16, generator=g)
    feats = torch.randn(2, 16, 4, 5, generator=g)
    axes = (Axis(8.0, 3.0), Axis(8.0, 6.0))
    maps = anomaly_maps(feats, bank, (32, 40), axes, blur_sigma=0.0, chunk_size=3)
    dist = nn_distances(feats.permute(0, 2, 3, 1).reshape(-1, 16), bank).view(2, 4, 5)
    assert maps.shape == (2, 32, 40)
    assert torch.allclose(maps[:, 3::8, 6::8][:, :4, :5], dist, rtol=4 * F32_ULP)
    rows = (torch.arange(32.0) - 3.0) / 8.0
    cols = (torch.arange(40.0) - 6.0) / 8.0
    grid = torch.stack(torch.meshgrid(rows, cols, indexing="ij")).numpy()
    for i in range(2):
        expected = ndimage.map_coordinates(dist[i].double().numpy(), grid, order=1, mode="nearest")
        assert torch.allclose(maps[i].double(), torch.from_numpy(expected), rtol=1e-6, atol=1e-6)


def test_anomaly_maps_identical_for_every_chunk_size():
    g = _gen(3)
    bank = torch.randn(80, 24, generator=g) + 5
    feats = torch.randn(3, 24, 8, 8, generator=g) + 5
    axes = (Axis(8.0, 3.5), Axis(8.0, 3.5))
    maps = [
        anomaly_maps(feats, bank, (64, 64), axes, 2.0, chunk) for chunk in (1, 5, 64, 192, 4096)
    ]
    for m in maps[1:]:
        assert torch.equal(m, maps[0])


def test_nn_distances_with_tied_and_duplicate_bank_points():
    # Integer lattice: many bank points at exactly the same distance from a patch, and duplicates.
    g = _gen(4)
    bank = torch.randint(0, 4, (200, 3), generator=g).float() * 10 + 100
    patches = torch.randint(0, 8, (500, 3), generator=g).float() * 5 + 100
    brute = torch.cdist(patches.double(), bank.double()).min(dim=1).values
    results = [nn_distances(patches, bank, chunk) for chunk in (1, 13, 500)]
    for result in results:
        assert torch.equal(
            result, results[0]
        )  # one code path, one machine: chunking changes nothing
    # Against float64 brute force: within 2 float32 ulps (a float32 sqrt may round either way).
    assert torch.allclose(results[0].double(), brute, rtol=2 * F32_ULP, atol=0)
