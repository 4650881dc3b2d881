"""Light geometry without Blender: every light kind's band, in metres around the camera axis."""

import math

import pytest

from blender_addon.core.errors import SettingsError
from blender_addon.core.lights import SHAPES, light_geometry, light_mesh
from blender_addon.core.vocabulary import LIGHTS


def test_every_light_name_has_a_shape():
    assert tuple(SHAPES) == LIGHTS


def test_light_geometry_of_each_kind():
    hex_ = light_geometry("hex", 0.25)
    assert hex_ == (6, pytest.approx(0.0125), pytest.approx(0.0275), 0.0)
    assert light_geometry("hex_rot90", 0.25) == (*hex_[:3], math.pi / 2)
    assert light_geometry("hex_x2", 0.25) == (6, 2 * hex_[1], 2 * hex_[2], 0.0)
    assert light_geometry("ring", 0.5)[0] == 64
    with pytest.raises(SettingsError, match="unknown light 'spot'"):
        light_geometry("spot", 0.25)


@pytest.mark.parametrize("kind", LIGHTS)
def test_light_mesh_is_a_closed_band_of_quads(kind):
    sides, inner, outer, rotation = light_geometry(kind, 0.25)
    verts, faces = light_mesh(kind, 0.25)
    assert len(verts) == 2 * sides and len(faces) == sides
    radii = [math.hypot(x, y) for x, y, z in verts]
    assert radii[:sides] == pytest.approx([outer] * sides)
    assert radii[sides:] == pytest.approx([inner] * sides)
    assert all(z == 0.0 for _, _, z in verts)
    assert math.atan2(verts[0][1], verts[0][0]) == pytest.approx(rotation)
    used = sorted(i for face in faces for i in face)
    assert used == sorted(list(range(2 * sides)) * 2)  # every corner shared by two quads
