"""Add-on preferences: default output folder and render device."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty

__all__ = ["SEQCORE_AP_preferences", "classes", "get_preferences"]

_ROOT = __package__  # "blender_addon", or "bl_ext.<repo>.seqcore" when installed as an extension


class SEQCORE_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = _ROOT

    default_output: StringProperty(
        name="Default Output Folder",
        subtype="DIR_PATH",
        default="//seqcore_dataset",
        description="Where Render Dataset writes when the panel's folder is empty",
    )
    device: EnumProperty(
        name="Device",
        items=[
            ("cpu", "CPU", "Cycles on the CPU"),
            ("gpu", "GPU", "CUDA/OptiX/HIP/Metal if present"),
        ],
        default="cpu",
    )

    def draw(self, context):
        self.layout.prop(self, "default_output")
        self.layout.prop(self, "device")


class _Defaults:
    default_output = "//seqcore_dataset"
    device = "cpu"


def get_preferences(context):
    """The preferences, or their defaults when the add-on was registered without being enabled."""
    addon = context.preferences.addons.get(_ROOT)
    return addon.preferences if addon is not None and addon.preferences else _Defaults()


classes = (SEQCORE_AP_preferences,)
