"""Build the example part: a bent sheet-metal bracket with a hole, in brushed steel, on a table.

    python examples/scenes/build_bracket.py [OUT.blend]        (PyPI bpy module)
    blender -b -P examples/scenes/build_bracket.py -- [OUT.blend]

Writes `examples/scenes/bracket.blend` by default: an L-shaped bracket (40 mm wide, 1.5 mm sheet,
legs of 50 and 35 mm around a 4 mm bend radius, an 8 mm hole in the base leg, cut by a Boolean
modifier whose cutter does not render), its material "Brushed Steel" (a Principled BSDF, metallic,
anisotropic, streaks along X in object coordinates) marked for water stains (the sidebar's checkbox,
`Material.seqcore_stain`), a table under it ("Table", not marked), one area
light and two cameras ("Camera Top", "Camera Side"). Lengths in metres. The tests and the README build
it with this script; the .blend itself is not kept in the repository.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import bpy
from mathutils import Vector

WIDTH = 0.040  # along Y
THICKNESS = 0.0015
BASE_LEG = 0.050  # along X, lying on the table
UPRIGHT_LEG = 0.035  # standing up along Z
BEND_RADIUS = 0.004  # inner radius
BEND_SEGMENTS = 8
HOLE_RADIUS = 0.004
OUT = Path(__file__).resolve().with_name("bracket.blend")


def _profile(offset: float) -> list[tuple[float, float, bool]]:
    """(x, z, in the bend) along the sheet's inner surface moved `offset` towards its outer one."""
    r = BEND_RADIUS + offset
    cx, cz = 0.0, BEND_RADIUS + THICKNESS  # centre of the bend
    points = [(-BASE_LEG, cz - r, False)]
    for k in range(BEND_SEGMENTS + 1):
        a = -math.pi / 2 + (math.pi / 2) * k / BEND_SEGMENTS
        points.append((cx + r * math.cos(a), cz + r * math.sin(a), 0 < k < BEND_SEGMENTS))
    points.append((cx + r, cz + UPRIGHT_LEG, False))
    return points


def bracket_mesh():
    """The bent sheet as a closed mesh: top and bottom surfaces, edges and ends with their own
    vertices, so flat faces stay flat and only the bend is shaded smooth."""
    inner, outer = _profile(0.0), _profile(THICKNESS)
    verts, faces, smooth = [], [], []

    def strip(a, flip, bend_smooth):
        start = len(verts)
        for x, z, _ in a:
            verts.append((x, -WIDTH / 2, z))
            verts.append((x, WIDTH / 2, z))
        for i in range(len(a) - 1):
            quad = (start + 2 * i, start + 2 * i + 2, start + 2 * i + 3, start + 2 * i + 1)
            faces.append(quad[::-1] if flip else quad)
            smooth.append(bend_smooth and (a[i][2] or a[i + 1][2]))

    strip(inner, False, True)  # the inner surface: the base leg's top, the upright's front
    strip(outer, True, True)
    n = len(inner)
    for y in (-WIDTH / 2, WIDTH / 2):  # the two long edges: profile rings of inner and outer
        start = len(verts)
        for (xi, zi, _), (xo, zo, _) in zip(inner, outer, strict=True):
            verts += [(xi, y, zi), (xo, y, zo)]
        for i in range(n - 1):
            quad = (start + 2 * i, start + 2 * i + 1, start + 2 * i + 3, start + 2 * i + 2)
            faces.append(quad if y < 0 else quad[::-1])
            smooth.append(False)
    for end in (0, n - 1):  # the two cut ends
        (xi, zi, _), (xo, zo, _) = inner[end], outer[end]
        start = len(verts)
        verts += [
            (xi, -WIDTH / 2, zi),
            (xo, -WIDTH / 2, zo),
            (xo, WIDTH / 2, zo),
            (xi, WIDTH / 2, zi),
        ]
        quad = (start, start + 1, start + 2, start + 3)
        faces.append(quad if end else quad[::-1])
        smooth.append(False)
    mesh = bpy.data.meshes.new("Bracket")
    mesh.from_pydata(verts, [], faces)
    mesh.polygons.foreach_set("use_smooth", smooth)
    mesh.validate()
    mesh.update()
    return mesh


def steel_material():
    material = bpy.data.materials.new("Brushed Steel")
    if hasattr(material, "use_nodes") and not material.node_tree:
        material.use_nodes = True
    tree = material.node_tree
    tree.nodes.clear()
    out = tree.nodes.new("ShaderNodeOutputMaterial")
    bsdf = tree.nodes.new("ShaderNodeBsdfPrincipled")
    tree.links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    bsdf.inputs["Metallic"].default_value = 1.0
    bsdf.inputs["Roughness"].default_value = 0.28
    bsdf.inputs["Anisotropic"].default_value = 0.5
    coords = tree.nodes.new("ShaderNodeTexCoord")
    stretch = tree.nodes.new("ShaderNodeMapping")  # streaks along X: squeeze Y and Z
    stretch.inputs["Scale"].default_value = (40.0, 2500.0, 2500.0)
    noise = tree.nodes.new("ShaderNodeTexNoise")
    noise.inputs["Scale"].default_value = 1.0
    noise.inputs["Detail"].default_value = 4.0
    ramp = tree.nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.elements[0].color = (0.52, 0.53, 0.55, 1.0)
    ramp.color_ramp.elements[1].color = (0.70, 0.71, 0.73, 1.0)
    tree.links.new(coords.outputs["Object"], stretch.inputs["Vector"])
    tree.links.new(stretch.outputs["Vector"], noise.inputs["Vector"])
    tree.links.new(noise.outputs["Fac"], ramp.inputs["Fac"])
    tree.links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
    if not hasattr(bpy.types.Material, "seqcore_stain"):  # the add-on is not registered here
        bpy.types.Material.seqcore_stain = bpy.props.BoolProperty(name="Water Stains")
    material.seqcore_stain = True  # the sidebar's "Water Stains" checkbox, stored as it stores it
    return material


def table_material():
    material = bpy.data.materials.new("Table")
    if hasattr(material, "use_nodes") and not material.node_tree:
        material.use_nodes = True
    bsdf = next(n for n in material.node_tree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")
    bsdf.inputs["Base Color"].default_value = (0.05, 0.06, 0.08, 1.0)
    bsdf.inputs["Roughness"].default_value = 0.8
    return material


def _camera(scene, name, location, target, lens):
    data = bpy.data.cameras.new(name)
    data.lens = lens
    data.clip_start, data.clip_end = 0.01, 10.0
    obj = bpy.data.objects.new(name, data)
    obj.location = location
    direction = [t - loc for t, loc in zip(target, location, strict=True)]
    obj.rotation_euler = Vector(direction).to_track_quat("-Z", "Y").to_euler()
    scene.collection.objects.link(obj)
    return obj


def build(path: Path = OUT) -> Path:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.name = "Bracket"
    bracket = bpy.data.objects.new("Bracket", bracket_mesh())
    bracket.data.materials.append(steel_material())
    scene.collection.objects.link(bracket)

    cutter_mesh = bpy.data.meshes.new("Hole Cutter")
    ring = [
        (-BASE_LEG / 2 + HOLE_RADIUS * math.cos(a), HOLE_RADIUS * math.sin(a), z)
        for z in (-0.01, 0.01)
        for a in (2 * math.pi * k / 48 for k in range(48))
    ]
    sides = [(k, (k + 1) % 48, 48 + (k + 1) % 48, 48 + k) for k in range(48)]
    cutter_mesh.from_pydata(ring, [], [*sides, tuple(range(47, -1, -1)), tuple(range(48, 96))])
    cutter_mesh.update()
    cutter = bpy.data.objects.new("Hole Cutter", cutter_mesh)
    cutter.hide_render = True
    cutter.display_type = "WIRE"
    scene.collection.objects.link(cutter)
    hole = bracket.modifiers.new("Hole", "BOOLEAN")
    hole.operation = "DIFFERENCE"
    hole.object = cutter

    table = bpy.data.meshes.new("Table")
    s = 0.3
    table.from_pydata([(-s, -s, 0), (s, -s, 0), (s, s, 0), (-s, s, 0)], [], [(0, 1, 2, 3)])
    table.materials.append(table_material())
    table_obj = bpy.data.objects.new("Table", table)
    table_obj.location.z = -0.0002  # just under the bracket: no coplanar faces
    scene.collection.objects.link(table_obj)

    light_data = bpy.data.lights.new("Softbox", "AREA")
    light_data.shape = "RECTANGLE"
    light_data.size, light_data.size_y = 0.12, 0.06
    light_data.energy = 4.0
    light = bpy.data.objects.new("Softbox", light_data)
    light.location = (-0.06, -0.09, 0.16)
    light.rotation_euler = Vector((0.04, 0.09, -0.16)).to_track_quat("-Z", "Y").to_euler()
    scene.collection.objects.link(light)

    _camera(scene, "Camera Top", (-0.02, -0.06, 0.14), (-0.015, 0.0, 0.008), 50.0)
    _camera(scene, "Camera Side", (0.10, -0.09, 0.07), (-0.01, 0.0, 0.012), 50.0)
    scene.camera = scene.objects["Camera Top"]

    world = bpy.data.worlds.new("Studio")
    world.color = (0.02, 0.02, 0.02)
    if hasattr(world, "use_nodes") and not world.node_tree:
        world.use_nodes = True
    background = world.node_tree.nodes.get("Background")
    background.inputs["Color"].default_value = (0.03, 0.03, 0.035, 1.0)
    scene.world = world

    scene.render.engine = "CYCLES"
    scene.render.resolution_x, scene.render.resolution_y = 320, 240
    scene.cycles.samples = 32
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(path), check_existing=False, compress=False)
    return path


if __name__ == "__main__":
    argv = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:]
    print(build(Path(argv[0]) if argv else OUT))
