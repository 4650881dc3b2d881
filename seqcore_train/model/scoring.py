"""Scoring: 1-NN distance of every patch to the bank, reassembled into anomaly maps.

Distances are computed a chunk of patches at a time, so memory is chunk x |M| whatever the image
size. The matrix product finds the candidates for the nearest point; the reported distance is the
exact one (direct differences) to the nearest of those, so a score does not depend on the chunk
size or on how BLAS happens to round a product of a given shape.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from .distances import pair_distances, sq_error_bound, sq_norms
from .geometry import Axis, interpolate_axis

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
    bank_t = bank.T
    out = torch.empty(len(patches), dtype=bank.dtype, device=bank.device)
    for lo in range(0, len(patches), chunk_size):
        x = patches[lo : lo + chunk_size]
        # |b|^2 - 2 x.b in one fused product: the squared distance less |x|^2, which is the same
        # along a row, so it moves neither the nearest point nor the gaps between contenders.
        s = torch.addmm(bank_sq, x, bank_t, alpha=-2.0)  # (chunk, M)
        # Every point that may be the true nearest one, given the rounding bound of the product
        # (which covers this form too): usually only the screened nearest, sometimes a few more.
        bound = sq_error_bound(
            x.shape[1], float(sq_norms(x).max().sqrt()) + bank_norm_max, x.dtype, x.device
        )
        limit = s.amin(dim=1) + 2.0 * bound
        rows, cols = (s <= limit[:, None]).nonzero(as_tuple=True)
        del s
        exact = pair_distances(x[rows], bank[cols])
        dist = torch.full((len(x),), math.inf, dtype=out.dtype, device=out.device)
        out[lo : lo + len(x)] = dist.scatter_reduce_(0, rows, exact, reduce="amin")
    return out


def gaussian_kernel_size(sigma: float) -> int:
    """Odd size covering +-4 sigma: 17 for sigma 2 (the paper's 16, made odd so the map stays centred)."""
    return 2 * int(4.0 * sigma + 0.5) + 1


def _gaussian_kernel(sigma: float, dtype: torch.dtype, device) -> torch.Tensor:
    size = gaussian_kernel_size(sigma)
    t = torch.arange(size, dtype=dtype, device=device) - size // 2
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    return kernel / kernel.sum()


def _pad_mode(radius: int, height: int, width: int) -> str:
    return "reflect" if radius < height and radius < width else "replicate"


def gaussian_blur(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, H, W) maps with reflect padding (replicate on tiny maps)."""
    if sigma <= 0:
        return maps
    kernel = _gaussian_kernel(sigma, maps.dtype, maps.device)
    size = len(kernel)
    radius = size // 2
    x = maps[:, None]
    mode = _pad_mode(radius, *maps.shape[-2:])
    x = F.pad(x, (radius, radius, 0, 0), mode=mode)
    x = F.conv2d(x, kernel.view(1, 1, 1, size))
    x = F.pad(x, (0, 0, radius, radius), mode=mode)
    x = F.conv2d(x, kernel.view(1, 1, size, 1))
    return x[:, 0]


def _blur_columns(matrix: torch.Tensor, sigma: float, mode: str) -> torch.Tensor:
    """`gaussian_blur` along one axis applied to each column of (N, n) `matrix`: the blur's own
    (N, N) matrix times `matrix`, without forming the former."""
    kernel = _gaussian_kernel(sigma, matrix.dtype, matrix.device)
    radius = len(kernel) // 2
    signals = F.pad(matrix.T[:, None], (radius, radius), mode=mode)  # (n, 1, N + 2 radius)
    return F.conv1d(signals, kernel.view(1, 1, -1))[:, 0].T


@functools.lru_cache(maxsize=16)
def _map_operators(
    size: tuple[int, int],
    cells: tuple[int, int],
    cell_axes: tuple[Axis, Axis],
    sigma: float,
    dtype: torch.dtype,
    device: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows (H, h), columns (W, w)): per axis, resampling from cell centres to pixels followed by
    the blur, composed into one matrix in float64 and rounded once to `dtype`."""
    radius = gaussian_kernel_size(sigma) // 2
    mode = _pad_mode(radius, *size)
    operators = []
    for axis, n, length in zip(cell_axes, cells, size, strict=True):
        identity = torch.eye(n, dtype=torch.float64)
        # row p: the weights of the cells that pixel p is interpolated from (as resample_to_axes)
        matrix = interpolate_axis(identity, 0, axis.positions_of(Axis().centres(length)))
        if sigma > 0:
            matrix = _blur_columns(matrix, sigma, mode)
        operators.append(matrix.to(device=device, dtype=dtype))
    return operators[0], operators[1]


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
    so the map is not shifted against the image.

    Resampling and blur are both linear and separable, so each axis is one (pixels x cells) matrix
    and a map is `rows @ scores @ columns.T`: two small matrix products instead of two gathers, two
    padded copies and two convolutions over the full-size map. The result equals resampling and
    then `gaussian_blur` up to float rounding (the matrices are composed in float64).
    """
    size = (int(image_size[0]), int(image_size[1]))
    cells = (int(scores.shape[-2]), int(scores.shape[-1]))
    rows, cols = _map_operators(
        size, cells, tuple(cell_axes), float(blur_sigma), scores.dtype, str(scores.device)
    )
    return rows @ scores @ cols.T


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
