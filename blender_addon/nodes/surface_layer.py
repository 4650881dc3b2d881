"""Splice a defect/impurity `SurfaceLayer` (core.defect_raster) into a material.

The layer's arrays become two float images mapped with the object's LOCAL coordinates (metres; the
plate's frame, see core.camera), so the same pixels that shape the surface also write the mask:

- height (mm) -> Bump node (metres, Distance 1: the physical slope of the height field) chained in
  front of whatever already feeds the BSDF's Normal (the brushing grooves);
- roughness delta -> added to the BSDF's Roughness (clamped to [0, 1]);
- albedo RGB + coverage -> a diffuse "label" BSDF (sticker paper, fingerprint residue) mixed over
  the material's surface shader with the coverage as factor; it shares the bumped normal;
- instance index -> value AOV ``seqcore_defect_id`` through a CLOSEST-interpolated texture, so the
  mask holds exact indices (1-based into the layer's instance list, 0 = none), and 1 inside any
  instance -> ``seqcore_defect_mask``: the pixel filter averages both alike, so their ratio gives
  the index even on border pixels.

Outside the layer the textures CLIP to zero: no bump, no change, no id. Applying twice replaces the
previous layer; `remove_surface_layer` restores the original links, and removes its images.
"""

from __future__ import annotations

import bpy
import numpy as np

from ..core.defect_raster import SurfaceLayer
from ..core.errors import MaterialError
from ..core.masks import AOV_DEFECT_ID, AOV_DEFECT_MASK
from .helpers import principal_bsdf

__all__ = [
    "LAYER_PREFIX",
    "apply_surface_layer",
    "layer_images",
    "purge_layer_images",
    "remove_surface_layer",
]

LAYER_PREFIX = "SeqCore Layer"
_LABEL_ROUGHNESS = 0.55
_PURPOSE = "for the defect layer"


def _output(material):
    outputs = [n for n in material.node_tree.nodes if n.bl_idname == "ShaderNodeOutputMaterial"]
    if not outputs:
        raise MaterialError(f"material {material.name!r} has no Material Output")
    return next((n for n in outputs if n.is_active_output), outputs[0])


def _image_names(material) -> tuple[str, str]:
    return f"{LAYER_PREFIX} {material.name}", f"{LAYER_PREFIX} Albedo {material.name}"


def layer_images(material) -> list:
    """The layer images of `material` that exist."""
    return [bpy.data.images[n] for n in _image_names(material) if n in bpy.data.images]


def _float_image(name: str, rgba: np.ndarray):
    """A Non-Color float image holding `rgba` (H, W, 4); row 0 is the image's bottom."""
    height, width = rgba.shape[:2]
    old = bpy.data.images.get(name)
    if old is not None:
        bpy.data.images.remove(old)
    image = bpy.data.images.new(name, width, height, alpha=True, float_buffer=True)
    image.colorspace_settings.name = "Non-Color"
    image.alpha_mode = "CHANNEL_PACKED"  # four independent channels, no alpha association
    image.pixels.foreach_set(np.ascontiguousarray(rgba, dtype=np.float32).ravel())
    image.update()
    return image


def _node(tree, kind: str, name: str, location):
    node = tree.nodes.new(kind)
    node.name = node.label = f"{LAYER_PREFIX} {name}"
    node.location = location
    return node


def _source(socket):
    """The socket linked into `socket`, or None."""
    return socket.links[0].from_socket if socket.is_linked else None


def remove_surface_layer(material, purge_images: bool = True) -> bool:
    """Undo `apply_surface_layer`: relink what fed the BSDF and output, drop our nodes (and images).

    Returns whether a layer was found.
    """
    tree = material.node_tree
    ours = [n for n in tree.nodes if n.name.startswith(LAYER_PREFIX)]
    if not ours:
        return False
    bsdf, output = principal_bsdf(material, _PURPOSE), _output(material)
    bump = tree.nodes.get(f"{LAYER_PREFIX} Bump")
    if bump is not None:
        upstream = _source(bump.inputs["Normal"])
        for link in list(bsdf.inputs["Normal"].links):
            tree.links.remove(link)
        if upstream is not None:
            tree.links.new(upstream, bsdf.inputs["Normal"])
    rough = tree.nodes.get(f"{LAYER_PREFIX} Roughness")
    if rough is not None:
        upstream = _source(rough.inputs[0])
        if upstream is not None:
            tree.links.new(upstream, bsdf.inputs["Roughness"])
        else:
            for link in list(bsdf.inputs["Roughness"].links):
                tree.links.remove(link)
            bsdf.inputs["Roughness"].default_value = rough.inputs[0].default_value
    mix = tree.nodes.get(f"{LAYER_PREFIX} Mix")
    if mix is not None:
        upstream = _source(mix.inputs[1])
        if upstream is not None:
            tree.links.new(upstream, output.inputs["Surface"])
    for node in ours:
        tree.nodes.remove(node)
    if purge_images:
        purge_layer_images(material)
    return True


def purge_layer_images(material=None) -> int:
    """Remove the layer images of `material` (all SeqCore layer images when None). Returns the count."""
    if material is not None:
        images = layer_images(material)
    else:
        images = [i for i in bpy.data.images if i.name.startswith(LAYER_PREFIX)]
    for image in images:
        bpy.data.images.remove(image)
    return len(images)


def apply_surface_layer(material, layer: SurfaceLayer) -> None:
    """Splice `layer` into `material` (replacing a previous layer); see the module docstring."""
    remove_surface_layer(material, purge_images=False)
    tree = material.node_tree
    bsdf, output = principal_bsdf(material, _PURPOSE), _output(material)
    data = np.stack(
        [
            layer.height,
            layer.roughness,
            layer.instance.astype(np.float32),
            np.ones_like(layer.height),
        ],
        axis=-1,
    )
    data_name, albedo_name = _image_names(material)
    data_image = _float_image(data_name, data)
    albedo_image = _float_image(albedo_name, layer.albedo)

    x, y = bsdf.location.x - 1400, bsdf.location.y - 500
    coords = _node(tree, "ShaderNodeTexCoord", "Coordinates", (x, y))
    mapping = _node(tree, "ShaderNodeMapping", "Mapping", (x + 200, y))
    x0, y0, x1, y1 = layer.extent_mm
    width_m, height_m = (x1 - x0) / 1000.0, (y1 - y0) / 1000.0
    # uv = (local_m - origin_m) / size_m, as Scale then Location of a POINT mapping.
    mapping.inputs["Scale"].default_value = (1.0 / width_m, 1.0 / height_m, 1.0)
    mapping.inputs["Location"].default_value = (-x0 / 1000.0 / width_m, -y0 / 1000.0 / height_m, 0)
    tree.links.new(coords.outputs["Object"], mapping.inputs["Vector"])

    def texture(name, image, interpolation, location):
        node = _node(tree, "ShaderNodeTexImage", name, location)
        node.image = image
        node.interpolation = interpolation
        node.extension = "CLIP"  # zero outside the layer: no change, no id
        tree.links.new(mapping.outputs["Vector"], node.inputs["Vector"])
        return node

    smooth = texture("Data", data_image, "Linear", (x + 400, y))
    exact = texture("Index", data_image, "Closest", (x + 400, y - 300))
    albedo = texture("Albedo", albedo_image, "Linear", (x + 400, y - 600))
    split = _node(tree, "ShaderNodeSeparateColor", "Split", (x + 700, y))
    tree.links.new(smooth.outputs["Color"], split.inputs["Color"])
    index = _node(tree, "ShaderNodeSeparateColor", "Index Split", (x + 700, y - 300))
    tree.links.new(exact.outputs["Color"], index.inputs["Color"])

    metres = _node(tree, "ShaderNodeMath", "Height m", (x + 900, y))
    metres.operation = "MULTIPLY"
    metres.inputs[1].default_value = 0.001
    tree.links.new(split.outputs["Red"], metres.inputs[0])
    bump = _node(tree, "ShaderNodeBump", "Bump", (x + 1100, y))
    bump.inputs["Strength"].default_value = 1.0
    bump.inputs["Distance"].default_value = 1.0  # height already in metres: true slopes
    tree.links.new(metres.outputs[0], bump.inputs["Height"])
    upstream_normal = _source(bsdf.inputs["Normal"])
    if upstream_normal is not None:
        tree.links.new(upstream_normal, bump.inputs["Normal"])
    tree.links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])

    rough = _node(tree, "ShaderNodeMath", "Roughness", (x + 1100, y - 200))
    rough.operation = "ADD"
    rough.use_clamp = True
    upstream_rough = _source(bsdf.inputs["Roughness"])
    if upstream_rough is not None:
        tree.links.new(upstream_rough, rough.inputs[0])
    else:
        rough.inputs[0].default_value = bsdf.inputs["Roughness"].default_value
    tree.links.new(split.outputs["Green"], rough.inputs[1])
    tree.links.new(rough.outputs[0], bsdf.inputs["Roughness"])

    aov = _node(tree, "ShaderNodeOutputAOV", "Defect ID", (x + 1100, y - 400))
    aov.aov_name = AOV_DEFECT_ID
    tree.links.new(index.outputs["Blue"], aov.inputs["Value"])
    # Coverage next to the id: filtered AOVs average k * c at borders, the ratio recovers k.
    inside = _node(tree, "ShaderNodeMath", "Inside", (x + 900, y - 500))
    inside.operation = "GREATER_THAN"
    inside.inputs[1].default_value = 0.5
    tree.links.new(index.outputs["Blue"], inside.inputs[0])
    coverage = _node(tree, "ShaderNodeOutputAOV", "Defect Mask", (x + 1100, y - 550))
    coverage.aov_name = AOV_DEFECT_MASK
    tree.links.new(inside.outputs[0], coverage.inputs["Value"])

    label = _node(tree, "ShaderNodeBsdfPrincipled", "Label BSDF", (x + 1100, y - 700))
    label.inputs["Metallic"].default_value = 0.0
    label.inputs["Roughness"].default_value = _LABEL_ROUGHNESS
    tree.links.new(albedo.outputs["Color"], label.inputs["Base Color"])
    tree.links.new(bump.outputs["Normal"], label.inputs["Normal"])
    mix = _node(tree, "ShaderNodeMixShader", "Mix", (output.location.x - 200, output.location.y))
    surface = _source(output.inputs["Surface"])
    if surface is not None:
        tree.links.new(surface, mix.inputs[1])
    # the factor input is "Fac" before Blender 4.3 and "Factor" after: by index
    tree.links.new(albedo.outputs["Alpha"], mix.inputs[0])
    tree.links.new(label.outputs["BSDF"], mix.inputs[2])
    tree.links.new(mix.outputs["Shader"], output.inputs["Surface"])
