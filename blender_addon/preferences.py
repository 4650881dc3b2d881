"""Add-on preferences: default output folder and render device (CPU, or which GPUs)."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty

from .core.errors import SettingsError
from .core.gpu_selection import render_device
from .core.vocabulary import DEVICES, enum_items

__all__ = ["SEQCORE_AP_preferences", "classes", "get_preferences", "render_device_spec"]

# Cycles' backend names (core.gpu_selection); stored by position: append new ones at the end
_BACKEND_ITEMS = [
    ("AUTO", "Automatic", "The first of OptiX, CUDA, HIP, Metal, oneAPI with a GPU"),
    ("OPTIX", "OptiX", "NVIDIA GPUs through OptiX"),
    ("CUDA", "CUDA", "NVIDIA GPUs through CUDA"),
    ("HIP", "HIP", "AMD GPUs"),
    ("ONEAPI", "oneAPI", "Intel GPUs"),
    ("METAL", "Metal", "Apple GPUs"),
]

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
    gpu_backend: EnumProperty(
        name="GPU Backend",
        items=_BACKEND_ITEMS,
        default="AUTO",
        description="Cycles backend of GPU renders (render.py --gpu-backend)",
    )
    gpu_ids: StringProperty(
        name="GPU IDs",
        default="",
        description="GPUs to render on, e.g. 0,2: numbered from 0 in the backend's list in "
        "Preferences > System (render.py --gpu-ids); empty: all",
    )

    def draw(self, context):
        self.layout.prop(self, "default_output")
        self.layout.prop(self, "device")
        if self.device == "gpu":
            self.layout.prop(self, "gpu_backend")
            self.layout.prop(self, "gpu_ids")


class _Defaults:
    """Each preference's declared default, read from the registered class."""

    def __getattr__(self, name):
        return SEQCORE_AP_preferences.bl_rna.properties[name].default


def get_preferences(context):
    """The preferences, or their defaults when the add-on was registered without being enabled."""
    addon = context.preferences.addons.get(_ROOT)
    return addon.preferences if addon is not None and addon.preferences else _Defaults()


def render_device_spec(prefs) -> str:
    """The device the preferences ask for, in core.gpu_selection's one-string form ("gpu:cuda:0")."""
    if prefs.device != "gpu":  # the GPU fields are kept for later, not used for CPU renders
        return "cpu"
    backend = None if prefs.gpu_backend == "AUTO" else prefs.gpu_backend
    try:
        return render_device("gpu", backend, prefs.gpu_ids.strip() or None).spec()
    except SettingsError as exc:
        raise SettingsError(f"SeqCore preferences: {exc}") from None


classes = (SEQCORE_AP_preferences,)
