"""Compiled CPU kernels (numba) for exact distances and the sequential coreset's replacement loop.

Exact distances sum (b_c - a_c)^2 over the features in order c = 0, 1, ..., with no reassociation
and no fused multiply-add (numba compiles without fast-math), so every entry is a fixed sequence
of IEEE operations: the same bits on every x86-64 CPU, whatever its vector width, and entry (i, j)
equals entry (j, i). The loops run over the bank's points in the innermost position (the bank is
kept transposed), which the compiler vectorises without changing any entry's order of operations.

`visit_chunk` is `SequentialCoreset._process_chunk`'s per-replacement loop in one compiled call:
~5 600 replacements of a brick fit cost ~1 s here against ~5.8 s as numpy/torch ops, whose fixed
overhead per call (5-90 us) dominated. Same rule, same decisions, same bits as the reference.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["exact_distance_matrix", "first_indices", "visit_chunk", "warm_up"]

_JIT = {"cache": True, "nogil": True}


@njit(**_JIT)
def _exact_sq_row(p, bank_t, n, out):
    """out[j] = sum_c (bank_t[c, j] - p[c])^2 for j < n, summed in order of c."""
    for j in range(n):
        out[j] = 0
    for c in range(p.shape[0]):
        pc = p[c]
        col = bank_t[c]
        for j in range(n):
            d = col[j] - pc
            out[j] += d * d


@njit(**_JIT)
def exact_distance_matrix(a, b_t, out):
    """out (Na, Nb) = distances between the rows of a and the columns of b_t (b transposed)."""
    n = b_t.shape[1]
    for i in range(a.shape[0]):
        row = out[i]
        _exact_sq_row(a[i], b_t, n, row)
        for j in range(n):
            row[j] = np.sqrt(row[j])


@njit(**_JIT)
def _approx_sq_row(p, p_sq, bank_t, sq, n, out):
    """out[j] = |p|^2 + |b_j|^2 - 2 p.b_j (screening only: any rounding within the bound)."""
    for j in range(n):
        out[j] = 0
    for c in range(p.shape[0]):
        pc = p[c]
        col = bank_t[c]
        for j in range(n):
            out[j] += col[j] * pc
    for j in range(n):
        out[j] = p_sq + sq[j] - 2 * out[j]


@njit(**_JIT)
def _first_min(values):
    """(index, value) of the first minimum, as numpy's and torch's argmin."""
    best, at = values[0], 0
    for j in range(1, values.shape[0]):
        if values[j] < best:
            best, at = values[j], j
    return at, best


@njit(**_JIT)
def first_indices(m, minima, out):
    """out[i] = the first j with m[i, j] == minima[i] (torch's amin is ~20x faster than its min
    with indices; this finishes the job in one early-exit scan per row)."""
    n = m.shape[1]
    for i in range(m.shape[0]):
        row, value, at = m[i], minima[i], 0
        while at < n - 1 and row[at] != value:
            at += 1
        out[i] = at


@njit(**_JIT)
def _replace(p, bank, bank_t, sq, dist, nn_val, nn_idx, row, redo):
    """p takes the place of the lower-index member of the closest pair; D_M and the NNs stay exact."""
    n = bank.shape[0]
    k, _ = _first_min(nn_val)  # the first row at d_m: lower index of the first closest pair
    sq[k] = 0
    for c in range(p.shape[0]):
        bank[k, c] = p[c]
        bank_t[c, k] = p[c]
        sq[k] += p[c] * p[c]  # |p|^2 only screens, with the bound: any order will do
    _exact_sq_row(p, bank_t, n, row)
    for j in range(n):
        row[j] = np.sqrt(row[j])
    row[k] = np.inf
    for j in range(n):
        dist[k, j] = row[j]
        dist[j, k] = row[j]
    count = 0
    for j in range(n):
        closer = row[j] < nn_val[j]
        if j == k or (nn_idx[j] == k and not closer):
            redo[count] = j  # its nearest point was the one replaced: full row minimum again
            count += 1
        elif closer:
            nn_val[j] = row[j]
            nn_idx[j] = k
    for i in range(count):
        j = redo[i]
        at, value = _first_min(dist[j])
        nn_idx[j] = at
        nn_val[j] = value
    return k


@njit(**_JIT)
def visit_chunk(
    x, x_t, x_sq, row_min, row_arg, bank, bank_t, sq, dist, nn_val, nn_idx,
    unit, rel, x_norm_max, bank_norm_max,
):  # fmt: skip
    """Visit a screened chunk's candidates in order; returns the number of replacements.

    row_min / row_arg hold each patch's screened squared distance to its nearest bank point (one
    matrix product by the caller); `unit` * (norm sum)^2 bounds the screening's rounding and
    `rel` * d_m^2 that of the exact path, so a patch replaces without an exact check only when its
    screened distance clears d_m^2 by more than both.
    """
    rows, n = x.shape[0], bank.shape[0]
    row = np.empty(n, dtype=bank.dtype)
    redo = np.empty(n, dtype=np.int64)
    col = np.empty(rows, dtype=x.dtype)
    replacements = 0
    pos = 0
    while pos < rows:
        _, d_m32 = _first_min(nn_val)
        d_m = float(d_m32)
        d_m2 = d_m * d_m
        norm_sum = x_norm_max + bank_norm_max
        margin = unit * norm_sum * norm_sum + rel * d_m2
        low, high = d_m2 - margin, d_m2 + margin
        r = -1
        for c in range(pos, rows):
            screened = float(row_min[c])
            if screened <= low:
                continue
            if screened > high:
                r = c
                break
            # Close call: is x[c] farther than d_m from every bank point (exact distances)?
            _exact_sq_row(x[c], bank_t, n, row)
            _, nearest = _first_min(row)
            if np.sqrt(nearest) > d_m32:
                r = c
                break
        if r < 0:
            return replacements
        k = _replace(x[r], bank, bank_t, sq, dist, nn_val, nn_idx, row, redo)
        replacements += 1
        bank_norm_max = max(bank_norm_max, math.sqrt(float(sq[k])))
        pos = r + 1
        # Column update for the rows still to come: their screened distance to the new point k.
        for i in range(pos, rows):
            col[i] = 0
        for c in range(x_t.shape[0]):
            pc = bank[k, c]
            xc = x_t[c]
            for i in range(pos, rows):
                col[i] += xc[i] * pc
        for i in range(pos, rows):
            value = x_sq[i] + sq[k] - 2 * col[i]
            if value < row_min[i]:
                row_min[i] = value
                row_arg[i] = k
            elif row_arg[i] == k:  # its nearest point was the one replaced: full row minimum
                _approx_sq_row(x[i], x_sq[i], bank_t, sq, n, row)
                at, best = _first_min(row)
                row_min[i] = best
                row_arg[i] = at
    return replacements


def warm_up() -> int:
    """Load (or, the first time, compile) the float32 kernels by running them once on tiny inputs.

    Three bank points 5 apart and a far patch screened as a close call: the exact path decides, and
    the patch replaces point 0 (returns the number of replacements, 1).
    """
    f32 = np.float32
    bank = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]], dtype=f32)
    bank_t = np.ascontiguousarray(bank.T)
    dist = np.empty((3, 3), dtype=f32)
    exact_distance_matrix(bank, bank_t, dist)
    np.fill_diagonal(dist, np.inf)
    nn_idx = dist.argmin(axis=1).astype(np.int64)
    nn_val = dist[np.arange(3), nn_idx]
    sq = (bank * bank).sum(axis=1)
    x = np.array([[100.0, 0.0], [1.0, 1.0]], dtype=f32)
    x_sq = (x * x).sum(axis=1)
    row_min = np.array([25.0, 2.0], dtype=f32)  # screened: at d_m^2 (a close call), then near
    row_arg = np.zeros(2, dtype=np.int64)
    first_indices(dist, nn_val, np.empty(3, dtype=np.int64))
    chunk = (x, np.ascontiguousarray(x.T), x_sq, row_min, row_arg)
    state = (bank, bank_t, sq, dist, nn_val, nn_idx)
    return visit_chunk(*chunk, *state, 0.0, 0.01, 0.0, 0.0)
