"""The add-on's settings: one PropertyGroup on the scene (stain, scene and dataset settings)."""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from .core.camera import CameraView
from .core.sample_spec import LIGHTS, DatasetSettings, SampleSpec, sample_texture
from .core.water_stain import StainParams

__all__ = ["SEQCORE_PG_settings", "classes", "dataset_settings", "scene_spec", "stain_params"]

_LIGHT_ITEMS = [
    ("hex", "Hexagonal", "Hexagonal light around the camera (the real system's)"),
    ("hex_rot90", "Hexagonal, rotated 90°", "The hexagonal light rotated 90° about Z"),
    ("hex_x2", "Hexagonal, 2× size", "The hexagonal light scaled 2×"),
    ("ring", "Ring", "Circular ring light"),
]


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


def dataset_settings(settings) -> DatasetSettings:
    impurities = ["water_stain"]  # the variant decides whether stains are drawn
    impurities += [
        n
        for n, on in (("fingerprint", settings.fingerprints), ("sticker", settings.stickers))
        if on
    ]
    defect_settings = None
    if settings.defects or settings.fingerprints or settings.stickers:
        from .core import defects

        others = tuple(x for x in impurities if x != "water_stain")
        kwargs = {} if settings.defects else {"defect_count": (0, 0)}
        kwargs.update({"impurity_classes": others} if others else {"impurity_count": (0, 0)})
        defect_settings = defects.DefectSettings(**kwargs)
    return DatasetSettings(
        count=settings.count,
        seed=settings.dataset_seed,
        resolution=(settings.resolution_x, settings.resolution_y),
        samples=settings.samples,
        variant=settings.variant,
        lights=tuple(x for x in LIGHTS if x in settings.lights) or ("hex",),
        split=settings.split,
        view_width_mm=settings.view_width_mm,
        defects=settings.defects,
        impurities=tuple(impurities),
        denoise=settings.denoise,
        defect_settings=defect_settings,
    )


classes = (SEQCORE_PG_settings,)
