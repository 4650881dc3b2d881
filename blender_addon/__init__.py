"""SeqCore Blender extension: water stains (paper Algorithm 1), inspection scene, dataset rendering.

register()/unregister() only; bpy is imported lazily so `blender_addon.core` works without Blender.
"""

__all__ = ["register", "unregister"]


def _modules():
    from . import operators, preferences, properties, ui

    return (preferences, properties, operators, ui)


def register():
    import bpy

    for module in _modules():
        for cls in module.classes:
            bpy.utils.register_class(cls)
    from .properties import SEQCORE_PG_settings, register_material_property

    bpy.types.Scene.seqcore = bpy.props.PointerProperty(type=SEQCORE_PG_settings)
    register_material_property()  # Material.seqcore_stain: the Water Stains checkbox


def unregister():
    import bpy

    from .operators import cancel_all_jobs

    cancel_all_jobs()  # no background render outlives the add-on
    if hasattr(bpy.types.Scene, "seqcore"):
        del bpy.types.Scene.seqcore
    if hasattr(bpy.types.Material, "seqcore_stain"):
        from .properties import unregister_material_property

        unregister_material_property()
    for module in reversed(_modules()):
        for cls in reversed(module.classes):
            bpy.utils.unregister_class(cls)
