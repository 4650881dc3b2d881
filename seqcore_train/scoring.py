"""Scoring: 1-NN distance of every patch to the bank, reassembled into anomaly maps.

Distances are computed a chunk of patches at a time, so memory is chunk x |M| whatever the image
size. The matrix product finds the candidates for the nearest point; the reported distance is the
exact one (direct differences) to the nearest of those, so a score does not depend on the chunk
size or on how BLAS happens to round a product of a given shape.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .distances import approx_sq_distances, pair_distances, sq_error_bound, sq_norms
from .geometry import Axis, resample_to_axes

__all__ = [
    "nn_distances",
    "cell_scores",
    "maps_from_cells",
    "anomaly_maps",
    "gaussian_blur",
    "gaussian_kernel_size",
]


@torch.no_grad()
def nn_distances(patches: torch.Tensor, bank: torch.Tensor, chunk_size: int = 2048) -> torch.Tensor:
    """(N,) distance from each patch (N, C) to its nearest bank point (M, C), on the bank's device."""
    if len(bank) == 0:
        raise ValueError("the coreset is empty; fit the model first")
    if patches.shape[-1] != bank.shape[1]:
        raise ValueError(f"patches have {patches.shape[-1]} features, the coreset {bank.shape[1]}")
    if chunk_size < 1:
        raise ValueError(f"chunk size must be >= 1, got {chunk_size}")
    patches = patches.to(device=bank.device, dtype=bank.dtype)
    bank_sq = sq_norms(bank)
    bank_norm_max = float(bank_sq.max().sqrt())
    out = torch.empty(len(patches), dtype=bank.dtype, device=bank.device)
    for lo in range(0, len(patches), chunk_size):
        x = patches[lo : lo + chunk_size]
        x_sq = sq_norms(x)
        s = approx_sq_distances(x, bank, x_sq, bank_sq)  # (chunk, M)
        best, nearest = s.min(dim=1)
        # Every point that may be the true nearest one, given the rounding bound of the product:
        # usually only the screened nearest; rows with a close second get all their contenders.
        bound = sq_error_bound(
            x.shape[1], float(x_sq.max().sqrt()) + bank_norm_max, x.dtype, x.device
        )
        limit = best + 2.0 * bound
        dist = pair_distances(x, bank[nearest])
        s.scatter_(1, nearest[:, None], math.inf)
        contested = (s.min(dim=1).values <= limit).nonzero().squeeze(1)
        if len(contested):
            rows, cols = (s[contested] <= limit[contested, None]).nonzero(as_tuple=True)
            rows = contested[rows]
            dist = dist.scatter_reduce(0, rows, pair_distances(x[rows], bank[cols]), reduce="amin")
        out[lo : lo + len(x)] = dist
    return out


def gaussian_kernel_size(sigma: float) -> int:
    """Odd size covering +-4 sigma: 17 for sigma 2 (the paper's 16, made odd so the map stays centred)."""
    return 2 * int(4.0 * sigma + 0.5) + 1


def gaussian_blur(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, H, W) maps with reflect padding (replicate on tiny maps)."""
    if sigma <= 0:
        return maps
    size = gaussian_kernel_size(sigma)
    radius = size // 2
    t = torch.arange(size, dtype=maps.dtype, device=maps.device) - radius
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    x = maps[:, None]
    h, w = maps.shape[-2:]
    mode = "reflect" if radius < h and radius < w else "replicate"
    x = F.pad(x, (radius, radius, 0, 0), mode=mode)
    x = F.conv2d(x, kernel.view(1, 1, 1, size))
    x = F.pad(x, (0, 0, radius, radius), mode=mode)
    x = F.conv2d(x, kernel.view(1, 1, size, 1))
    return x[:, 0]


@torch.no_grad()
def cell_scores(features: torch.Tensor, bank: torch.Tensor, chunk_size: int = 2048) -> torch.Tensor:
    """Features (B, C, h, w) -> (B, h, w) float32 distance of every cell to its nearest bank point."""
    b, c, h, w = features.shape
    patches = features.permute(0, 2, 3, 1).reshape(-1, c)
    return nn_distances(patches, bank, chunk_size).view(b, h, w).float()


def maps_from_cells(
    scores: torch.Tensor,
    image_size: tuple[int, int],
    cell_axes: tuple[Axis, Axis],
    blur_sigma: float = 2.0,
) -> torch.Tensor:
    """(B, h, w) cell scores -> (B, H, W) maps: each score placed at its cell's centre, bilinear
    between centres, then blurred. `cell_axes` (from the feature extractor) says where cells sit,
    so the map is not shifted against the image."""
    maps = resample_to_axes(scores, cell_axes, (Axis(), Axis()), tuple(image_size))
    return gaussian_blur(maps, blur_sigma)


@torch.no_grad()
def anomaly_maps(
    features: torch.Tensor,
    bank: torch.Tensor,
    image_size: tuple[int, int],
    cell_axes: tuple[Axis, Axis],
    blur_sigma: float = 2.0,
    chunk_size: int = 2048,
) -> torch.Tensor:
    """Features (B, C, h, w) -> anomaly maps (B, H, W): `cell_scores`, then `maps_from_cells`."""
    return maps_from_cells(
        cell_scores(features, bank, chunk_size), image_size, cell_axes, blur_sigma
    )
