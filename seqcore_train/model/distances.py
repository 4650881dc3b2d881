"""Euclidean distances two ways: fast (one matrix product) and exact (direct differences).

The matrix-product form |a|^2 + |b|^2 - 2 a.b is what makes coreset updates and scoring fast, but it
cancels badly when distances are small against the norms, and BLAS may round a row differently
depending on how many rows are in the product. Decisions that must be reproducible (the coreset's
"d_p > d_m", the score of a patch whatever the chunk size) therefore use the fast form only to
screen, with a rigorous rounding bound, and settle close calls with the exact form.
"""

from __future__ import annotations

import threading

import numpy as np
import torch

__all__ = [
    "exact_distances",
    "load_kernels_in_background",
    "pair_distances",
    "approx_sq_distances",
    "sq_norms",
    "unit_roundoff",
    "sq_error_bound",
]


def exact_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(Na, Nb) distances by direct differences; each entry depends only on its own pair of rows.

    On CPU a compiled kernel sums the squared differences in feature order without fused or
    reordered operations (exact_kernels.py): the same bits on every x86-64 CPU, and (i, j) equals
    (j, i). Elsewhere torch's cdist, which takes direct differences too.
    """
    if a.device.type == b.device.type == "cpu" and a.dtype == b.dtype in _KERNEL_DTYPES:
        from .exact_kernels import exact_distance_matrix  # numba: imported by the paths that fit

        a_np = np.ascontiguousarray(a.detach().numpy())
        b_t = np.ascontiguousarray(b.detach().numpy().T)
        out = np.empty((len(a_np), b_t.shape[1]), dtype=a_np.dtype)
        exact_distance_matrix(a_np, b_t, out)
        return torch.from_numpy(out)
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")


_KERNEL_DTYPES = (torch.float32, torch.float64)


def load_kernels_in_background() -> threading.Thread:
    """Import numba and load the compiled kernels (~1 s, once per process) beside other start-up work.

    A fit calls this first, so the load overlaps reading images and building the backbone; a
    kernel called before the load is done waits for it (numba's compile lock), nothing else.
    """

    def load() -> None:
        from .exact_kernels import warm_up

        warm_up()

    thread = threading.Thread(target=load, name="seqcore-kernel-load", daemon=True)
    thread.start()
    return thread


def pair_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N,) distances between row i of a and row i of b, by direct differences."""
    return (a - b).pow(2).sum(dim=1).sqrt()


def sq_norms(x: torch.Tensor) -> torch.Tensor:
    return (x * x).sum(dim=1)


def approx_sq_distances(
    a: torch.Tensor, b: torch.Tensor, a_sq: torch.Tensor, b_sq: torch.Tensor
) -> torch.Tensor:
    """(Na, Nb) squared distances by one matrix product (not clamped: may be slightly negative)."""
    return (a_sq[:, None] + b_sq[None, :]).addmm_(a, b.T, alpha=-2.0)


def unit_roundoff(dtype: torch.dtype, device: torch.device) -> float:
    """Unit roundoff of the matrix products on this device (TF32 on CUDA when it is switched on)."""
    if dtype == torch.float64:
        return 2.0**-53
    if device.type == "cuda" and dtype == torch.float32 and torch.backends.cuda.matmul.allow_tf32:
        return 2.0**-11
    if dtype == torch.float32:
        return 2.0**-24
    return float(torch.finfo(dtype).eps) / 2


def sq_error_bound(
    dim: int, max_norm_sum: float, dtype: torch.dtype, device: torch.device
) -> float:
    """Bound on |approx - true| squared distance for rows whose norms sum to at most max_norm_sum.

    Any summation order gives |fl(x.y) - x.y| <= gamma_n sum|x_i y_i| <= gamma_n |x||y| with
    gamma_n = n u / (1 - n u); the three norms/products and the two additions stay within
    gamma_{n+3} (|a| + |b|)^2. A factor 2 on top covers the hardware's fused or blocked variants.
    """
    nu = (dim + 3) * unit_roundoff(dtype, device)
    gamma = nu / (1.0 - nu)
    return 2.0 * gamma * max_norm_sum * max_norm_sum
