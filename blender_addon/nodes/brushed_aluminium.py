"""The "SeqCore Brushed Aluminium" node group: parallel-groove texture of an uncoated brushed plate.

Grooves are Perlin noise stretched strongly along the brushing direction (the parallel texture model);
their height drives a Bump node and, a little, the roughness (so the dark field shows the brushing),
and a slow noise varies the reflectance a little across the plate.
Every input is a texture parameter stored per sample, so a realisation is reproducible.
"""

from __future__ import annotations

import math

import bpy

from .helpers import SocketSpec, ensure_group, math_node, vector_math_node

__all__ = ["BRUSHED_GROUP", "build_brushed_group", "set_texture_inputs"]

BRUSHED_GROUP = "SeqCore Brushed Aluminium"
# Roughness follows the grooves (about +-40 % over the groove noise range): the GGX tail that lights the dark
# field then carries the brushing texture (streaks along the brushing direction) instead of flat
# speckle. A texture dict may override it ("roughness_streaks"; 0 = the earlier uniform roughness).
ROUGHNESS_STREAKS = 1.0

_SOCKETS = (
    SocketSpec("Seed", "INPUT", "NodeSocketFloat", 0.0),
    SocketSpec(
        "Direction",
        "INPUT",
        "NodeSocketFloat",
        0.0,
        subtype="ANGLE",
        description="Brushing direction about Z, from the plate's X axis",
    ),
    SocketSpec(
        "Groove Frequency",
        "INPUT",
        "NodeSocketFloat",
        2500.0,
        min_value=0.0,
        description="Grooves per metre across the brushing direction",
    ),
    SocketSpec(
        "Groove Stretch",
        "INPUT",
        "NodeSocketFloat",
        80.0,
        min_value=1.0,
        description="Groove length / width ratio",
    ),
    SocketSpec(
        "Groove Depth",
        "INPUT",
        "NodeSocketFloat",
        0.1,
        min_value=0.0,
        description="Bump strength of the grooves",
    ),
    SocketSpec("Tint", "INPUT", "NodeSocketColor", (0.85, 0.85, 0.85, 1.0)),
    SocketSpec(
        "Streak Contrast",
        "INPUT",
        "NodeSocketFloat",
        0.0,
        min_value=0.0,
        description="Reflectance change along the grooves (streaks in the bright field)",
    ),
    SocketSpec(
        "Roughness",
        "INPUT",
        "NodeSocketFloat",
        0.04,
        min_value=0.0,
        description="Mean surface roughness",
    ),
    SocketSpec(
        "Roughness Streaks",
        "INPUT",
        "NodeSocketFloat",
        ROUGHNESS_STREAKS,
        min_value=0.0,
        description="Relative roughness change along the grooves (brushing texture in the dark field)",
    ),
    SocketSpec("Reflectance", "OUTPUT", "NodeSocketColor"),
    SocketSpec("Normal", "OUTPUT", "NodeSocketVector"),
    SocketSpec("Tangent", "OUTPUT", "NodeSocketVector"),
    SocketSpec("Roughness", "OUTPUT", "NodeSocketFloat"),
)


def build_brushed_group() -> bpy.types.ShaderNodeTree:
    tree = ensure_group(BRUSHED_GROUP, _SOCKETS)
    nodes = tree.nodes
    group_in, group_out = nodes.new("NodeGroupInput"), nodes.new("NodeGroupOutput")
    group_in.location, group_out.location = (-900, 0), (700, 0)
    seed, direction, frequency, stretch, depth, tint, streaks, roughness, rough_streaks = (
        group_in.outputs[:9]
    )
    coords = nodes.new("ShaderNodeTexCoord")
    p = coords.outputs["Object"]

    rotate = nodes.new("ShaderNodeVectorRotate")
    rotate.rotation_type = "Z_AXIS"
    rotate.invert = True
    tree.links.new(p, rotate.inputs["Vector"])
    tree.links.new(direction, rotate.inputs["Angle"])
    seed3 = nodes.new("ShaderNodeCombineXYZ")
    for i in range(3):
        tree.links.new(seed, seed3.inputs[i])
    offset = vector_math_node(
        tree,
        "FRACTION",
        vector_math_node(tree, "MULTIPLY", seed3.outputs[0], (0.7548, 0.5698, 0.431)),
    )
    offset = vector_math_node(tree, "SCALE", offset, scale=500.0)
    along = math_node(tree, "DIVIDE", frequency, stretch)
    scale3 = nodes.new("ShaderNodeCombineXYZ")
    tree.links.new(along, scale3.inputs[0])
    tree.links.new(frequency, scale3.inputs[1])
    tree.links.new(frequency, scale3.inputs[2])
    q = vector_math_node(
        tree,
        "ADD",
        vector_math_node(tree, "MULTIPLY", rotate.outputs[0], scale3.outputs[0]),
        offset,
    )

    grooves = nodes.new("ShaderNodeTexNoise")
    grooves.noise_dimensions = "3D"
    grooves.inputs["Scale"].default_value = 1.0
    grooves.inputs["Detail"].default_value = 2.0
    grooves.inputs["Roughness"].default_value = 0.6
    tree.links.new(q, grooves.inputs["Vector"])
    bump = nodes.new("ShaderNodeBump")
    bump.inputs["Distance"].default_value = 0.00002
    tree.links.new(depth, bump.inputs["Strength"])
    tree.links.new(grooves.outputs[0], bump.inputs["Height"])

    # slow, faint reflectance variation (a few mm) so no two plates look identical
    blotches = nodes.new("ShaderNodeTexNoise")
    blotches.inputs["Scale"].default_value = 150.0
    blotches.inputs["Detail"].default_value = 2.0
    tree.links.new(
        vector_math_node(tree, "ADD", p, vector_math_node(tree, "SCALE", offset, scale=0.01)),
        blotches.inputs[0],
    )
    factor = math_node(tree, "MULTIPLY_ADD", blotches.outputs[0], 0.08, 0.96)
    # the grooves also modulate reflectance: brushed metal shows fine streaks inside the bright field,
    # not only where groove slopes cross the reflection's edge
    streak = math_node(
        tree, "MULTIPLY", math_node(tree, "SUBTRACT", grooves.outputs[0], 0.5), streaks
    )
    factor = math_node(tree, "ADD", factor, streak)
    reflectance = vector_math_node(tree, "SCALE", tint, scale=factor)

    tangent = nodes.new("ShaderNodeCombineXYZ")
    tree.links.new(math_node(tree, "COSINE", direction), tangent.inputs[0])
    tree.links.new(math_node(tree, "SINE", direction), tangent.inputs[1])
    to_world = nodes.new("ShaderNodeVectorTransform")
    to_world.vector_type, to_world.convert_from, to_world.convert_to = "VECTOR", "OBJECT", "WORLD"
    tree.links.new(tangent.outputs[0], to_world.inputs[0])

    tree.links.new(reflectance, group_out.inputs[0])
    tree.links.new(bump.outputs["Normal"], group_out.inputs[1])
    tree.links.new(to_world.outputs[0], group_out.inputs[2])
    rough = math_node(
        tree,
        "MULTIPLY",
        roughness,
        math_node(
            tree,
            "MAXIMUM",
            math_node(
                tree,
                "MULTIPLY_ADD",
                math_node(tree, "SUBTRACT", grooves.outputs[0], 0.5),
                math_node(tree, "MULTIPLY", rough_streaks, 2.0),
                1.0,
            ),
            0.2,
        ),
    )
    tree.links.new(rough, group_out.inputs[3])
    for i, node in enumerate(n for n in nodes if n not in (group_in, group_out)):
        node.location = (-700 + 180 * (i // 4), 300 - 200 * (i % 4))
    return tree


def set_texture_inputs(group_node, texture: dict) -> None:
    """Texture parameters (SampleSpec.texture) onto a group node."""
    inputs = group_node.inputs
    inputs["Seed"].default_value = float(texture["seed"])
    inputs["Direction"].default_value = math.radians(texture["direction_deg"])
    inputs["Groove Frequency"].default_value = texture["groove_frequency"]
    inputs["Groove Stretch"].default_value = texture["groove_stretch"]
    inputs["Groove Depth"].default_value = texture["groove_depth"]
    inputs["Tint"].default_value = (*texture["tint"], 1.0)
    inputs["Streak Contrast"].default_value = texture.get("streak_contrast", 0.0)  # older manifests
    inputs["Roughness"].default_value = texture["roughness"]
    inputs["Roughness Streaks"].default_value = texture.get("roughness_streaks", ROUGHNESS_STREAKS)
