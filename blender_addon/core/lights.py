"""The inspection lights as geometry (no bpy): flat emissive bands of a polygon around the camera.

Radii are fractions of the camera distance. The mirror image of a light at camera height has half its
radius on the plate: 5..17.5 mm for hex at 0.25 m (a 40 mm view sees the whole band), and hex_x2, the
same light doubled in size, pushes the band to 10..35 mm. The camera's distance follows the view's
width (`core.camera.working_distance_m`), so every view shows the same share of the band.

The band does not shine evenly: like a diffuser over a row of LEDs it has an even glow with a narrow,
much brighter line along its middle (`emission_profile`). Its mirror image on the plate is then a
bright, unclipped field around a strip so over-exposed that a stain's darker rim still clips there
(paper, Appendix A: dark, bright and over-exposed fields, stains fading in the latter); the doubled
light's strip is twice as wide, so it over-exposes more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import SettingsError
from .look import EMISSION_GLOW, LIGHT_RADII, LINE_WIDTH
from .vocabulary import HEX, HEX_ROT90, HEX_X2, LIGHTS, RING

__all__ = [
    "EMISSION_EDGE",
    "LIGHT_RADII",
    "LIGHT_RINGS",
    "LINE_WIDTH",
    "SHAPES",
    "LightShape",
    "emission_profile",
    "light_geometry",
    "light_mesh",
]

LIGHT_RINGS = 17  # polygons across the band (the profile is linear between them)
EMISSION_EDGE = EMISSION_GLOW  # the even glow at the band's edges, relative to its middle


@dataclass(frozen=True)
class LightShape:
    sides: int
    scale: float = 1.0  # of LIGHT_RADII
    rotation: float = 0.0  # about Z, radians


SHAPES = {
    HEX: LightShape(6),
    HEX_ROT90: LightShape(6, rotation=math.pi / 2),
    HEX_X2: LightShape(6, scale=2.0),
    RING: LightShape(64),  # a polygon fine enough to pass for a circle
}


def light_geometry(kind: str, distance_m: float) -> tuple[int, float, float, float]:
    """(sides, inner circumradius, outer circumradius, rotation) of a light kind."""
    if kind not in SHAPES:
        raise SettingsError(f"unknown light {kind!r} (known: {', '.join(LIGHTS)})")
    shape = SHAPES[kind]
    inner, outer = (shape.scale * (r * distance_m) for r in LIGHT_RADII)
    return shape.sides, inner, outer, shape.rotation


def emission_profile(t: float) -> float:
    """Relative emission across the band, t = 0 at its inner edge, 1 at its outer: 1 in the middle,
    falling as a Gaussian of width LINE_WIDTH to the glow EMISSION_EDGE."""
    return EMISSION_EDGE + (1.0 - EMISSION_EDGE) * math.exp(-(((t - 0.5) / LINE_WIDTH) ** 2))


def light_mesh(kind: str, distance_m: float) -> tuple[list, list, list]:
    """(vertices, quads, emission) of the band: LIGHT_RINGS polygons from the inner to the outer one,
    each polygon's corners in turn, in the XY plane; emission per vertex (`emission_profile`)."""
    sides, inner, outer, rotation = light_geometry(kind, distance_m)
    angles = [rotation + 2 * math.pi * k / sides for k in range(sides)]
    verts, emission = [], []
    for ring in range(LIGHT_RINGS):
        t = ring / (LIGHT_RINGS - 1)
        radius = inner + (outer - inner) * t
        verts += [(radius * math.cos(a), radius * math.sin(a), 0.0) for a in angles]
        emission += [emission_profile(t)] * sides
    faces = [
        (r * sides + k, r * sides + (k + 1) % sides, (r + 1) * sides + (k + 1) % sides,
         (r + 1) * sides + k)
        for r in range(LIGHT_RINGS - 1)
        for k in range(sides)
    ]  # fmt: skip
    return verts, faces, emission
