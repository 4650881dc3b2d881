"""The slow sequential reference (paper section IV, line by line) and the greedy k-center baseline.

`reference_sequential_coreset` exists to be obviously right, not fast: it recomputes D_M from
scratch after every replacement and scans for the closest pair. Tests hold the fast
`SequentialCoreset` to it, bit for bit. `greedy_kcenter` is PatchCore's original top-down coreset:
it needs every patch in memory at once, which is the cost the sequential algorithm removes.
"""

from __future__ import annotations

import math

import torch

from .distances import exact_distances, sq_norms

__all__ = ["reference_sequential_coreset", "greedy_kcenter"]


@torch.no_grad()
def reference_sequential_coreset(
    patches: torch.Tensor, size: int, bank: torch.Tensor | None = None, counts: dict | None = None
) -> torch.Tensor:
    """Stream `patches` (N, C) in order into a coreset of `size` points, starting from `bank`.

    `counts`, when given, receives the number of "additions" and "replacements".
    """
    counts = {} if counts is None else counts
    counts.update(additions=0, replacements=0)
    memory = [] if bank is None else [row.clone() for row in bank]
    dist = None
    for p in patches:
        if len(memory) < size:
            memory.append(p.clone())  # fill phase: every patch is added
            counts["additions"] += 1
            continue
        if size < 2:
            continue  # one point has no pair: d_m = +inf, nothing can exceed it
        stacked = torch.stack(memory)
        if dist is None:
            dist = exact_distances(stacked, stacked)
            dist.fill_diagonal_(math.inf)
        d_p = exact_distances(p[None], stacked).min()  # distance to the nearest coreset point
        d_m = dist.min()  # smallest distance within the coreset
        if d_p > d_m:
            # Closest pair (i, j), the first one in row-major order; replace the lower index min(i, j).
            i, j = (dist == d_m).nonzero()[0].tolist()
            memory[min(i, j)] = p.clone()
            counts["replacements"] += 1
            stacked = torch.stack(memory)
            dist = exact_distances(stacked, stacked)
            dist.fill_diagonal_(math.inf)
    if not memory:
        return patches.new_empty(0, patches.shape[1])
    return torch.stack(memory)


@torch.no_grad()
def greedy_kcenter(
    patches: torch.Tensor, size: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Top-down k-center greedy: start at a random patch, repeatedly add the farthest one."""
    n = len(patches)
    if n <= size:
        return patches.clone()
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    first = int(torch.randint(n, (1,), generator=generator))
    x_sq = sq_norms(patches)
    nearest = torch.full((n,), math.inf, dtype=patches.dtype, device=patches.device)
    chosen = torch.empty(size, dtype=torch.long, device=patches.device)
    chosen[0] = first
    last = first
    for i in range(1, size):
        center = patches[last]
        d = x_sq + x_sq[last] - 2.0 * (patches @ center)
        torch.minimum(nearest, d, out=nearest)
        nearest[last] = -math.inf  # chosen points never come back
        last = int(nearest.argmax())
        chosen[i] = last
    return patches[chosen].clone()
