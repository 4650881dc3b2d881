"""The add-on's settings: one PropertyGroup on the scene (stain, scene and dataset settings)."""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import (
    BoolProperty,
    EnumProperty,
    FloatProperty,
    FloatVectorProperty,
    IntProperty,
    IntVectorProperty,
    StringProperty,
)

from .core import vocabulary as vocab
from .core.camera import IMAGE_WIDTH, VIEW_WIDTH_MM, CameraView
from .core.defects import SIZE_FIELDS, DefectSettings
from .core.render_options import DEFAULT_COUNT, DEFAULT_SAMPLES, RenderOptions, option, to_settings
from .core.render_plan import preview_sample
from .core.sample_spec import (
    STAIN_RADIUS_MM,
    STAIN_SPACING,
    DatasetSettings,
    SampleSpec,
    default_resolution,
    sample_texture,
)
from .core.water_stain import StainParams

__all__ = [
    "NO_PRESET",
    "PRESET_DOMAIN",
    "SEQCORE_PG_settings",
    "classes",
    "dataset_settings",
    "defect_preview_spec",
    "register_material_property",
    "render_options",
    "scene_render_options",
    "scene_spec",
    "unregister_material_property",
    "stain_params",
]

NO_PRESET = "none"  # the preset enums' "no preset" item
PRESET_DOMAIN = "preset"  # the domain enum's "as the content preset says" item
_DEFECT_DEFAULTS = DefectSettings()


def _size_range(field: str, name: str, description: str = ""):
    """A (min, max) size range in mm, defaulting to DefectSettings'."""
    return FloatVectorProperty(
        name=name,
        size=2,
        default=getattr(_DEFECT_DEFAULTS, field),
        min=0.001,
        soft_max=100.0,
        precision=3,
        description=description or "Minimum and maximum, in millimetres",
    )


class SEQCORE_PG_settings(bpy.types.PropertyGroup):
    # water stain (paper Algorithm 1), lengths in millimetres for the UI
    stain_radius_mm: FloatProperty(name="Radius r (mm)", default=3.0, min=0.01, soft_max=20.0)
    stain_frequency: FloatProperty(name="Perlin Frequency f (1/m)", default=400.0, min=0.0)
    stain_amplitude_mm: FloatProperty(name="Perlin Amplitude A (mm)", default=0.8, soft_max=10.0)
    stain_gamma: FloatProperty(name="Decay γ", default=3.0, min=0.0, soft_max=20.0)
    stain_alpha: FloatProperty(name="Intensity α", default=-0.3, soft_min=-1.0, soft_max=1.0)
    stain_cell_mm: FloatProperty(name="Cell Size G (mm)", default=12.0, min=0.01, soft_max=100.0)
    stain_jitter: FloatProperty(name="Jitter", default=1.0, min=0.0, max=1.0, subtype="FACTOR")
    stain_seed: IntProperty(name="Stain Seed", default=0, min=0, max=99_999)
    stain_roughness: FloatProperty(name="Rim Roughness", default=0.05, min=0.0, max=1.0)
    stained: BoolProperty(name="Water Stains", default=True, description="Stain the plate")

    # scene
    light: EnumProperty(
        name="Light", items=vocab.enum_items(vocab.LIGHTS), default=vocab.DEFAULT_LIGHT
    )
    texture_seed: IntProperty(name="Texture Seed", default=0, min=0)
    view_width_mm: FloatProperty(name="View Width (mm)", default=VIEW_WIDTH_MM, min=1.0, max=200.0)
    resolution_x: IntProperty(name="Width", default=IMAGE_WIDTH, min=8, max=8192)
    resolution_y: IntProperty(name="Height", default=default_resolution()[1], min=8, max=8192)
    samples: IntProperty(name="Samples", default=DEFAULT_SAMPLES, min=1, max=4096)
    denoise: BoolProperty(
        name="Denoise",
        default=False,
        description="Denoise (pairs then differ slightly outside the stains)",
    )

    # dataset
    output_dir: StringProperty(
        name="Output Folder",
        default="",
        subtype="DIR_PATH",
        description="Empty: the add-on preferences' default folder",
    )
    count: IntProperty(name="Plates", default=DEFAULT_COUNT, min=1)
    dataset_seed: IntProperty(name="Dataset Seed", default=0, min=0)
    variant: EnumProperty(
        name="Variant", items=vocab.enum_items(vocab.VARIANTS), default=vocab.VARIANTS[0]
    )
    lights: EnumProperty(
        name="Lights",
        items=vocab.enum_items(vocab.LIGHTS),
        options={"ENUM_FLAG"},
        default={vocab.DEFAULT_LIGHT},
        description="Lights to mix over the dataset",
    )
    light_mode: EnumProperty(
        name="Light Mode",
        items=vocab.enum_items(vocab.LIGHT_MODES, "light_mode"),
        default=vocab.DEFAULT_LIGHT_MODE,
        description=option("light_mode").help,
    )
    split: EnumProperty(
        name="Split", items=vocab.enum_items(vocab.SPLITS), default=vocab.DEFAULT_SPLIT
    )
    resolution_preset: EnumProperty(
        name="Resolution Preset",
        items=[
            (NO_PRESET, "None", "Width, height and view width as set in Inspection Scene"),
            *vocab.enum_items(vocab.RESOLUTION_PRESETS, "resolution_preset"),
        ],
        default=NO_PRESET,
        description=option("resolution_preset").help,
    )
    domain: EnumProperty(
        name="Domain",
        items=[
            (PRESET_DOMAIN, "From Preset", "Target for the target-* presets, else synthetic"),
            *vocab.enum_items(vocab.DOMAINS),
        ],
        default=PRESET_DOMAIN,
        description=option("domain").help,
    )
    bit_depth: EnumProperty(
        name="Bit Depth",
        items=vocab.enum_items(vocab.BIT_DEPTHS),
        default=str(vocab.BIT_DEPTHS[0]),
        description=option("bit_depth").help,
    )
    grid: IntVectorProperty(
        name="Views (N x M)", size=2, default=(1, 1), min=1, description=option("grid").help
    )
    defects: BoolProperty(name="Defects", default=False, description="Scratches, bumps, dents")
    fingerprints: BoolProperty(name="Fingerprints", default=False)
    stickers: BoolProperty(name="Stickers", default=False)

    # defects and impurities (core.defects): counts per image, classes, sizes
    defect_count: IntVectorProperty(
        name="Defects per Image", size=2, default=_DEFECT_DEFAULTS.defect_count, min=0
    )
    defect_classes: EnumProperty(
        name="Defect Classes",
        items=vocab.enum_items(vocab.DEFECT_CLASSES),
        options={"ENUM_FLAG"},
        default=set(vocab.DEFECT_CLASSES),
    )
    impurity_count: IntVectorProperty(
        name="Fingerprints/Stickers per Image",
        size=2,
        default=_DEFECT_DEFAULTS.impurity_count,
        min=0,
    )
    placement: EnumProperty(
        name="Placement",
        items=vocab.enum_items(vocab.PLACEMENTS),
        default=_DEFECT_DEFAULTS.placement,
    )
    preset: EnumProperty(
        name="Preset",
        items=[
            (NO_PRESET, "None", "Counts and classes as set here"),
            *vocab.enum_items(vocab.PRESETS),
        ],
        default=NO_PRESET,
        description="A fixed per-plate mix of defects, impurities and water stains; renders each "
        "plate once (variant stained or clean)",
    )
    scratch_length_mm: _size_range("scratch_length_mm", "Scratch Length")
    scratch_width_mm: _size_range("scratch_width_mm", "Scratch Width")
    scratch_depth_mm: _size_range("scratch_depth_mm", "Scratch Depth")
    bump_radius_mm: _size_range("bump_radius_mm", "Bump Radius")
    bump_height_mm: _size_range("bump_height_mm", "Bump Height")
    dent_radius_mm: _size_range("dent_radius_mm", "Dent Radius")
    dent_depth_mm: _size_range("dent_depth_mm", "Dent Depth")
    fingerprint_size_mm: _size_range("fingerprint_size_mm", "Fingerprint Size")
    sticker_size_mm: _size_range("sticker_size_mm", "Sticker Size")
    sticker_thickness_mm: _size_range("sticker_thickness_mm", "Sticker Thickness")

    # Render This Scene: a dataset of the open file (core.scene_spec)
    scene_cameras: StringProperty(
        name="Cameras",
        default="",
        description="Comma-separated camera names; empty: every camera of the scene",
    )
    scene_lights: EnumProperty(
        name="Scene Lights",
        items=vocab.enum_items(vocab.SCENE_LIGHTS),
        options={"ENUM_FLAG"},
        default={vocab.SCENE_LIGHT_ORIGINAL},
        description=option("scene_lights").help,
    )
    stain_radius_range: FloatVectorProperty(
        name="Stain Radius (mm)",
        size=2,
        default=STAIN_RADIUS_MM,
        min=0.01,
        soft_max=50.0,
        description=option("stain_radius_mm").help,
    )
    stain_spacing: FloatVectorProperty(
        name="Stain Spacing (radii)",
        size=2,
        default=STAIN_SPACING,
        min=0.5,
        soft_max=20.0,
        description=option("stain_spacing").help,
    )
    camera_jitter_mm: FloatProperty(
        name="Camera Jitter (mm)", default=0.0, min=0.0, description=option("camera_jitter_mm").help
    )
    camera_jitter_deg: FloatProperty(
        name="Camera Jitter (°)",
        default=0.0,
        min=0.0,
        max=45.0,
        description=option("camera_jitter_deg").help,
    )


def _material_stain_property():
    """Material.seqcore_stain: the material gets water stains in "Render This Scene" datasets."""
    return BoolProperty(
        name="Water Stains",
        default=False,
        description="Render This Scene (and render.py --scene) puts water stains on this "
        "material; it needs a Principled BSDF",
    )


def stain_params(settings) -> StainParams:
    return StainParams(
        radius=settings.stain_radius_mm / 1000.0,
        frequency=settings.stain_frequency,
        amplitude=settings.stain_amplitude_mm / 1000.0,
        gamma=settings.stain_gamma,
        alpha=settings.stain_alpha,
        cell_size=settings.stain_cell_mm / 1000.0,
        jitter=settings.stain_jitter,
        seed=settings.stain_seed,
        roughness=settings.stain_roughness,
    )


def scene_spec(settings) -> SampleSpec:
    """The spec the 'Build Scene' button shows: the sidebar's stain and scene settings."""
    return SampleSpec(
        texture=sample_texture(np.random.default_rng(settings.texture_seed)),
        light=settings.light,
        camera=CameraView(width_mm=settings.view_width_mm),
        resolution=(settings.resolution_x, settings.resolution_y),
        samples=settings.samples,
        sampling_seed=settings.texture_seed,
        stain=stain_params(settings) if settings.stained else None,
        denoise=settings.denoise,
    )


def render_options(settings) -> RenderOptions:
    """The sidebar's dataset, defect and impurity settings as render options (core.render_options)."""
    # the toggles are named after the classes: fingerprints, stickers
    drawn = tuple(c for c in vocab.IMPURITY_CLASSES if getattr(settings, f"{c}s"))
    sized = settings.resolution_preset != NO_PRESET  # the preset's size and view width
    return RenderOptions(
        count=settings.count,
        seed=settings.dataset_seed,
        resolution=None if sized else (settings.resolution_x, settings.resolution_y),
        samples=settings.samples,
        variant=settings.variant,
        lights=tuple(x for x in vocab.LIGHTS if x in settings.lights),
        split=settings.split,
        view_width_mm=None if sized else settings.view_width_mm,
        grid=tuple(settings.grid),
        defect_count=tuple(settings.defect_count) if settings.defects else None,
        defect_classes=tuple(c for c in vocab.DEFECT_CLASSES if c in settings.defect_classes),
        impurities=(
            vocab.WATER_STAIN,
            *drawn,
        ),  # the variant decides whether water stains are drawn
        impurity_count=tuple(settings.impurity_count),
        placement=settings.placement,
        sizes=tuple((name, tuple(getattr(settings, name))) for name in SIZE_FIELDS),
        denoise=settings.denoise,
        preset="" if settings.preset == NO_PRESET else settings.preset,
        resolution_preset=settings.resolution_preset if sized else "",
        domain=None if settings.domain == PRESET_DOMAIN else settings.domain,
        light_mode=settings.light_mode,
        bit_depth=int(settings.bit_depth),
    )


def scene_render_options(settings, blend_path: str) -> RenderOptions:
    """What Render This Scene renders: the saved file, its marked materials (read by the render
    from the file), and the dataset settings a user's scene shares with the plate."""
    return RenderOptions(
        count=settings.count,
        seed=settings.dataset_seed,
        samples=settings.samples,
        variant=settings.variant,
        split=settings.split,
        light_mode=settings.light_mode,
        bit_depth=int(settings.bit_depth),
        denoise=settings.denoise,
        scene=blend_path,
        cameras=tuple(c.strip() for c in settings.scene_cameras.split(",") if c.strip()),
        scene_lights=tuple(x for x in vocab.SCENE_LIGHTS if x in settings.scene_lights),
        stain_radius_mm=tuple(settings.stain_radius_range),
        stain_spacing=tuple(settings.stain_spacing),
        camera_jitter_mm=settings.camera_jitter_mm,
        camera_jitter_deg=settings.camera_jitter_deg,
    )


def dataset_settings(settings) -> DatasetSettings:
    """What Render Dataset renders; a SettingsError (one line) when the settings conflict."""
    return to_settings(render_options(settings))


def defect_preview_spec(settings) -> SampleSpec:
    """Plate 0 exactly as Render Dataset renders it: texture, light, stains, defects and impurities."""
    return preview_sample(dataset_settings(settings)).spec


def register_material_property() -> None:
    bpy.types.Material.seqcore_stain = _material_stain_property()


def unregister_material_property() -> None:
    del bpy.types.Material.seqcore_stain


classes = (SEQCORE_PG_settings,)
