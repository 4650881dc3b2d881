"""Plate material and the water-stain / AOV wiring that any material can receive.

The add-on's own materials carry a custom property naming them, so they are found again by that tag,
not by name: a user's material that happens to be called "SeqCore Plate" is never rebuilt.
"""

from __future__ import annotations

import bpy

from ..core.masks import AOV_PLATE, AOV_STAIN_ID, AOV_STAIN_MASK
from ..core.water_stain import StainParams
from ..nodes.brushed_aluminium import build_brushed_group, set_texture_inputs
from ..nodes.helpers import BSDF_NAME, math_node, node_tree_of, principal_bsdf
from ..nodes.water_stain import WATER_STAIN_GROUP, build_water_stain_group, set_stain_inputs

__all__ = [
    "OWNER_KEY",
    "PLATE_MATERIAL",
    "add_water_stain",
    "build_plate_material",
    "owned_material",
    "remove_stain_aovs",
    "remove_water_stain",
    "stain_nodes",
    "wire_stain_aovs",
]

PLATE_MATERIAL = "SeqCore Plate"
OWNER_KEY = "seqcore_material"  # custom property: which of the add-on's materials this is
_AOV_PREFIX = "SeqCore AOV"
_AOV_MATH = f"{_AOV_PREFIX} math"  # removed with the AOV outputs when they are rewired


def owned_material(name: str):
    """The add-on's material `name`, made (and tagged) when missing; a same-named foreign one stays."""
    for material in bpy.data.materials:
        if material.get(OWNER_KEY) == name:
            return material
    material = bpy.data.materials.new(
        name
    )  # Blender appends .001 if a user's material has the name
    material[OWNER_KEY] = name
    return material


def stain_nodes(material) -> list:
    """Water-stain group nodes of a material, in chain order (upstream first)."""
    found = [
        n
        for n in material.node_tree.nodes
        if n.bl_idname == "ShaderNodeGroup"
        and n.node_tree
        and n.node_tree.name == WATER_STAIN_GROUP
    ]
    return sorted(found, key=lambda n: n.get("seqcore_order", 0))


def add_water_stain(material, params: StainParams | None = None):
    """Put a water-stain group in front of the principal BSDF's Base Color and wire the stain AOVs.

    Repeated calls chain stains (each one's reflectance feeds the next). Returns the group node.
    """
    bsdf = principal_bsdf(material, "to stain")
    tree = node_tree_of(material)
    group = tree.nodes.new("ShaderNodeGroup")
    group.node_tree = build_water_stain_group()
    group.name = group.label = "SeqCore Water Stain"
    group["seqcore_order"] = len(stain_nodes(material))
    group.location = (bsdf.location.x - 250, bsdf.location.y + 150)
    base = bsdf.inputs["Base Color"]
    if base.is_linked:
        upstream = base.links[0].from_socket
        tree.links.new(upstream, group.inputs["Reflectance"])
    else:
        group.inputs["Reflectance"].default_value = base.default_value
    tree.links.new(group.outputs["Reflectance"], base)
    if params is not None:
        set_stain_inputs(group, params)
    wire_stain_aovs(material)
    return group


def remove_water_stain(material) -> None:
    """Undo `add_water_stain`: every water-stain group leaves, whatever fed it feeds what it fed
    (or its colour becomes their value), and the AOV outputs go too."""
    tree = node_tree_of(material)
    for group in reversed(stain_nodes(material)):  # downstream first: each hands on its input
        given = group.inputs["Reflectance"]
        upstream = given.links[0].from_socket if given.is_linked else None
        targets = [link.to_socket for link in group.outputs["Reflectance"].links]
        value = tuple(given.default_value)
        tree.nodes.remove(group)
        for socket in targets:
            if upstream is not None:
                tree.links.new(upstream, socket)
            else:
                socket.default_value = value
    remove_stain_aovs(material)


def remove_stain_aovs(material) -> None:
    """Remove the AOV outputs `wire_stain_aovs` made: the material no longer marks its surface."""
    tree = node_tree_of(material)
    for node in [n for n in tree.nodes if n.name.startswith(_AOV_PREFIX)]:
        tree.nodes.remove(node)


def _aov_node(tree, name: str, location):
    node = tree.nodes.new("ShaderNodeOutputAOV")
    node.aov_name = name
    node.name = node.label = f"{_AOV_PREFIX} {name}"
    node.location = location
    return node


def wire_stain_aovs(material) -> None:
    """(Re)build the AOV outputs: plate = 1, stain mask = union of stains, stain id AOV = mask * id
    of the last stain covering the point (see core.masks for how ids are read back)."""
    tree = node_tree_of(material)
    remove_stain_aovs(material)
    x, y = 300, -400
    _aov_node(tree, AOV_PLATE, (x, y)).inputs["Value"].default_value = 1.0
    stains = stain_nodes(material)
    if not stains:
        return
    mask, weighted = None, None
    for stain in stains:
        m = stain.outputs["Mask"]
        w = math_node(tree, "MULTIPLY", m, stain.outputs["Stain ID"], name=_AOV_MATH)
        if mask is None:
            mask, weighted = m, w
        else:
            keep = math_node(tree, "SUBTRACT", 1.0, m, name=_AOV_MATH)
            weighted = math_node(tree, "MULTIPLY_ADD", weighted, keep, w, name=_AOV_MATH)
            mask = math_node(tree, "MAXIMUM", mask, m, name=_AOV_MATH)
    tree.links.new(mask, _aov_node(tree, AOV_STAIN_MASK, (x, y - 150)).inputs["Value"])
    tree.links.new(weighted, _aov_node(tree, AOV_STAIN_ID, (x, y - 300)).inputs["Value"])


def build_plate_material(texture: dict, stain: StainParams | None):
    """The brushed-aluminium plate material for one sample, rebuilt from its parameters."""
    material = owned_material(PLATE_MATERIAL)
    tree = node_tree_of(material)
    tree.nodes.clear()
    output = tree.nodes.new("ShaderNodeOutputMaterial")
    output.location = (400, 0)
    bsdf = tree.nodes.new("ShaderNodeBsdfPrincipled")
    bsdf.name = bsdf.label = BSDF_NAME
    bsdf.location = (100, 0)
    tree.links.new(bsdf.outputs["BSDF"], output.inputs["Surface"])
    brushed = tree.nodes.new("ShaderNodeGroup")
    brushed.node_tree = build_brushed_group()
    brushed.name = brushed.label = "SeqCore Brushed Aluminium"
    brushed.location = (-500, 0)
    set_texture_inputs(brushed, texture)
    bsdf.inputs["Metallic"].default_value = 1.0
    bsdf.inputs["Anisotropic"].default_value = texture["anisotropy"]
    bsdf.inputs["Roughness"].default_value = texture["roughness"]
    tree.links.new(brushed.outputs["Reflectance"], bsdf.inputs["Base Color"])
    tree.links.new(brushed.outputs["Normal"], bsdf.inputs["Normal"])
    tree.links.new(brushed.outputs["Tangent"], bsdf.inputs["Tangent"])
    tree.links.new(brushed.outputs["Roughness"], bsdf.inputs["Roughness"])
    if stain is not None:
        group = add_water_stain(material, stain)
        if stain.roughness:  # optional extension; Algorithm 1 itself changes reflectance only
            rough = math_node(
                tree,
                "MULTIPLY_ADD",
                group.outputs["Rim"],
                stain.roughness,
                brushed.outputs["Roughness"],
                name="SeqCore Stain Roughness",
            )
            tree.links.new(rough, bsdf.inputs["Roughness"])
    else:
        wire_stain_aovs(material)
    return material
