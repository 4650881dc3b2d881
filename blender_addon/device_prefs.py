"""Rendering on the GPU without changing the user's preferences.

`configure_device` must switch the Cycles add-on preferences (compute device type, devices in use)
to pick a GPU, and Blender saves dirty preferences on quit. `device_preferences_kept` puts those
values, the device list and the preferences' dirty flag back as they were, whatever the block did.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import bpy

__all__ = ["device_preferences_kept"]


def _cycles_preferences():
    addon = bpy.context.preferences.addons.get("cycles")
    return addon.preferences if addon is not None else None


@contextmanager
def device_preferences_kept() -> Iterator[None]:
    prefs = bpy.context.preferences
    cycles = _cycles_preferences()
    was_dirty = prefs.is_dirty
    if cycles is not None:
        device_type = cycles.compute_device_type
        used = {(d.id, d.type): d.use for d in cycles.devices}
    try:
        yield
    finally:
        if cycles is not None:
            if cycles.compute_device_type != device_type:
                try:
                    cycles.compute_device_type = device_type
                except TypeError:  # a saved backend this Blender lacks reads as "" (unsettable)
                    pass
            for index in reversed(range(len(cycles.devices))):
                device = cycles.devices[index]
                key = (device.id, device.type)
                if key in used:
                    device.use = used[key]
                else:  # listed by refresh_devices() during the block
                    cycles.devices.remove(index)
        prefs.is_dirty = was_dirty
