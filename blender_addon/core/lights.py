"""The inspection lights as geometry (no bpy): flat emissive bands of a polygon around the camera.

Radii are fractions of the camera distance. The mirror image of a light at camera height has half its
radius on the plate: 6..14 mm for hex at 0.25 m (a 40 mm view sees the whole band), and hex_x2 pushes
the band to 12..28 mm, filling the view with more bright (overexposed) field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import SettingsError
from .vocabulary import HEX, HEX_ROT90, HEX_X2, LIGHTS, RING

__all__ = ["LIGHT_RADII", "SHAPES", "LightShape", "light_geometry", "light_mesh"]

LIGHT_RADII = (0.05, 0.11)  # inner, outer circumradius per metre of camera distance


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


def light_mesh(kind: str, distance_m: float) -> tuple[list, list]:
    """(vertices, quads) of the band: the outer polygon's corners, then the inner's, in the XY plane."""
    sides, inner, outer, rotation = light_geometry(kind, distance_m)
    angles = [rotation + 2 * math.pi * k / sides for k in range(sides)]
    verts = [(outer * math.cos(a), outer * math.sin(a), 0.0) for a in angles]
    verts += [(inner * math.cos(a), inner * math.sin(a), 0.0) for a in angles]
    faces = [(k, (k + 1) % sides, sides + (k + 1) % sides, sides + k) for k in range(sides)]
    return verts, faces
