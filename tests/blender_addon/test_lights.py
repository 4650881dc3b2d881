"""Light geometry without Blender: every light kind's band, in metres around the camera axis."""

import math

import pytest

from blender_addon.core.errors import SettingsError
from blender_addon.core.lights import (
    EMISSION_EDGE,
    LIGHT_RINGS,
    SHAPES,
    emission_profile,
    light_geometry,
    light_mesh,
)
from blender_addon.core.vocabulary import LIGHTS


def test_every_light_name_has_a_shape():
    assert tuple(SHAPES) == LIGHTS


def test_light_geometry_of_each_kind():
    hex_ = light_geometry("hex", 0.25)
    assert hex_ == (6, pytest.approx(0.01), pytest.approx(0.035), 0.0)
    assert light_geometry("hex_rot90", 0.25) == (*hex_[:3], math.pi / 2)
    assert light_geometry("hex_x2", 0.25) == (6, 2 * hex_[1], 2 * hex_[2], 0.0)
    assert light_geometry("ring", 0.5)[0] == 64
    with pytest.raises(SettingsError, match="unknown light 'spot'"):
        light_geometry("spot", 0.25)


@pytest.mark.parametrize("kind", LIGHTS)
def test_light_mesh_is_a_closed_band_of_quads_between_its_rings(kind):
    sides, inner, outer, rotation = light_geometry(kind, 0.25)
    verts, faces, emission = light_mesh(kind, 0.25)
    assert len(verts) == len(emission) == LIGHT_RINGS * sides
    assert len(faces) == (LIGHT_RINGS - 1) * sides
    radii = [math.hypot(x, y) for x, y, z in verts]
    assert radii[:sides] == pytest.approx([inner] * sides)
    assert radii[-sides:] == pytest.approx([outer] * sides)
    assert all(z == 0.0 for _, _, z in verts)
    assert math.atan2(verts[0][1], verts[0][0]) == pytest.approx(rotation)
    used = sorted(i for face in faces for i in face)
    inner_ring, outer_ring = range(sides), range(len(verts) - sides, len(verts))
    # every corner of an inner ring is shared by four quads, of the band's edges by two
    assert used == sorted(
        [*inner_ring, *outer_ring] * 2 + [i for i in range(sides, len(verts) - sides)] * 4
    )


def test_the_band_shines_most_along_its_middle():
    """Brightest at mid-band, EMISSION_EDGE at both edges, symmetric and monotonic on each side:
    the reflection then has a bright unclipped field around an over-exposed strip."""
    ts = [k / 40 for k in range(41)]
    values = [emission_profile(t) for t in ts]
    assert values[0] == pytest.approx(EMISSION_EDGE) and values[-1] == pytest.approx(EMISSION_EDGE)
    assert max(values) == pytest.approx(1.0) == values[20]
    assert values == pytest.approx(values[::-1])
    assert all(a <= b for a, b in zip(values[:20], values[1:21], strict=True))
    # an even glow over most of the band, a line many times brighter along its middle
    assert values[4] == pytest.approx(EMISSION_EDGE, abs=0.01) and 1.0 / values[4] > 5
    _, _, emission = light_mesh("hex", 0.25)
    assert emission[:6] == pytest.approx([EMISSION_EDGE] * 6)
