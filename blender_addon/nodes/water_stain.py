"""The "SeqCore Water Stain" shader node group: the paper's Algorithm 1 built from Blender nodes.

Voronoi Texture (F1, Euclidean, 3D) on p / G + seed offset is the jittered grid with neighbour-cell
search (Randomness = jitter); Noise Texture (Perlin, Detail 0, not normalised, Scale = f) is the
signed radius perturbation. `core.water_stain.water_stain_reference` is the numpy twin.
"""

from __future__ import annotations

import bpy

from ..core.water_stain import SEED_OFFSET_CELLS, SEED_VECTOR, StainParams
from .helpers import SocketSpec, ensure_group, math_node, vector_math_node

__all__ = ["WATER_STAIN_GROUP", "build_water_stain_group", "set_stain_inputs"]

WATER_STAIN_GROUP = "SeqCore Water Stain"

_SOCKETS = (
    SocketSpec(
        "Vector",
        "INPUT",
        "NodeSocketVector",
        None,
        hide_value=True,
        description="Surface point p; leave unconnected for object coordinates",
    ),
    SocketSpec(
        "Reflectance",
        "INPUT",
        "NodeSocketColor",
        (0.8, 0.8, 0.8, 1.0),
        description="Input reflectance R_ip",
    ),
    SocketSpec(
        "Radius",
        "INPUT",
        "NodeSocketFloat",
        0.003,
        min_value=0.0,
        subtype="DISTANCE",
        description="Stain radius r",
    ),
    SocketSpec(
        "Frequency",
        "INPUT",
        "NodeSocketFloat",
        400.0,
        min_value=0.0,
        description="Perlin frequency f (1/m)",
    ),
    SocketSpec(
        "Amplitude",
        "INPUT",
        "NodeSocketFloat",
        0.0008,
        subtype="DISTANCE",
        description="Perlin amplitude A: radius perturbation",
    ),
    SocketSpec(
        "Decay",
        "INPUT",
        "NodeSocketFloat",
        3.0,
        min_value=0.0,
        description="Reflectance decay gamma",
    ),
    SocketSpec(
        "Intensity",
        "INPUT",
        "NodeSocketFloat",
        -0.3,
        description="Signed reflectance intensity alpha",
    ),
    SocketSpec(
        "Cell Size",
        "INPUT",
        "NodeSocketFloat",
        0.012,
        min_value=1e-6,
        subtype="DISTANCE",
        description="Jittered-grid cell size G",
    ),
    SocketSpec(
        "Jitter",
        "INPUT",
        "NodeSocketFloat",
        1.0,
        min_value=0.0,
        max_value=1.0,
        subtype="FACTOR",
        description="How far centres move inside their cell",
    ),
    SocketSpec(
        "Seed",
        "INPUT",
        "NodeSocketFloat",
        0.0,
        min_value=0.0,
        description="Integer seed: shifts the stain lattice",
    ),
    SocketSpec(
        "Center",
        "INPUT",
        "NodeSocketVector",
        (0.0, 0.0, 0.0),
        subtype="TRANSLATION",
        description="Centre c of a single stain (object coordinates)",
    ),
    SocketSpec(
        "Use Center",
        "INPUT",
        "NodeSocketFloat",
        0.0,
        min_value=0.0,
        max_value=1.0,
        subtype="FACTOR",
        description="1: one stain at Center; 0: stains on the grid",
    ),
    SocketSpec(
        "Reflectance", "OUTPUT", "NodeSocketColor", None, description="Output reflectance R_op"
    ),
    SocketSpec("Mask", "OUTPUT", "NodeSocketFloat", None, description="1 inside a stain, else 0"),
    SocketSpec(
        "Stain ID",
        "OUTPUT",
        "NodeSocketFloat",
        None,
        description="Per-stain random value in (0, 1): tells stains apart",
    ),
    SocketSpec(
        "Rim",
        "OUTPUT",
        "NodeSocketFloat",
        None,
        description="(d / r')^gamma inside the stain, 0 outside: drive roughness with it",
    ),
)


def build_water_stain_group() -> bpy.types.ShaderNodeTree:
    """Create or refresh the group (idempotent: materials using it keep their links and values)."""
    tree = ensure_group(WATER_STAIN_GROUP, _SOCKETS)
    nodes = tree.nodes
    group_in = nodes.new("NodeGroupInput")
    group_out = nodes.new("NodeGroupOutput")
    group_in.location, group_out.location = (-1200, 0), (900, 0)
    inp = {s.identifier: s for s in group_in.outputs if s.identifier}
    by_name = {}
    for socket in group_in.outputs:
        by_name.setdefault(socket.name, socket)
    vector, reflectance = group_in.outputs[0], group_in.outputs[1]
    radius, frequency = by_name["Radius"], by_name["Frequency"]
    amplitude, decay, intensity = by_name["Amplitude"], by_name["Decay"], by_name["Intensity"]
    cell, jitter, seed = by_name["Cell Size"], by_name["Jitter"], by_name["Seed"]
    center, use_center = by_name["Center"], by_name["Use Center"]
    del inp

    # p: the Vector input, or object coordinates when it is left at (0, 0, 0)
    coords = nodes.new("ShaderNodeTexCoord")
    unset = math_node(
        tree, "COMPARE", vector_math_node(tree, "LENGTH", vector), 0.0, 0.0, label="Vector unset"
    )
    p = vector_math_node(
        tree, "ADD", vector, vector_math_node(tree, "SCALE", coords.outputs["Object"], scale=unset)
    )

    # lattice shift in cells: fract(seed * SEED_VECTOR) * 64, float32 like core.seed_offset_cells
    seed3 = nodes.new("ShaderNodeCombineXYZ")
    for i in range(3):
        tree.links.new(seed, seed3.inputs[i])
    offset = vector_math_node(tree, "MULTIPLY", seed3.outputs[0], SEED_VECTOR)
    offset = vector_math_node(
        tree, "SCALE", vector_math_node(tree, "FRACTION", offset), scale=SEED_OFFSET_CELLS
    )

    inv_cell = math_node(tree, "DIVIDE", 1.0, cell)
    scaled = vector_math_node(
        tree,
        "ADD",
        vector_math_node(tree, "SCALE", p, scale=inv_cell),
        offset,
        label="p / G + seed",
    )
    voronoi = nodes.new("ShaderNodeTexVoronoi")
    voronoi.voronoi_dimensions, voronoi.feature, voronoi.distance = "3D", "F1", "EUCLIDEAN"
    tree.links.new(scaled, voronoi.inputs["Vector"])
    voronoi.inputs["Scale"].default_value = 1.0
    tree.links.new(jitter, voronoi.inputs["Randomness"])
    d_grid = math_node(tree, "MULTIPLY", voronoi.outputs["Distance"], cell, label="d grid")
    d_center = vector_math_node(tree, "DISTANCE", p, center)
    d = math_node(
        tree, "MULTIPLY_ADD", math_node(tree, "SUBTRACT", d_center, d_grid), use_center, d_grid
    )

    # r' = r + Perlin(p, f) * A
    noise = nodes.new("ShaderNodeTexNoise")
    noise.noise_dimensions, noise.noise_type, noise.normalize = "3D", "FBM", False
    noise.inputs["Detail"].default_value = 0.0
    noise.inputs["Distortion"].default_value = 0.0
    tree.links.new(
        vector_math_node(tree, "ADD", p, vector_math_node(tree, "SCALE", offset, scale=cell)),
        noise.inputs[0],
    )
    tree.links.new(frequency, noise.inputs["Scale"])
    r_prime = math_node(tree, "MULTIPLY_ADD", noise.outputs[0], amplitude, radius, label="r'")

    inside = math_node(tree, "LESS_THAN", d, r_prime)
    mask = math_node(
        tree, "MULTIPLY", inside, math_node(tree, "GREATER_THAN", r_prime, 0.0), label="Mask"
    )
    rim = math_node(
        tree,
        "MULTIPLY",
        math_node(tree, "POWER", math_node(tree, "DIVIDE", d, r_prime), decay),
        mask,
    )
    change = math_node(tree, "MULTIPLY", rim, intensity, label="(d/r')^gamma * alpha")
    change3 = nodes.new("ShaderNodeCombineXYZ")
    for i in range(3):
        tree.links.new(change, change3.inputs[i])
    r_out = vector_math_node(
        tree,
        "MAXIMUM",
        vector_math_node(tree, "ADD", reflectance, change3.outputs[0]),
        (0.0, 0.0, 0.0),
    )

    # Stain ID: the Voronoi cell's random colour, or a seed hash in single-stain mode; kept in (0, 1)
    cell_hash = nodes.new("ShaderNodeSeparateXYZ")
    tree.links.new(voronoi.outputs["Color"], cell_hash.inputs[0])
    seed_hash = math_node(tree, "FRACT", math_node(tree, "MULTIPLY", seed, 0.6180339887))
    raw_id = math_node(
        tree,
        "MULTIPLY_ADD",
        math_node(tree, "SUBTRACT", seed_hash, cell_hash.outputs[0]),
        use_center,
        cell_hash.outputs[0],
    )
    stain_id = math_node(tree, "MULTIPLY_ADD", raw_id, 0.998, 0.001, label="Stain ID")

    tree.links.new(r_out, group_out.inputs[0])
    tree.links.new(mask, group_out.inputs[1])
    tree.links.new(stain_id, group_out.inputs[2])
    tree.links.new(rim, group_out.inputs[3])
    _layout(tree)
    return tree


def _layout(tree) -> None:
    """Spread nodes left to right in creation order so the group is readable when opened by hand."""
    inner = [n for n in tree.nodes if n.bl_idname not in ("NodeGroupInput", "NodeGroupOutput")]
    for i, node in enumerate(inner):
        node.location = (-1000 + 180 * (i // 4), 300 - 200 * (i % 4))


def set_stain_inputs(group_node, params: StainParams) -> None:
    """Copy Algorithm-1 parameters onto a group node's inputs."""
    values = {
        "Radius": params.radius,
        "Frequency": params.frequency,
        "Amplitude": params.amplitude,
        "Decay": params.gamma,
        "Intensity": params.alpha,
        "Cell Size": params.cell_size,
        "Jitter": params.jitter,
        "Seed": float(params.seed),
        "Use Center": 1.0 if params.center is not None else 0.0,
    }
    for name, value in values.items():
        group_node.inputs[name].default_value = value
    if params.center is not None:
        group_node.inputs["Center"].default_value = params.center
