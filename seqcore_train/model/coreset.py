"""Sequential coreset (paper section IV): a fixed-size memory bank that streams over the patches.

Rule, applied to every patch p in order:
  * while the bank holds fewer than |M| points, p is appended (an *addition*);
  * once full, let d_p be the distance from p to its nearest bank point and d_m = min_{i != j} D_M[i, j]
    the smallest distance inside the bank; if d_p > d_m (strictly) p replaces the lower-index member of
    the closest pair (a *replacement*). Ties between equally close pairs go to the pair whose lower
    index is smallest, i.e. the first row of D_M whose nearest-neighbour distance equals d_m.
  * A bank of one point has no pair, d_m = +inf, and is never replaced.

The fast implementation keeps D_M (inf on the diagonal) and every row's nearest neighbour. A chunk of
patches is screened against the bank with one matrix product; only candidates (possibly d_p > d_m)
are visited one by one, in order, and after a replacement only the chunk's distances to the new point
(a column) and the affected rows of D_M are recomputed. Memory is O(|M|^2 + chunk |M|) whatever the data set size.
Distances that decide anything are exact (direct differences, see distances.py), so the result is
identical to `reference_sequential_coreset` on the same patch order. On CPU the candidates' loop
runs as one compiled call (`exact_kernels.visit_chunk`): the same steps without the fixed overhead
of ~20 small torch ops per replacement.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..devices import resolve_device
from ..model_defaults import CHUNK_SIZE, CORESET_SIZE
from .coreset_baselines import greedy_kcenter, reference_sequential_coreset
from .distances import approx_sq_distances, exact_distances, sq_error_bound, sq_norms

__all__ = [
    "EpochStats",
    "SequentialCoreset",
    "reference_sequential_coreset",
    "greedy_kcenter",
    "meld",
]


@dataclass
class EpochStats:
    """What one pass over the data did to the bank (additions are fills of an unfull bank)."""

    epoch: int
    patches: int
    replacements: int
    d_m: float
    seconds: float
    additions: int = 0
    size: int = 0

    @property
    def changes(self) -> int:
        return self.replacements + self.additions


class SequentialCoreset:
    """Streaming coreset of at most `size` points; `update` feeds patches in order."""

    def __init__(
        self, size: int = CORESET_SIZE, chunk_size: int = CHUNK_SIZE, device="cpu", bank=None
    ):
        if size < 1:
            raise ValueError(f"coreset size must be >= 1, got {size}")
        if chunk_size < 1:
            raise ValueError(f"chunk size must be >= 1, got {chunk_size}")
        self.size = int(size)
        self.chunk_size = int(chunk_size)
        self.device = resolve_device(device)
        self.additions = 0
        self.replacements = 0
        self._points: torch.Tensor | None = None  # (size, C), rows [0, n) in use
        self._sq: torch.Tensor | None = None  # (size,) squared norms of the points
        self._n = 0
        self._dist: torch.Tensor | None = None  # D_M (size, size), only once full
        self._nn_val: torch.Tensor | None = None  # (size,) nearest other point's distance
        self._nn_idx: torch.Tensor | None = None
        self._bank_t: np.ndarray | None = None  # the compiled loop's transposed bank, kept in step
        self.use_kernel = True  # CPU: the compiled loop (exact_kernels); False: torch ops
        if bank is not None:
            bank = torch.as_tensor(bank)
            if bank.ndim != 2:
                raise ValueError(f"bank must be (n, C), got shape {tuple(bank.shape)}")
            if len(bank) > self.size:
                raise ValueError(
                    f"bank has {len(bank)} points but the coreset size is {self.size}; "
                    "meld it into the smaller size instead"
                )
            if len(bank):
                self._append(bank.to(self.device))
            self.additions = 0

    # -- state -------------------------------------------------------------------------------
    @property
    def bank(self) -> torch.Tensor:
        """(n, C) the current points (a view; clone before changing it)."""
        if self._points is None:
            return torch.empty(0, 0)
        return self._points[: self._n]

    @property
    def d_m(self) -> float:
        """Smallest distance between two bank points (+inf while not full or with one point)."""
        if self._nn_val is None:
            return math.inf
        return float(self._nn_val.min())

    @property
    def full(self) -> bool:
        return self._n == self.size

    def __len__(self) -> int:
        return self._n

    # -- feeding -----------------------------------------------------------------------------
    @torch.no_grad()
    def update(self, patches: torch.Tensor) -> int:
        """Feed (N, C) patches in order; returns how many changed the bank (additions + replacements)."""
        if patches.ndim != 2:
            raise ValueError(f"patches must be (N, C), got shape {tuple(patches.shape)}")
        if self._points is not None and patches.shape[1] != self._points.shape[1]:
            raise ValueError(
                f"patches have {patches.shape[1]} features, the coreset {self._points.shape[1]}"
            )
        if len(patches) == 0:
            return 0
        if not bool(torch.isfinite(patches).all()):
            raise ValueError("patches contain NaN or infinite values")
        dtype = self._points.dtype if self._points is not None else _work_dtype(patches.dtype)
        patches = patches.to(device=self.device, dtype=dtype)
        before = self.additions + self.replacements
        start = 0
        if self._n < self.size:
            start = min(self.size - self._n, len(patches))
            self._append(patches[:start])
        if self.full and self.size > 1:
            for lo in range(start, len(patches), self.chunk_size):
                self._process_chunk(patches[lo : lo + self.chunk_size])
        return self.additions + self.replacements - before

    def _append(self, points: torch.Tensor) -> None:
        if self._points is None:
            dtype = _work_dtype(points.dtype)
            self._points = torch.empty(self.size, points.shape[1], dtype=dtype, device=self.device)
            self._sq = torch.empty(self.size, dtype=dtype, device=self.device)
        count = len(points)
        self._points[self._n : self._n + count] = points
        self._sq[self._n : self._n + count] = sq_norms(self._points[self._n : self._n + count])
        self._n += count
        self.additions += count
        self._bank_t = None
        if self.full and self.size > 1:
            self._dist = _exact_self_distances(self._points)
            self._dist.fill_diagonal_(math.inf)
            self._nn_val, self._nn_idx = self._dist.min(dim=1)

    def _process_chunk(self, x: torch.Tensor) -> None:
        """Visit the chunk's candidates in order; everything else is settled by one matrix product."""
        points, dim = self._points, x.shape[1]
        x_sq = sq_norms(x)
        # Screened squared distances to the bank; only each row's minimum is kept up to date.
        screened = approx_sq_distances(x, points, x_sq, self._sq)
        x_norm_max = float(x_sq.max().sqrt())
        bank_norm_max = float(self._sq.max().sqrt())
        rel = 8.0 * (dim + 4) * torch.finfo(x.dtype).eps  # rounding of d_m^2 and of the exact path
        if self.use_kernel and x.device.type == "cpu":
            self._visit_compiled(x, x_sq, screened, x_norm_max, bank_norm_max, rel)
            return
        row_min, row_arg = screened.min(dim=1)
        pos, rows = 0, len(x)
        while pos < rows:
            bound = sq_error_bound(dim, x_norm_max + bank_norm_max, x.dtype, x.device)
            d_m = self._nn_val.min()
            d_m2 = float(d_m) ** 2
            margin = bound + rel * d_m2
            # Rows whose screened minimum is clearly <= d_m cannot replace; the rest are candidates.
            # Until one of them replaces, nothing changes, so they are all judged against this d_m.
            candidates = (row_min[pos:] > d_m2 - margin).nonzero().squeeze(1) + pos
            if len(candidates) == 0:
                return
            r = -1
            for r, screened in zip(candidates.tolist(), row_min[candidates].tolist(), strict=True):
                if screened > d_m2 + margin or self._beats_exactly(x, x_sq, r, d_m, d_m2 + margin):
                    break
            else:
                return
            k = self._replace(x[r])
            bank_norm_max = max(bank_norm_max, float(self._sq[k].sqrt()))
            pos = r + 1
            if pos == rows:
                return
            # Column update for the rows still to come: their distance to the new point k.
            col = torch.addmv(x_sq[pos:], x[pos:], points[k], alpha=-2.0).add_(self._sq[k])
            rest_min, rest_arg = row_min[pos:], row_arg[pos:]
            lost = rest_arg == k
            closer = col < rest_min
            torch.minimum(rest_min, col, out=rest_min)
            rest_arg.masked_fill_(closer, k)
            redo = (lost & ~closer).nonzero().squeeze(1)
            if len(redo):  # their nearest point was the one replaced: full row minimum again
                fresh = approx_sq_distances(x[pos + redo], points, x_sq[pos + redo], self._sq)
                rest_min[redo], rest_arg[redo] = fresh.min(dim=1)

    def _beats_exactly(self, x, x_sq, r: int, d_m, reach: float) -> bool:
        """Close call: is x[r] farther than d_m from every bank point (exact distances)?"""
        points = self._points
        screened_row = approx_sq_distances(x[r : r + 1], points, x_sq[r : r + 1], self._sq)
        near = (screened_row[0] <= reach).nonzero().squeeze(1)
        # (No point left within reach of the bound means every one is farther than d_m.)
        return len(near) == 0 or bool(exact_distances(x[r : r + 1], points[near]).min() > d_m)

    def _visit_compiled(self, x, x_sq, screened, x_norm_max, bank_norm_max, rel) -> None:
        """`_process_chunk`'s loop as one compiled call on numpy views of the same memory (CPU only)."""
        from .exact_kernels import first_indices, visit_chunk

        row_min = screened.amin(dim=1)
        row_arg = np.empty(len(x), dtype=np.int64)
        first_indices(screened.numpy(), row_min.numpy(), row_arg)
        x_np = np.ascontiguousarray(x.detach().numpy())
        points = self._points.numpy()
        if self._bank_t is None:
            self._bank_t = np.ascontiguousarray(points.T)
        unit = sq_error_bound(x.shape[1], 1.0, x.dtype, x.device)  # scales as norm_sum ** 2
        self.replacements += visit_chunk(
            x_np, np.ascontiguousarray(x_np.T), x_sq.numpy(), row_min.numpy(), row_arg,
            points, self._bank_t, self._sq.numpy(), self._dist.numpy(),
            self._nn_val.numpy(), self._nn_idx.numpy(), unit, rel, x_norm_max, bank_norm_max,
        )  # fmt: skip

    def _replace(self, p: torch.Tensor) -> int:
        """Put p in place of the lower-index member of the closest pair; keep D_M and the NNs exact."""
        # The first row at d_m is the lower index of the first closest pair (see the module doc).
        k = int(self._nn_val.argmin())
        points, dist, nn_val, nn_idx = self._points, self._dist, self._nn_val, self._nn_idx
        points[k] = p
        self._bank_t = None
        self._sq[k] = (p * p).sum()
        row = exact_distances(p[None], points)[0]
        row[k] = math.inf
        dist[k, :] = row
        dist[:, k] = row
        lost = nn_idx == k
        closer = row < nn_val
        torch.minimum(nn_val, row, out=nn_val)
        nn_idx.masked_fill_(closer, k)
        redo = lost & ~closer
        redo[k] = True
        idx = redo.nonzero().squeeze(1)
        nn_val[idx], nn_idx[idx] = dist[idx].min(dim=1)
        self.replacements += 1
        return k


def _exact_self_distances(points: torch.Tensor, block: int = 256) -> torch.Tensor:
    """exact_distances(points, points), computing only the upper triangle: half the work.

    Entry (i, j) is a sum over |a - b|^2 of its own two rows, so (j, i) has the same bits (which
    the column writes of `_replace` rely on as well).
    """
    n = len(points)
    dist = points.new_empty(n, n)
    for lo in range(0, n, block):
        part = exact_distances(points[lo : lo + block], points[lo:])
        dist[lo : lo + block, lo:] = part
        dist[lo:, lo : lo + block] = part.T
    return dist


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    """Keep float64 when given (exactness tests), otherwise work in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def meld(
    banks: Sequence[torch.Tensor],
    size: int,
    epochs: int = 5,
    generator: torch.Generator | None = None,
    chunk_size: int = CHUNK_SIZE,
    device="cpu",
) -> torch.Tensor:
    """Feed the points of several coresets through the same algorithm into one bank of `size`.

    The first epoch keeps the given order, so the first bank fills the target and the others only
    enter where they widen its coverage (transfer, paper section IV); later epochs shuffle with
    `generator` (seed 0 when none is given) and the loop stops early at an epoch without changes.
    """
    banks = [torch.as_tensor(b) for b in banks if len(b)]
    if not banks:
        raise ValueError("meld needs at least one non-empty coreset")
    dims = {b.shape[1] for b in banks}
    if len(dims) != 1:
        raise ValueError(f"coresets to meld have different feature sizes: {sorted(dims)}")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    dtype = torch.float64 if any(b.dtype == torch.float64 for b in banks) else torch.float32
    points = torch.cat([b.to("cpu", dtype) for b in banks])
    coreset = SequentialCoreset(size=size, chunk_size=chunk_size, device=device)
    for epoch in range(max(1, epochs)):
        order = (
            torch.arange(len(points))
            if epoch == 0
            else torch.randperm(len(points), generator=generator)
        )
        if coreset.update(points[order]) == 0:
            break
    return coreset.bank.clone()
