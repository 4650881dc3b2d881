"""Add-on preferences: default output folder and render device."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty

from .core.vocabulary import DEVICES, enum_items

__all__ = ["SEQCORE_AP_preferences", "classes", "get_preferences"]

_ROOT = __package__  # "blender_addon", or "bl_ext.<repo>.seqcore" when installed as an extension


class SEQCORE_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = _ROOT

    default_output: StringProperty(
        name="Default Output Folder",
        subtype="DIR_PATH",
        default="//seqcore_dataset",
        description="Where Render Dataset writes when the panel's folder is empty; relative "
        "folders are next to the saved .blend file, else in the extension's user folder",
    )
    device: EnumProperty(
        name="Device",
        items=enum_items(DEVICES),
        default=DEVICES[0],
        description="Render device of Render Dataset; choosing GPU never changes Blender's own "
        "Cycles device preferences",
    )

    def draw(self, context):
        self.layout.prop(self, "default_output")
        self.layout.prop(self, "device")


class _Defaults:
    """Each preference's declared default, read from the registered class."""

    def __getattr__(self, name):
        return SEQCORE_AP_preferences.bl_rna.properties[name].default


def get_preferences(context):
    """The preferences, or their defaults when the add-on was registered without being enabled."""
    addon = context.preferences.addons.get(_ROOT)
    return addon.preferences if addon is not None and addon.preferences else _Defaults()


classes = (SEQCORE_AP_preferences,)
