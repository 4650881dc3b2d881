"""Chunked 1-NN scoring and anomaly maps against brute force and scipy."""

from __future__ import annotations

import pytest
import torch
from scipy import ndimage

from seqcore_train.scoring import anomaly_maps, gaussian_blur, gaussian_kernel_size, nn_distances


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


def test_anomaly_maps_are_nearest_upsampled_distances_without_blur():
    g = _gen(2)
    bank = torch.randn(50, 16, generator=g)
    feats = torch.randn(2, 16, 4, 5, generator=g)
    maps = anomaly_maps(feats, bank, (32, 40), blur_sigma=0.0, chunk_size=3)
    dist = nn_distances(feats.permute(0, 2, 3, 1).reshape(-1, 16), bank).view(2, 4, 5)
    assert maps.shape == (2, 32, 40)
    assert torch.equal(maps, dist.repeat_interleave(8, dim=1).repeat_interleave(8, dim=2))


def test_anomaly_maps_identical_for_every_chunk_size():
    g = _gen(3)
    bank = torch.randn(80, 24, generator=g) + 5
    feats = torch.randn(3, 24, 8, 8, generator=g) + 5
    maps = [anomaly_maps(feats, bank, (64, 64), 2.0, chunk) for chunk in (1, 5, 64, 192, 4096)]
    for m in maps[1:]:
        assert torch.equal(m, maps[0])


def test_nn_distances_with_tied_and_duplicate_bank_points():
    # Integer lattice: many bank points at exactly the same distance from a patch, and duplicates.
    g = _gen(4)
    bank = torch.randint(0, 4, (200, 3), generator=g).float() * 10 + 100
    patches = torch.randint(0, 8, (500, 3), generator=g).float() * 5 + 100
    brute = torch.cdist(patches.double(), bank.double()).min(dim=1).values.float()
    for chunk in (1, 13, 500):
        assert torch.equal(nn_distances(patches, bank, chunk), brute)
