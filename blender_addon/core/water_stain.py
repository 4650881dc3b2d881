"""Numpy reference of the paper's Algorithm 1 (water-stain generation), no bpy.

The node group in `nodes/water_stain.py` evaluates the same formulas with Blender's Voronoi (F1, jittered grid
with neighbour-cell search) and Noise (Perlin) textures. The jitter hash and the Perlin gradients here are
our own, so the two agree pixel for pixel only where they do not matter: amplitude A = 0 and jitter 0
(exact circles around the lattice points), which is what the render-vs-reference test uses. The seed offset
is plain float32 arithmetic that both sides compute identically.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = [
    "SEED_OFFSET_CELLS",
    "SEED_VECTOR",
    "StainParams",
    "WaterStainResult",
    "perlin_noise",
    "seed_offset_cells",
    "water_stain_reference",
]

# R3 low-discrepancy constants: seed k moves the stain lattice by fract(k * SEED_VECTOR) * 64 cells.
SEED_VECTOR = (0.8191725134, 0.6710436067, 0.5497004779)
SEED_OFFSET_CELLS = 64.0


@dataclass(frozen=True)
class StainParams:
    """Algorithm-1 parameters. Lengths in metres (plate object coordinates), frequency in 1/m.

    radius r, frequency f, amplitude A, gamma (decay), alpha (signed intensity), cell_size G; jitter in [0, 1]
    moves each lattice centre inside its cell; seed shifts the lattice; `center` (metres) switches to
    single-stain mode. `roughness` adds to the surface roughness towards the rim (our extension, 0 = off).
    """

    radius: float = 0.003
    frequency: float = 400.0
    amplitude: float = 0.0008
    gamma: float = 3.0
    alpha: float = -0.3
    cell_size: float = 0.012
    jitter: float = 1.0
    seed: int = 0
    center: tuple[float, float, float] | None = None
    roughness: float = 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["center"] = list(self.center) if self.center is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> StainParams:
        d = dict(d)
        if d.get("center") is not None:
            d["center"] = tuple(float(v) for v in d["center"])
        return cls(**d)


@dataclass(frozen=True)
class WaterStainResult:
    reflectance: np.ndarray  # (N, C) R_op
    mask: np.ndarray  # (N,) bool, d <= r'
    distance: np.ndarray  # (N,) d in metres
    radius: np.ndarray  # (N,) r' in metres
    cell: np.ndarray  # (N, 3) int64 lattice index of the nearest centre (grid mode)


def seed_offset_cells(seed: int) -> np.ndarray:
    """Lattice shift in cells, computed in float32 exactly as the node group's Math nodes do."""
    product = np.float32(seed) * np.asarray(SEED_VECTOR, dtype=np.float32)
    fract = product - np.floor(product)
    return (fract * np.float32(SEED_OFFSET_CELLS)).astype(np.float32)


def _hash01(cells: np.ndarray, salt: int) -> np.ndarray:
    """Deterministic per-cell uniform numbers in [0, 1) from integer cell coordinates (..., 3)."""
    h = cells.astype(np.uint64) * np.array([0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D], dtype=np.uint64)
    h = h[..., 0] ^ (h[..., 1] << np.uint64(7)) ^ (h[..., 2] << np.uint64(13)) ^ np.uint64(salt)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def perlin_noise(points: np.ndarray, seed: int = 0) -> np.ndarray:
    """Signed single-octave 3D gradient (Perlin) noise in about [-1, 1] at points (N, 3)."""
    base = np.floor(points).astype(np.int64)
    frac = points - base
    fade = frac * frac * frac * (frac * (frac * 6.0 - 15.0) + 10.0)
    total = np.zeros(len(points))
    for corner in np.ndindex(2, 2, 2):
        offset = np.array(corner)
        cell = base + offset
        theta = 2.0 * np.pi * _hash01(cell, seed + 1)
        z = 2.0 * _hash01(cell, seed + 2) - 1.0
        s = np.sqrt(1.0 - z * z)
        gradient = np.stack([s * np.cos(theta), s * np.sin(theta), z], axis=-1)
        dot = np.sum(gradient * (frac - offset), axis=-1)
        weight = np.prod(np.where(offset == 1, fade, 1.0 - fade), axis=-1)
        total += weight * dot
    return total * 1.5  # unit gradients give |n| <= ~0.87; scale to use about [-1, 1]


def water_stain_reference(
    points: np.ndarray, params: StainParams, reflectance_in: np.ndarray | float = 0.8
) -> WaterStainResult:
    """Algorithm 1 at surface points (N, 3) in metres.

    r' = r + Perlin(p, f) * A; d = |p - c| (single stain) or the distance to the nearest jittered lattice
    centre among the own and 26 neighbouring cells of size G; inside when d <= r';
    R_op = max(R_ip + (d / r')^gamma * alpha, 0) inside, R_ip outside.
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    n = len(points)
    reflectance = np.asarray(reflectance_in, dtype=np.float64)
    if reflectance.ndim == 1 and len(reflectance) == n:
        reflectance = reflectance[:, None]
    reflectance = np.broadcast_to(
        reflectance, (n, reflectance.shape[-1] if reflectance.ndim else 1)
    )
    grid = params.cell_size
    offset = seed_offset_cells(params.seed).astype(np.float64)
    scaled = points / grid + offset
    if params.amplitude != 0.0:
        noise = perlin_noise((points + offset * grid) * params.frequency, params.seed)
    else:
        noise = np.zeros(n)
    radius = params.radius + noise * params.amplitude
    cell = np.zeros((n, 3), dtype=np.int64)
    if params.center is not None:
        distance = np.linalg.norm(points - np.asarray(params.center, dtype=np.float64), axis=1)
    else:
        base = np.floor(scaled).astype(np.int64)
        neighbours = np.array(list(np.ndindex(3, 3, 3))) - 1  # (27, 3)
        cells = base[:, None, :] + neighbours[None]  # (N, 27, 3)
        jitter = np.stack([_hash01(cells, 100 + k) for k in range(3)], axis=-1)
        centres = cells + params.jitter * jitter  # (N, 27, 3) in cells
        dist_cells = np.linalg.norm(scaled[:, None, :] - centres, axis=-1)
        nearest = np.argmin(dist_cells, axis=1)
        distance = dist_cells[np.arange(n), nearest] * grid
        cell = cells[np.arange(n), nearest]
    mask = (distance <= radius) & (radius > 0)
    ratio = np.divide(distance, radius, out=np.zeros(n), where=radius > 0)
    change = np.where(mask, np.power(np.clip(ratio, 0.0, None), params.gamma) * params.alpha, 0.0)
    out = np.maximum(reflectance + change[:, None], 0.0)
    out = np.where(mask[:, None], out, reflectance)
    return WaterStainResult(out, mask, distance, radius, cell)
