"""Node plumbing shared by the node groups, the plate material and the surface layer.

Idempotent group interfaces, terse Math / Vector Math nodes, and the lookups every material edit
starts from (its node tree, its principal BSDF).
"""

from __future__ import annotations

import bpy

from ..core.errors import MaterialError

__all__ = [
    "BSDF_NAME",
    "SocketSpec",
    "ensure_group",
    "math_node",
    "node_tree_of",
    "principal_bsdf",
    "vector_math_node",
]

BSDF_NAME = "SeqCore BSDF"  # the plate material's BSDF; other materials use their first Principled


class SocketSpec(tuple):
    """(name, in_out, socket_type, default, extra) with extra a dict of interface-socket attributes."""

    def __new__(cls, name, in_out, socket_type, default=None, **extra):
        return super().__new__(cls, (name, in_out, socket_type, default, extra))


def _interface_matches(tree, sockets) -> bool:
    items = [i for i in tree.interface.items_tree if i.item_type == "SOCKET"]
    have = [(i.name, i.in_out, i.socket_type) for i in items]
    want = [(s[0], s[1], s[2]) for s in sockets]
    # Blender lists outputs before inputs; compare each side in its own order
    return all(
        [x for x in have if x[1] == side] == [x for x in want if x[1] == side]
        for side in ("INPUT", "OUTPUT")
    )


def ensure_group(name: str, sockets, tree_type: str = "ShaderNodeTree"):
    """Get or create node group `name` with exactly these sockets; its nodes are cleared for rebuilding.

    An unchanged interface is kept as is, so group nodes already placed in materials keep their links
    and values when the group is refreshed.
    """
    tree = bpy.data.node_groups.get(name)
    if tree is None or tree.bl_idname != tree_type:
        tree = bpy.data.node_groups.new(name, tree_type)
    if not _interface_matches(tree, sockets):
        tree.interface.clear()
        for sock_name, in_out, socket_type, default, extra in sockets:
            item = tree.interface.new_socket(sock_name, in_out=in_out, socket_type=socket_type)
            if default is not None and hasattr(item, "default_value"):
                item.default_value = default
            for key, value in extra.items():
                setattr(item, key, value)
    tree.nodes.clear()
    return tree


def math_node(tree, operation: str, a=None, b=None, c=None, label: str = "", name: str = ""):
    """A Math node; a/b/c are output sockets to link or numbers to set. Returns its output."""
    node = tree.nodes.new("ShaderNodeMath")
    node.operation = operation
    if name:
        node.name = name
    if label:
        node.label = label
    for i, value in enumerate((a, b, c)):
        _feed(tree, node.inputs[i], value)
    return node.outputs[0]


def vector_math_node(tree, operation: str, a=None, b=None, scale=None, label: str = ""):
    """A Vector Math node; returns its vector output (or value output for LENGTH/DOT_PRODUCT...)."""
    node = tree.nodes.new("ShaderNodeVectorMath")
    node.operation = operation
    if label:
        node.label = label
    _feed(tree, node.inputs[0], a)
    _feed(tree, node.inputs[1], b)
    if scale is not None:
        _feed(tree, node.inputs["Scale"], scale)
    value_ops = {"LENGTH", "DISTANCE", "DOT_PRODUCT"}
    return node.outputs["Value" if operation in value_ops else "Vector"]


def _feed(tree, socket, value) -> None:
    if value is None:
        return
    if isinstance(value, bpy.types.NodeSocket):
        tree.links.new(value, socket)
    else:
        socket.default_value = value


def node_tree_of(idblock):
    """The node tree of a material or world; Blender < 5.0 creates it only with `use_nodes`."""
    if idblock.node_tree is None:
        idblock.use_nodes = True
    return idblock.node_tree


def principal_bsdf(material, purpose: str):
    """'SeqCore BSDF', else the first Principled BSDF; a MaterialError naming `purpose` if none."""
    nodes = node_tree_of(material).nodes
    node = nodes.get(BSDF_NAME)
    if node is None:
        node = next((n for n in nodes if n.bl_idname == "ShaderNodeBsdfPrincipled"), None)
    if node is None:
        raise MaterialError(f"material {material.name!r} has no Principled BSDF {purpose}")
    return node
