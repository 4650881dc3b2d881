"""The add-on's errors: problems a user can fix, each told in one line (no bpy).

render.py and the operators catch `SeqCoreAddonError` alone and print its message; anything else is a
bug and keeps its traceback. Each class also derives from the built-in error it used to be, so callers
that catch `ValueError` or `RuntimeError` keep working.
"""

from __future__ import annotations

__all__ = [
    "DeviceError",
    "ExrError",
    "MaterialError",
    "RenderSetupError",
    "SeqCoreAddonError",
    "SettingsError",
]


class SeqCoreAddonError(Exception):
    """Base of the add-on's user-facing errors; the message is one line for the user."""


class SettingsError(SeqCoreAddonError, ValueError):
    """Options or settings that cannot be rendered: a bad value, or two that conflict."""


class RenderSetupError(SeqCoreAddonError, ValueError):
    """A problem with the output folder or its manifests (unwritable, other settings, shards)."""


class DeviceError(SeqCoreAddonError, RuntimeError):
    """The requested render device is not available."""


class ExrError(SeqCoreAddonError, ValueError):
    """An EXR file the reader cannot decode; the message names the file."""


class MaterialError(SeqCoreAddonError, ValueError):
    """A material that lacks what the add-on needs to change it (a Principled BSDF, an output)."""
