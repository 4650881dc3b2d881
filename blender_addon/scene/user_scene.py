"""A user's .blend as a dataset: open it, check it, render each `SceneSpec` into the dataset writer.

The file is opened in place (so its relative paths resolve) and never saved. Everything the run
changes is set absolutely from values read once when the file opened, never changed step by step,
so sample k renders the same bytes whichever samples came before it (a resumed run equals an
uninterrupted one):

- the marked materials get the "SeqCore Water Stain" group on their Principled BSDF's Base Color
  (`materials.add_water_stain`) for a stained sample, and lose it again for a clean one; they write
  the AOV `seqcore_plate` = 1, which is the valid mask: the surfaces that can be stained. Every
  other material writes no SeqCore AOV (any it had is removed), so its pixels are 0 there;
- the lights are set from their original pose and size (`core.scene_spec.LIGHT_CHANGES`);
- the camera from its original pose and the sample's jitter.

Cycles keeps the file's settings (bounces, light tree, view transform, world) except those a dataset
needs: the sample count, a fixed seed, adaptive sampling and denoising off, the image size, no
stamps, PNG output, and the compositor, which writes the AOVs (the file's own compositing is not
applied).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import bpy
from mathutils import Euler, Matrix, Vector

from ..core.errors import MaterialError, SettingsError
from ..core.render_options import RenderOptions, to_scene_settings
from ..core.scene_spec import LIGHT_CHANGES, SceneSettings, SceneSpec, file_sha256, plan_scene
from ..nodes.helpers import principal_bsdf
from .build import dataset_output, ensure_aovs
from .dataset_render import render_dataset
from .materials import add_water_stain, remove_stain_aovs, remove_water_stain, wire_stain_aovs
from .render_sample import RenderedSample, render_scene_once

__all__ = [
    "MARK_PROPERTY",
    "UserScene",
    "marked_materials",
    "open_user_scene",
    "render_scene_dataset",
]

MARK_PROPERTY = "seqcore_stain"  # Material.seqcore_stain, the sidebar's "Water Stains" checkbox


def marked_materials() -> tuple[str, ...]:
    """Materials whose checkbox is ticked, read from where Blender stores it, so a background
    Blender without the add-on registered reads it too."""
    return tuple(sorted(m.name for m in bpy.data.materials if _is_marked(m)))


def _is_marked(material) -> bool:
    # Blender >= 5.0 keeps add-on properties apart from custom properties; 4.x among them
    system = getattr(material, "bl_system_properties_get", None)
    stored = system() if system is not None else None
    if stored is not None and stored.get(MARK_PROPERTY):
        return True
    return bool(material.get(MARK_PROPERTY))


def _names(items) -> str:
    return ", ".join(sorted(items)) or "none"


@dataclass
class _Light:
    obj: object
    matrix: Matrix
    sizes: dict  # light data attribute -> original value


_SIZE_ATTRIBUTES = {  # what "twice the size" scales, per light type
    "POINT": ("shadow_soft_size",),
    "SPOT": ("shadow_soft_size",),
    "AREA": ("size", "size_y"),
    "SUN": ("angle",),
}


class UserScene:
    """The opened file's scene, checked, with the originals every sample starts from."""

    def __init__(self, scene, settings: SceneSettings):
        self.scene = scene
        self.settings = settings
        path = settings.scene_path
        self.materials = []
        for name in settings.stain_materials:
            material = bpy.data.materials[name]
            try:
                principal_bsdf(material, "to stain")
            except MaterialError as exc:
                raise MaterialError(f"{path}: {exc}") from None
            material.use_fake_user = True  # the orphan purge between samples must keep it
            self.materials.append(material)
        stained = [
            obj
            for obj in scene.objects
            if obj.type == "MESH" and any(m in self.materials for m in _materials_of(obj))
        ]
        if not stained:
            raise SettingsError(
                f"{path}: no object of scene {scene.name!r} uses the marked materials "
                f"({_names(settings.stain_materials)})"
            )
        corners = [obj.matrix_world @ Vector(c) for obj in stained for c in obj.bound_box]
        self.pivot = sum(corners, Vector()) / len(corners)
        self.cameras = {
            name: (scene.objects[name], scene.objects[name].matrix_world.copy())
            for name in settings.cameras
        }
        self.lights = [
            _Light(
                obj,
                obj.matrix_world.copy(),
                {a: getattr(obj.data, a) for a in _SIZE_ATTRIBUTES.get(obj.data.type, ())},
            )
            for obj in scene.objects
            if obj.type == "LIGHT"
        ]
        for material in bpy.data.materials:  # only the marked ones mark the valid surface
            if material not in self.materials and material.node_tree is not None:
                remove_stain_aovs(material)
        for view_layer in scene.view_layers:
            ensure_aovs(view_layer)

    def _pose_lights(self, light: str) -> None:
        change = LIGHT_CHANGES[light]
        turn = (
            Matrix.Translation(self.pivot)
            @ Matrix.Rotation(math.radians(change.rotate_deg), 4, "Z")
            @ Matrix.Translation(-self.pivot)
        )
        for item in self.lights:
            item.obj.matrix_world = turn @ item.matrix
        for item in self.lights:  # data shared by several lights: set from the originals once
            for attribute, value in item.sizes.items():
                setattr(item.obj.data, attribute, value * change.scale)

    def _pose_camera(self, spec: SceneSpec):
        obj, matrix = self.cameras[spec.camera]
        metres = 0.001 / (self.scene.unit_settings.scale_length or 1.0)  # mm in Blender units
        offset = Vector(spec.camera_offset_mm) * metres
        turn = Euler([math.radians(a) for a in spec.camera_rotation_deg]).to_matrix().to_4x4()
        obj.matrix_world = Matrix.Translation(offset) @ matrix @ turn
        self.scene.camera = obj

    def render(self, spec: SceneSpec, work_dir: Path, scene=None) -> RenderedSample:
        """`core.scene_spec`'s spec as a render (the dataset writer's `renderer`)."""
        self._pose_lights(spec.light)
        self._pose_camera(spec)
        for material in self.materials:
            remove_water_stain(material)
            if spec.stain is not None:
                add_water_stain(material, spec.stain)
            else:  # clean: the surface is still valid, the stain AOVs read 0
                wire_stain_aovs(material)
        dataset_output(self.scene, spec)
        self.scene.render.use_border = False  # the whole image: masks and image agree in size
        return render_scene_once(self.scene, work_dir)


def _materials_of(obj) -> list:
    return [slot.material for slot in obj.material_slots if slot.material is not None]


def open_user_scene(options: RenderOptions) -> UserScene:
    """Open `options.scene` (never saved), check what the options name and build the settings.

    Every problem is one SettingsError / MaterialError line naming the file, before anything is
    written.
    """
    path = Path(options.scene)
    sha256 = file_sha256(path)
    try:
        bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False, use_scripts=False)
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
        raise SettingsError(f"{path}: Blender cannot open it ({reason})") from None
    scene = bpy.context.scene
    cameras_here = [o.name for o in scene.objects if o.type == "CAMERA"]
    if not cameras_here:
        raise SettingsError(f"{path}: scene {scene.name!r} has no camera")
    cameras = options.cameras or tuple(sorted(cameras_here))
    unknown = [c for c in cameras if c not in cameras_here]
    if unknown:
        raise SettingsError(
            f"{path}: no camera {unknown[0]!r} in scene {scene.name!r} "
            f"(cameras: {_names(cameras_here)})"
        )
    materials_here = [m.name for m in bpy.data.materials]
    unknown = [m for m in options.stain_materials if m not in materials_here]
    if unknown:
        raise SettingsError(
            f"{path}: no material {unknown[0]!r} (materials: {_names(materials_here)})"
        )
    stain_materials = options.stain_materials or marked_materials()
    if not stain_materials:
        raise SettingsError(
            f"{path}: no material is marked for water stains: tick Water Stains on a material "
            f"or pass --stain-material NAME (materials: {_names(materials_here)})"
        )
    render = scene.render
    resolution = tuple(
        max(1, round(v * render.resolution_percentage / 100))
        for v in (render.resolution_x, render.resolution_y)
    )
    settings = to_scene_settings(options, sha256, cameras, stain_materials, resolution)
    return UserScene(scene, settings)


def render_scene_dataset(job: UserScene, out, shard=None, device: str = "cpu"):
    """`dataset_render.render_dataset` for the opened scene: progress after each sample."""
    return render_dataset(
        job.settings, out, shard, device, job.scene, planner=plan_scene, renderer=job.render
    )
