"""The names a user picks from (no bpy): lights, variants, splits, classes, impurities, placements,
presets and devices, each defined once with its sidebar label.

render.py's options, the sidebar's enums, the sample specs, the scene and the benches import them from
here; the modules that give a name its meaning (`lights`, `defect_params`, `defect_presets`) key their
tables by these names, and a test checks that the tables and the names agree.
"""

from __future__ import annotations

from .._schemas import schemas

__all__ = [
    "BIT_DEPTHS",
    "DEFAULT_DOMAIN",
    "DEFAULT_LIGHT",
    "DEFAULT_LIGHT_MODE",
    "DEFAULT_SPLIT",
    "DEFECT_CLASSES",
    "DEVICES",
    "DOMAINS",
    "FAMILY_LABELS",
    "HEX",
    "HEX_ROT90",
    "HEX_X2",
    "IMPURITIES",
    "IMPURITY_CLASSES",
    "LABELS",
    "LIGHTS",
    "LIGHT_MODES",
    "PLACEMENTS",
    "PRESETS",
    "RESOLUTION_PRESETS",
    "RING",
    "SCENE_LIGHTS",
    "SCENE_LIGHT_ORIGINAL",
    "SPLITS",
    "VARIANTS",
    "WATER_STAIN",
    "enum_items",
]

HEX, HEX_ROT90, HEX_X2, RING = "hex", "hex_rot90", "hex_x2", "ring"
LIGHTS = (HEX, HEX_ROT90, HEX_X2, RING)
DEFAULT_LIGHT = HEX  # the real system's
VARIANTS = ("paired", "clean", "stained")  # paired: every plate rendered clean and stained
SPLITS = schemas.SPLITS
DEFAULT_SPLIT = "train"
DEFECT_CLASSES = ("scratch", "bump", "dent")
IMPURITY_CLASSES = ("fingerprint", "sticker")  # drawn into the surface layer, like the defects
WATER_STAIN = "water_stain"  # an impurity too, but drawn by the plate's shader
IMPURITIES = (WATER_STAIN, *IMPURITY_CLASSES)
PLACEMENTS = ("random", "next_to_defect")  # where impurities go
# content presets: which defects and impurities each plate gets (core.defect_presets); the target-*
# ones render the "target" domain, the stand-in for the paper's real photographs
PRESETS = ("demo-val", "demo-test", "target-train", "target-val", "target-test")
RESOLUTION_PRESETS = ("sensor", "cpu")  # image size and view width (core.resolution_presets)
DEVICES = ("cpu", "gpu")
DOMAINS = ("synthetic", "target")  # target: differs like photographs (core.target_domain)
DEFAULT_DOMAIN = "synthetic"
LIGHT_MODES = ("random", "each")  # several lights: one drawn per plate, or every plate under each
DEFAULT_LIGHT_MODE = "random"
BIT_DEPTHS = (8, 16)  # bits per channel of the RGB images
# a user's scene (`render.py --scene`): its own lights as they are, rotated 90 degrees about the world Z
# axis through the stained objects' centre, doubled in size, or both (core.scene_spec.LIGHT_CHANGES)
SCENE_LIGHT_ORIGINAL = "original"
SCENE_LIGHTS = (SCENE_LIGHT_ORIGINAL, "rot90", "x2", "rot90_x2")

# (label, description) of every name, for the sidebar's enums
LABELS = {
    HEX: ("Hexagonal", "Hexagonal light around the camera (the real system's)"),
    HEX_ROT90: ("Hexagonal, rotated 90°", "The hexagonal light rotated 90° about Z"),
    HEX_X2: ("Hexagonal, 2× size", "The hexagonal light scaled 2×"),
    RING: ("Ring", "Circular ring light"),
    "paired": ("Paired", "Each plate clean and stained, same texture and seed"),
    "clean": ("Clean", "No water stains"),
    "stained": ("Stained", "With water stains"),
    "train": ("Train", ""),
    "val": ("Validation", ""),
    "test": ("Test", ""),
    "scratch": ("Scratch", "Long thin curved groove, varying width and depth"),
    "bump": ("Bump", "Smooth raised area with a soft border"),
    "dent": ("Dent", "Depression with distinct edges and an inner pattern"),
    "random": ("Random", "Anywhere in view, apart from each other"),
    "next_to_defect": ("Next to Defect", "Each impurity right beside a defect"),
    "demo-val": ("Demo Validation", "Fixed mix of clean, defect and impurity plates"),
    "demo-test": ("Demo Test", "Fixed mix of clean, defect and impurity plates"),
    "target-train": ("Target Train", "Target domain: nominal plates, clean (no impurities)"),
    "target-val": (
        "Target Validation",
        "Target domain: defect and impurity mix of Demo Validation",
    ),
    "target-test": ("Target Test", "Target domain: defect and impurity mix of Demo Test"),
    "cpu": ("CPU", "Cycles on the CPU"),
    "gpu": ("GPU", "CUDA/OptiX/HIP/Metal if present"),
    "synthetic": ("Synthetic", "The rendered scene as it is"),
    "target": ("Target", "The same scene made to differ like photographs"),
    "8": ("8 bits", "8 bits per channel"),
    "16": ("16 bits", "16 bits per channel"),
    "original": ("Original", "The scene's lights as they are"),
    "rot90": ("Rotated 90°", "The scene's lights rotated 90° about the world Z axis"),
    "x2": ("2× Size", "The scene's lights twice their size (same power)"),
    "rot90_x2": ("Rotated 90°, 2× Size", "The scene's lights rotated 90° and twice their size"),
}
# Names that mean something else in another family ("random" placement, "cpu" device), by family.
FAMILY_LABELS = {
    "light_mode": {
        "random": ("Random", "One light drawn per plate"),
        "each": ("Each", "Every plate under every light (ids get the light's name)"),
    },
    "resolution_preset": {
        "sensor": ("Sensor", "2448 x 2050 px on 48 mm, the paper's camera"),
        "cpu": ("CPU", "612 x 512 px on 20 mm: 0.1 mm scratches at least 3 px wide"),
    },
}


def enum_items(names, family: str = "") -> list[tuple[str, str, str]]:
    """(identifier, label, description) items of an enum property, in the order given; `family`
    picks the labels of names another family shares (FAMILY_LABELS).

    Blender stores an enum by its item's position, so an order once released must not change.
    """
    labels = {**LABELS, **FAMILY_LABELS.get(family, {})}
    return [(str(name), *labels[str(name)]) for name in names]
