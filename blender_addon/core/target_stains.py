"""Water stains of the target domain (no bpy): drawn from another model than Algorithm 1.

Real stains "exhibit heterogeneity within the outline" and have darker edges (paper, section III and
Discussion). The synthetic domain's stains are Algorithm 1's (a reflectance change growing towards a
Perlin-perturbed circle); the target domain, the stand-in for the camera images, draws its stains as
residue films (`defect_params.ResidueStainParams`): wobbly outlines, rims of varying width, inner
residue rings and a patchy interior. A model trained on Algorithm-1 stains is thus tested on stains
it has not seen the like of, as the paper's Synth_WS models were.

They are instances of class water_stain in the sample's defect list, rasterised with the defects,
so their masks come from the same render as the defects' masks.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .defect_params import InstanceSpec, ResidueStainParams
from .defect_raster import footprint
from .defects import footprint_distance
from .look import STAIN_FILM_COVER, STAIN_RESIDUE_GREY, STAIN_RIM_COVER

__all__ = ["STAIN_COUNT", "STAIN_RADIUS_MM", "draw_residue_stain", "place_residue_stains"]

STAIN_COUNT = (1, 4)  # stains per plate view region
STAIN_RADIUS_MM = (1.0, 4.0)

_MIN_GAP_MM = 0.3


def draw_residue_stain(rng: np.random.Generator) -> ResidueStainParams:
    """One stain centred at the origin."""
    wobble = []
    for k in range(2, 6):
        wobble += [float(rng.uniform(0.0, 0.12 / (k - 1))), float(rng.uniform(0, 2 * np.pi))]
    rings = tuple(
        (float(rng.uniform(0.45, 0.85)), float(rng.uniform(0.02, 0.06)),
         float(rng.uniform(0.1, 0.35)))
        for _ in range(int(rng.integers(0, 3)))
    )  # fmt: skip
    grey = rng.uniform(*STAIN_RESIDUE_GREY)
    return ResidueStainParams(
        center_mm=(0.0, 0.0),
        radius_mm=float(rng.uniform(*STAIN_RADIUS_MM)),
        aspect=float(rng.uniform(0.7, 1.0)),
        angle=float(rng.uniform(0, np.pi)),
        wobble=tuple(wobble),
        rim_width=(
            float(rng.uniform(0.06, 0.2)),
            float(rng.uniform(0.2, 0.7)),
            float(rng.uniform(0, 2 * np.pi)),
        ),
        rim_alpha=float(rng.uniform(*STAIN_RIM_COVER)),
        rings=rings,
        film_alpha=float(rng.uniform(*STAIN_FILM_COVER)),
        residue_color=(float(grey), float(grey * 0.95), float(grey * 0.85)),
        roughness_delta=float(rng.uniform(0.05, 0.2)),
        seed=int(rng.integers(0, 2**31 - 1)),
    )


def place_residue_stains(
    rng: np.random.Generator, others: list, view_rect_mm, tries: int = 48
) -> list[InstanceSpec]:
    """STAIN_COUNT stains with their centres in `view_rect_mm`, clear of `others` (InstanceSpecs)
    and of each other; a stain that finds no free spot is dropped."""
    x0, y0, x1, y1 = view_rect_mm
    taken = [footprint(spec) for spec in others]
    placed = []
    for _ in range(int(rng.integers(STAIN_COUNT[0], STAIN_COUNT[1] + 1))):
        shape = draw_residue_stain(rng)
        for _ in range(tries):
            centre = (float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1)))
            spec = InstanceSpec("water_stain", replace(shape, center_mm=centre))
            disc = footprint(spec)
            if all(footprint_distance(disc, d) >= _MIN_GAP_MM for d in taken):
                placed.append(spec)
                taken.append(disc)
                break
    return placed
