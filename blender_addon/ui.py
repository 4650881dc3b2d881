"""The "SeqCore" tab in the 3D viewport sidebar."""

from __future__ import annotations

import bpy

from .core.defects import SIZE_FIELDS
from .operators import running_jobs

__all__ = ["classes"]


class _SeqCorePanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "SeqCore"


class VIEW3D_PT_seqcore_scene(_SeqCorePanel, bpy.types.Panel):
    bl_label = "Inspection Scene"

    def draw(self, context):
        s = context.scene.seqcore
        col = self.layout.column()
        col.prop(s, "light")
        col.prop(s, "texture_seed")
        col.prop(s, "view_width_mm")
        row = col.row(align=True)
        row.prop(s, "resolution_x")
        row.prop(s, "resolution_y")
        col.prop(s, "samples")
        col.prop(s, "denoise")
        col.prop(s, "stained")
        col.operator("seqcore.build_scene", icon="SCENE_DATA")


class VIEW3D_PT_seqcore_stain(_SeqCorePanel, bpy.types.Panel):
    bl_label = "Water Stain"

    def draw(self, context):
        s = context.scene.seqcore
        col = self.layout.column()
        for name in (
            "stain_radius_mm",
            "stain_frequency",
            "stain_amplitude_mm",
            "stain_gamma",
            "stain_alpha",
            "stain_cell_mm",
            "stain_jitter",
            "stain_seed",
            "stain_roughness",
        ):
            col.prop(s, name)
        col.operator("seqcore.add_water_stain", icon="MATERIAL")


class VIEW3D_PT_seqcore_dataset(_SeqCorePanel, bpy.types.Panel):
    bl_label = "Dataset"

    def draw(self, context):
        s = context.scene.seqcore
        col = self.layout.column()
        col.prop(s, "output_dir")
        col.prop(s, "count")
        col.prop(s, "dataset_seed")
        col.prop(s, "variant")
        col.label(text="Lights")
        col.row(align=True).prop(s, "lights")
        col.prop(s, "light_mode")
        col.prop(s, "split")
        col.prop(s, "preset")  # defects and impurities: see their panel
        col.prop(s, "domain")
        col.prop(s, "resolution_preset")  # else the Inspection Scene's size and view width
        col.prop(s, "grid")
        col.prop(s, "bit_depth")
        col.operator("seqcore.render_dataset", icon="RENDER_ANIMATION")
        for out, state in running_jobs().items():  # background renders (operators.py)
            box = col.box()
            box.label(text=f"Rendering {out.name} (Esc cancels)", icon="TIME")
            text = state.last or "starting Blender..."
            box.progress(factor=state.done / state.total if state.total else 0.0, text=text)


class VIEW3D_PT_seqcore_defects(_SeqCorePanel, bpy.types.Panel):
    bl_label = "Defects and Impurities"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        s = context.scene.seqcore
        col = self.layout.column()
        row = col.row(align=True)
        row.prop(s, "defects", toggle=True)
        row.prop(s, "fingerprints", toggle=True)
        row.prop(s, "stickers", toggle=True)
        sub = col.column()
        sub.enabled = s.defects
        sub.prop(s, "defect_count")
        sub.row(align=True).prop(s, "defect_classes")
        sub = col.column()
        sub.enabled = s.fingerprints or s.stickers
        sub.prop(s, "impurity_count")
        sub.prop(s, "placement")
        col.prop(s, "preset")
        box = col.box()
        box.label(text="Sizes (min, max) in mm")
        for name in SIZE_FIELDS:
            box.row(align=True).prop(s, name)
        col.operator("seqcore.preview_defects", icon="MOD_DISPLACE")


class VIEW3D_PT_seqcore_this_scene(_SeqCorePanel, bpy.types.Panel):
    """Your own part: a dataset of the saved file (Output Folder, count, seed, variant, split, light
    mode, samples and bit depth are the Dataset panel's)."""

    bl_label = "Render This Scene"
    bl_parent_id = "VIEW3D_PT_seqcore_dataset"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        s = context.scene.seqcore
        col = self.layout.column()
        material = context.active_object.active_material if context.active_object else None
        if material is not None:
            col.prop(material, "seqcore_stain", text=f"Water Stains on {material.name}")
        col.prop(s, "scene_cameras")
        col.label(text="Scene Lights")
        col.row(align=True).prop(s, "scene_lights")
        col.prop(s, "stain_radius_range")
        col.prop(s, "stain_spacing")
        col.prop(s, "camera_jitter_mm")
        col.prop(s, "camera_jitter_deg")
        col.operator("seqcore.render_this_scene", icon="RENDER_ANIMATION")


classes = (
    VIEW3D_PT_seqcore_scene,
    VIEW3D_PT_seqcore_stain,
    VIEW3D_PT_seqcore_defects,
    VIEW3D_PT_seqcore_dataset,
    VIEW3D_PT_seqcore_this_scene,
)
