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

from .core.camera import CameraView
from .core.defects import SIZE_FIELDS, DefectSettings
from .core.sample_spec import LIGHTS, DatasetSettings, SampleSpec, sample_texture
from .core.water_stain import StainParams

__all__ = [
    "SEQCORE_PG_settings",
    "classes",
    "dataset_settings",
    "defect_preview_spec",
    "defect_settings",
    "scene_spec",
    "stain_params",
]

_LIGHT_ITEMS = [
    ("hex", "Hexagonal", "Hexagonal light around the camera (the real system's)"),
    ("hex_rot90", "Hexagonal, rotated 90°", "The hexagonal light rotated 90° about Z"),
    ("hex_x2", "Hexagonal, 2× size", "The hexagonal light scaled 2×"),
    ("ring", "Ring", "Circular ring light"),
]


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
    light: EnumProperty(name="Light", items=_LIGHT_ITEMS, default="hex")
    texture_seed: IntProperty(name="Texture Seed", default=0, min=0)
    view_width_mm: FloatProperty(name="View Width (mm)", default=40.0, min=1.0, max=200.0)
    resolution_x: IntProperty(name="Width", default=306, min=8, max=8192)
    resolution_y: IntProperty(name="Height", default=256, min=8, max=8192)
    samples: IntProperty(name="Samples", default=16, min=1, max=4096)
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
    count: IntProperty(name="Plates", default=8, min=1)
    dataset_seed: IntProperty(name="Dataset Seed", default=0, min=0)
    variant: EnumProperty(
        name="Variant",
        items=[
            ("paired", "Paired", "Each plate clean and stained, same texture and seed"),
            ("clean", "Clean", "No water stains"),
            ("stained", "Stained", "With water stains"),
        ],
        default="paired",
    )
    lights: EnumProperty(
        name="Lights",
        items=_LIGHT_ITEMS,
        options={"ENUM_FLAG"},
        default={"hex"},
        description="Lights to mix over the dataset",
    )
    split: EnumProperty(
        name="Split",
        items=[("train", "Train", ""), ("val", "Validation", ""), ("test", "Test", "")],
        default="train",
    )
    defects: BoolProperty(name="Defects", default=False, description="Scratches, bumps, dents")
    fingerprints: BoolProperty(name="Fingerprints", default=False)
    stickers: BoolProperty(name="Stickers", default=False)

    # defects and impurities (helper B, core.defects): counts per image, classes, sizes
    defect_count: IntVectorProperty(name="Defects per Image", size=2, default=(1, 3), min=0)
    defect_classes: EnumProperty(
        name="Defect Classes",
        items=[
            ("scratch", "Scratch", "Long thin curved groove, varying width and depth"),
            ("bump", "Bump", "Smooth raised area with a soft border"),
            ("dent", "Dent", "Depression with distinct edges and an inner pattern"),
        ],
        options={"ENUM_FLAG"},
        default={"scratch", "bump", "dent"},
    )
    impurity_count: IntVectorProperty(
        name="Fingerprints/Stickers per Image", size=2, default=(0, 1), min=0
    )
    placement: EnumProperty(
        name="Placement",
        items=[
            ("random", "Random", "Anywhere in view, apart from each other"),
            ("next_to_defect", "Next to Defect", "Each impurity right beside a defect"),
        ],
        default="random",
    )
    preset: EnumProperty(
        name="Preset",
        items=[
            ("none", "None", "Counts and classes as set here"),
            ("demo-val", "Demo Validation", "Fixed mix of clean, defect and impurity plates"),
            ("demo-test", "Demo Test", "Fixed mix of clean, defect and impurity plates"),
        ],
        default="none",
        description="A fixed per-plate mix; overrides the counts, classes and water stains",
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


def defect_settings(settings) -> DefectSettings:
    """The sidebar's defect/impurity settings (ValueError with the field name when inconsistent)."""
    others = tuple(
        n
        for n, on in (("fingerprint", settings.fingerprints), ("sticker", settings.stickers))
        if on
    )
    return DefectSettings(
        defect_count=tuple(settings.defect_count) if settings.defects else (0, 0),
        defect_classes=tuple(
            c for c in ("scratch", "bump", "dent") if c in settings.defect_classes
        ),
        impurity_count=tuple(settings.impurity_count) if others else (0, 0),
        impurity_classes=others,
        placement=settings.placement,
        **{name: tuple(getattr(settings, name)) for name in SIZE_FIELDS},
    )


def defect_preview_spec(settings) -> SampleSpec:
    """The scene spec with defects/impurities drawn from the sidebar (dataset seed) for the view."""
    from dataclasses import replace

    from .core.camera import view_rect_mm
    from .core.defects import sample_instances

    spec = scene_spec(settings)
    rect = view_rect_mm(spec.camera, spec.resolution)
    rng = np.random.default_rng(settings.dataset_seed)
    instances = sample_instances(rng, defect_settings(settings), rect)
    return replace(spec, defects=tuple(i.to_dict() for i in instances))


def dataset_settings(settings) -> DatasetSettings:
    impurities = ["water_stain"]  # the variant decides whether stains are drawn
    impurities += [
        n
        for n, on in (("fingerprint", settings.fingerprints), ("sticker", settings.stickers))
        if on
    ]
    preset = "" if settings.preset == "none" else settings.preset
    # a preset renders each plate once, stained or clean as its plan says
    variant = "stained" if preset and settings.variant == "paired" else settings.variant
    defect_settings_ = None
    if settings.defects or settings.fingerprints or settings.stickers or preset:
        defect_settings_ = defect_settings(settings)
    return DatasetSettings(
        count=settings.count,
        seed=settings.dataset_seed,
        resolution=(settings.resolution_x, settings.resolution_y),
        samples=settings.samples,
        variant=variant,
        lights=tuple(x for x in LIGHTS if x in settings.lights) or ("hex",),
        split=settings.split,
        view_width_mm=settings.view_width_mm,
        defects=settings.defects,
        impurities=tuple(impurities),
        denoise=settings.denoise,
        defect_settings=defect_settings_,
        preset=preset,
    )


classes = (SEQCORE_PG_settings,)
