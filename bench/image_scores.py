"""Image-score variants and coreset coverage, computed in the accuracy workers (bench only).

The product scores an image by its largest cell distance (`SeqPatchCore.predict`). anomalib's
PatchCore re-weights that maximum as the PatchCore paper does (eq. 7, `num_neighbors` = 9):
with m_test* the image's worst cell, m* its nearest bank point and N_b(m*) the b bank points
nearest to m* (m* itself included),

    s = (1 - softmax_j(||m_test* - n_j||)_{j = m*}) * ||m_test* - m*||,  n_j in N_b(m*).

`reweighted_scores` mirrors anomalib 2.7.0's `PatchcoreModel.compute_anomaly_score` so it can be
applied to any bank (SeqCore's sequential or greedy coreset) and compared on the same images.
`coverage` measures how far patches lie from their nearest bank point (the k-center radius when
the patches are the training ones).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["nearest_bank_points", "reweighted_scores", "coverage"]


@torch.no_grad()
def nearest_bank_points(
    patches: torch.Tensor, bank: torch.Tensor, k: int = 1, chunk: int = 4096
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, k) distances and indices of each patch's k nearest bank points (float32 cdist)."""
    bank = bank.float()
    dists, index = [], []
    for lo in range(0, len(patches), chunk):
        d = torch.cdist(patches[lo : lo + chunk].float(), bank)
        value, where = d.topk(k, dim=1, largest=False)
        dists.append(value)
        index.append(where)
    return torch.cat(dists), torch.cat(index)


@torch.no_grad()
def reweighted_scores(
    cells: torch.Tensor, bank: torch.Tensor, num_neighbors: int = 9
) -> dict[str, np.ndarray]:
    """Per image of `cells` (B, h*w, C): the max cell distance and the paper's re-weighted score.

    Returns {"max": (B,), "reweighted": (B,), "weight": (B,)} as float64 arrays.
    """
    b, n, c = cells.shape
    dist, index = nearest_bank_points(cells.reshape(-1, c), bank, 1)
    dist, index = dist.view(b, n), index.view(b, n)
    worst = dist.argmax(dim=1)
    rows = torch.arange(b)
    score = dist[rows, worst]
    anchor = bank[index[rows, worst]]  # m*
    k = min(num_neighbors, len(bank))
    _, support = nearest_bank_points(anchor, bank, k)  # N_b(m*), m* first
    query = cells[rows, worst].double()  # m_test*
    to_support = torch.linalg.vector_norm(bank[support].double() - query[:, None], dim=2)
    weight = 1.0 - torch.softmax(to_support, dim=1)[:, 0]
    return {
        "max": score.numpy(),
        "reweighted": (weight * score).numpy(),
        "weight": weight.numpy(),
    }


@torch.no_grad()
def coverage(patches: torch.Tensor, bank: torch.Tensor) -> dict[str, float]:
    """Distance of each patch to its nearest bank point: max (the coverage radius) and quantiles."""
    dist, _ = nearest_bank_points(patches, bank, 1)
    d = dist[:, 0].numpy()
    q = np.quantile(d, [0.5, 0.9, 0.99, 0.999])
    return {
        "patches": int(len(d)),
        "max": float(d.max()),
        "q50": float(q[0]),
        "q90": float(q[1]),
        "q99": float(q[2]),
        "q999": float(q[3]),
        "mean": float(d.mean()),
    }
