"""Plate material and the water-stain / AOV wiring that any material can receive."""

from __future__ import annotations

import bpy

from ..core.masks import AOV_PLATE, AOV_STAIN_ID, AOV_STAIN_MASK
from ..core.water_stain import StainParams
from ..nodes.brushed_aluminium import build_brushed_group, set_texture_inputs
from ..nodes.water_stain import WATER_STAIN_GROUP, build_water_stain_group, set_stain_inputs

__all__ = [
    "BSDF_NAME",
    "PLATE_MATERIAL",
    "add_water_stain",
    "build_plate_material",
    "node_tree_of",
    "principal_bsdf",
    "stain_nodes",
    "wire_stain_aovs",
]

PLATE_MATERIAL = "SeqCore Plate"
BSDF_NAME = "SeqCore BSDF"
_AOV_PREFIX = "SeqCore AOV"


def node_tree_of(idblock):
    """The node tree of a material or world; Blender < 5.0 creates it only with `use_nodes`."""
    if idblock.node_tree is None:
        idblock.use_nodes = True
    return idblock.node_tree


def principal_bsdf(material):
    """'SeqCore BSDF', else the first Principled BSDF; None when the material has none."""
    nodes = node_tree_of(material).nodes
    node = nodes.get(BSDF_NAME)
    if node is not None:
        return node
    return next((n for n in nodes if n.bl_idname == "ShaderNodeBsdfPrincipled"), None)


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
    bsdf = principal_bsdf(material)
    if bsdf is None:
        raise ValueError(f"material {material.name!r} has no Principled BSDF to stain")
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
    for node in [n for n in tree.nodes if n.name.startswith(_AOV_PREFIX)]:
        tree.nodes.remove(node)
    x, y = 300, -400
    _aov_node(tree, AOV_PLATE, (x, y)).inputs["Value"].default_value = 1.0
    stains = stain_nodes(material)
    if not stains:
        return
    mask, weighted = None, None
    for stain in stains:
        m = stain.outputs["Mask"]
        w = _math(tree, "MULTIPLY", m, stain.outputs["Stain ID"])
        if mask is None:
            mask, weighted = m, w
        else:
            keep = _math(tree, "SUBTRACT", 1.0, m)
            weighted = _math(tree, "MULTIPLY_ADD", weighted, keep, w)
            mask = _math(tree, "MAXIMUM", mask, m)
    tree.links.new(mask, _aov_node(tree, AOV_STAIN_MASK, (x, y - 150)).inputs["Value"])
    tree.links.new(weighted, _aov_node(tree, AOV_STAIN_ID, (x, y - 300)).inputs["Value"])


def _math(tree, operation, a, b, c=None):
    node = tree.nodes.new("ShaderNodeMath")
    node.operation = operation
    node.name = f"{_AOV_PREFIX} math"
    for i, v in enumerate((a, b, c)):
        if v is None:
            continue
        if isinstance(v, bpy.types.NodeSocket):
            tree.links.new(v, node.inputs[i])
        else:
            node.inputs[i].default_value = v
    return node.outputs[0]


def build_plate_material(texture: dict, stain: StainParams | None):
    """The brushed-aluminium plate material for one sample, rebuilt from its parameters."""
    material = bpy.data.materials.get(PLATE_MATERIAL) or bpy.data.materials.new(PLATE_MATERIAL)
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
    if stain is not None:
        group = add_water_stain(material, stain)
        if stain.roughness:
            rough = _math(
                tree, "MULTIPLY_ADD", group.outputs["Rim"], stain.roughness, texture["roughness"]
            )
            rough.node.name = "SeqCore Stain Roughness"
            tree.links.new(rough, bsdf.inputs["Roughness"])
    else:
        wire_stain_aovs(material)
    return material
