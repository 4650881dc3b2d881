"""The inspection scene built, idempotently, from one SampleSpec.

It renders in a scene of its own ("SeqCore Inspection"), never in the startup scene, whose 2 m cube
would enclose plate, camera and light and be all the plate reflects. Objects live in a "SeqCore"
collection: the plate ("SeqCore Plate", 100 x 120 mm, top at z = 0, local
coordinates in metres), a perpendicular camera and the light (hexagonal bar ring around the camera, rotated
or scaled, or a circular ring; `core.lights`) as an emissive mesh so its reflection in the plate is the
bright field.
"""

from __future__ import annotations

import math

import bpy

from ..core import look
from ..core.camera import PLATE_SIZE_MM, SENSOR_WIDTH_MM, focal_length_mm, view_rect_mm
from ..core.defect_params import instances_from_dicts
from ..core.defect_raster import rasterize
from ..core.lights import light_mesh
from ..core.masks import AOV_NAMES
from ..core.sample_spec import SampleSpec
from ..nodes.helpers import math_node, node_tree_of
from ..nodes.surface_layer import apply_surface_layer
from .materials import build_plate_material, owned_material

__all__ = [
    "CAMERA_NAME",
    "COLLECTION_NAME",
    "LIGHT_NAME",
    "LIGHT_STRENGTH",
    "PLATE_NAME",
    "SCENE_NAME",
    "build_scene",
    "dataset_output",
    "ensure_aovs",
    "inspection_scene",
]

SCENE_NAME = "SeqCore Inspection"
COLLECTION_NAME = "SeqCore"
PLATE_NAME = "SeqCore Plate"
CAMERA_NAME = "SeqCore Camera"
LIGHT_NAME = "SeqCore Light"
# The peak emission (core.look; core.lights.emission_profile scales it): the band's glow puts the
# bright field of a 0.8-reflectance plate at ~0.6 linear (~200 of 255), unclipped; the line along
# its middle reaches several times the clip level, so a stain's darker rim (reflectance - 0.25..0.5)
# still clips there and fades, as in the paper's over-exposed areas (Appendix A).
LIGHT_STRENGTH = look.LIGHT_STRENGTH
EMISSION_ATTRIBUTE = "seqcore_emission"  # per-vertex emission profile of the light's band
_LAYER_OVERSAMPLING = 2.0  # surface layer pixels per image pixel


def _collection(scene):
    coll = bpy.data.collections.get(COLLECTION_NAME)
    if coll is None:
        coll = bpy.data.collections.new(COLLECTION_NAME)
    if coll.name not in scene.collection.children:
        scene.collection.children.link(coll)
    return coll


def _object(name: str, data, coll):
    """Get or create object `name` showing `data`; replaced data is left for the orphan purge."""
    obj = bpy.data.objects.get(name)
    if obj is None:
        obj = bpy.data.objects.new(name, data)
    elif obj.data is not data:
        obj.data = data
    if obj.name not in coll.objects:
        coll.objects.link(obj)
    return obj


def _plate_mesh():
    mesh = bpy.data.meshes.get(PLATE_NAME)
    if mesh is None:
        sx, sy = (v / 2000.0 for v in PLATE_SIZE_MM)
        mesh = bpy.data.meshes.new(PLATE_NAME)
        mesh.from_pydata(
            [(-sx, -sy, 0), (sx, -sy, 0), (sx, sy, 0), (-sx, sy, 0)], [], [(0, 1, 2, 3)]
        )
        mesh.update()
    return mesh


def _light_mesh(kind: str, distance_m: float):
    name = f"{LIGHT_NAME} {kind} {distance_m:.4f}"
    mesh = bpy.data.meshes.get(name)
    if mesh is None:
        verts, faces, emission = light_mesh(kind, distance_m)
        mesh = bpy.data.meshes.new(name)
        mesh.from_pydata(verts, [], faces)
        mesh.attributes.new(EMISSION_ATTRIBUTE, "FLOAT", "POINT").data.foreach_set(
            "value", emission
        )
        mesh.update()
    material = owned_material(LIGHT_NAME)
    tree = node_tree_of(material)
    emission = tree.nodes.get("Emission")
    if emission is None or tree.nodes.get("Profile") is None:
        tree.nodes.clear()
        emission = tree.nodes.new("ShaderNodeEmission")
        profile = tree.nodes.new("ShaderNodeAttribute")
        profile.name = "Profile"
        profile.attribute_type = "GEOMETRY"
        profile.attribute_name = EMISSION_ATTRIBUTE
        scale = math_node(tree, "MULTIPLY", profile.outputs["Fac"], LIGHT_STRENGTH, name="Peak")
        tree.links.new(scale, emission.inputs["Strength"])
        out = tree.nodes.new("ShaderNodeOutputMaterial")
        tree.links.new(emission.outputs[0], out.inputs["Surface"])
    tree.nodes["Peak"].inputs[1].default_value = LIGHT_STRENGTH
    if not mesh.materials:
        mesh.materials.append(material)
    return mesh


def ensure_aovs(view_layer) -> None:
    """Register the value AOVs the plate material and its surface layer write."""
    for name in AOV_NAMES:
        if name not in view_layer.aovs:
            aov = view_layer.aovs.add()
            aov.name = name
            aov.type = "VALUE"


def _render_settings(scene, spec: SampleSpec) -> None:
    cycles = scene.cycles
    # light tree off: for this one mesh light ~40 % less dark-field noise at 16 spp and ~30 % less CPU
    # per image (bench/render_noise.py, BENCHMARKS.md `render`)
    cycles.use_light_tree = False
    # a flat metal plate under an emitter: camera -> plate -> light needs one glossy bounce
    cycles.max_bounces = 2
    cycles.diffuse_bounces = 1
    cycles.glossy_bounces = 2
    cycles.transmission_bounces = 0
    cycles.volume_bounces = 0
    cycles.transparent_max_bounces = 2
    cycles.caustics_reflective = False
    cycles.caustics_refractive = False
    scene.render.pixel_aspect_x = scene.render.pixel_aspect_y = 1.0
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.view_settings.exposure = 0.0
    dataset_output(scene, spec)


def dataset_output(scene, spec) -> None:
    """What every dataset render needs, the plate's or a user's scene's: `spec`'s samples, Cycles
    seed, image size and denoising, the same samples everywhere, no metadata, an 8-bit RGB PNG."""
    scene.render.engine = "CYCLES"
    cycles = scene.cycles
    cycles.samples = spec.samples
    cycles.seed = spec.sampling_seed
    cycles.use_animated_seed = False
    cycles.use_adaptive_sampling = False  # same samples everywhere: pairs and AOVs stay comparable
    cycles.use_denoising = spec.denoise
    scene.render.resolution_x, scene.render.resolution_y = spec.resolution
    scene.render.resolution_percentage = 100
    scene.render.use_persistent_data = False
    for prop in scene.render.bl_rna.properties:  # no date/time metadata: same spec, same bytes
        if prop.identifier.startswith("use_stamp") and not prop.is_readonly:
            setattr(scene.render, prop.identifier, False)
    image = scene.render.image_settings
    if hasattr(image, "media_type"):  # Blender >= 5.0
        image.media_type = "IMAGE"
    image.file_format = "PNG"
    image.color_mode = "RGB"
    image.color_depth = "8"
    image.compression = 15


def _world(scene) -> None:
    """The hall (core.look): radiance by the cosine of a direction's angle from the zenith, dark
    near the plate's normal and bright beyond the ramp (a Map Range, clamped)."""
    world = bpy.data.worlds.get("SeqCore World") or bpy.data.worlds.new("SeqCore World")
    world.color = (0.0, 0.0, 0.0)
    tree = node_tree_of(world)
    background, hall = tree.nodes.get("Background"), tree.nodes.get("Hall")
    if background is None or hall is None:
        tree.nodes.clear()
        background = tree.nodes.new("ShaderNodeBackground")
        out = tree.nodes.new("ShaderNodeOutputWorld")
        tree.links.new(background.outputs[0], out.inputs["Surface"])
        direction = tree.nodes.new("ShaderNodeTexCoord")  # a world's Generated: the ray direction
        split = tree.nodes.new("ShaderNodeSeparateXYZ")
        tree.links.new(direction.outputs["Generated"], split.inputs[0])
        hall = tree.nodes.new("ShaderNodeMapRange")
        hall.name = "Hall"
        hall.clamp = True
        tree.links.new(split.outputs["Z"], hall.inputs["Value"])
        tree.links.new(hall.outputs["Result"], background.inputs["Strength"])
    dark_deg, bright_deg = look.HALL_ZENITH_DEG
    dark, bright = look.HALL_RADIANCE
    hall.inputs["From Min"].default_value = math.cos(math.radians(bright_deg))
    hall.inputs["From Max"].default_value = math.cos(math.radians(dark_deg))
    hall.inputs["To Min"].default_value = bright
    hall.inputs["To Max"].default_value = dark
    background.inputs["Color"].default_value = (1.0, 1.0, 1.0, 1.0)
    scene.world = world


def inspection_scene():
    """The scene the built-in plate renders in, made on first use; it holds only SeqCore's objects."""
    return bpy.data.scenes.get(SCENE_NAME) or bpy.data.scenes.new(SCENE_NAME)


def build_scene(spec: SampleSpec, scene=None) -> dict:
    """Create or update every SeqCore object of `scene` (by default the inspection scene) to render
    `spec`. Returns the objects."""
    scene = scene or inspection_scene()
    coll = _collection(scene)
    plate = _object(PLATE_NAME, _plate_mesh(), coll)
    plate.location, plate.rotation_euler, plate.scale = (0, 0, 0), (0, 0, 0), (1, 1, 1)
    material = build_plate_material(spec.texture, spec.stain)
    if spec.instances:
        _apply_surface_layer(material, spec)
    if not plate.data.materials:
        plate.data.materials.append(material)
    else:
        plate.data.materials[0] = material

    cam_data = bpy.data.cameras.get(CAMERA_NAME) or bpy.data.cameras.new(CAMERA_NAME)
    cam_data.type = "PERSP"
    cam_data.sensor_fit = "HORIZONTAL"
    cam_data.sensor_width = SENSOR_WIDTH_MM
    cam_data.lens = focal_length_mm(spec.camera)
    cam_data.clip_start, cam_data.clip_end = 0.01, 10.0
    cam_data.shift_x = cam_data.shift_y = 0.0
    camera = _object(CAMERA_NAME, cam_data, coll)
    cx, cy = spec.camera.center_mm
    camera.location = (cx / 1000.0, cy / 1000.0, spec.camera.distance_m)
    camera.rotation_euler = (0.0, 0.0, 0.0)
    scene.camera = camera

    light = _object(LIGHT_NAME, _light_mesh(spec.light, spec.camera.distance_m), coll)
    light.location = camera.location
    light.visible_camera = False

    _world(scene)
    _render_settings(scene, spec)
    ensure_aovs(scene.view_layers[0])
    return {"plate": plate, "camera": camera, "light": light, "material": material}


def _apply_surface_layer(material, spec: SampleSpec) -> None:
    """The defects and impurities, rasterised over the view and spliced into the plate material."""
    instances = instances_from_dicts(list(spec.instances))
    rect = view_rect_mm(spec.camera, spec.resolution)
    image_px_per_mm = spec.resolution[0] / (rect[2] - rect[0])
    layer = rasterize(
        instances, rect, _LAYER_OVERSAMPLING * image_px_per_mm, image_px_per_mm=image_px_per_mm
    )
    apply_surface_layer(material, layer)
