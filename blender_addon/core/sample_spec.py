"""A sample's render parameters as data (no bpy), and their sampling from a seeded generator.

Rendering is a function of a `SampleSpec` alone, and a spec round-trips through the manifest's `params`,
so every image can be re-rendered from its manifest entry (or re-rendered with one defect removed).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .camera import (
    IMAGE_WIDTH,
    SENSOR_ASPECT,
    VIEW_WIDTH_MM,
    CameraView,
    grid_centers_mm,
    view_rect_mm,
)
from .defect_presets import plan_instances, preset_plan
from .defects import DefectSettings, sample_instances
from .errors import SettingsError
from .look import ROUGHNESS
from .target_domain import TARGET_STAIN_STREAM, TARGET_STREAM, clip_to_plate, target_plate
from .target_stains import place_residue_stains
from .vocabulary import (
    BIT_DEPTHS,
    DEFAULT_DOMAIN,
    DEFAULT_LIGHT,
    DEFAULT_LIGHT_MODE,
    DOMAINS,
    LIGHT_MODES,
    LIGHTS,
    VARIANTS,
    WATER_STAIN,
)
from .water_stain import StainParams

__all__ = [
    "LIGHT_STREAM",
    "STAIN_RADIUS_MM",
    "STAIN_SPACING",
    "STAIN_STREAM",
    "DatasetSettings",
    "SampleSpec",
    "check_choices",
    "default_resolution",
    "plate_rng",
    "sample_plate_specs",
    "sample_stain",
    "sample_texture",
]


def default_resolution(width: int = IMAGE_WIDTH) -> tuple[int, int]:
    """Resolution with the real sensor's 2448:2050 aspect."""
    return (width, max(1, round(width / SENSOR_ASPECT)))


@dataclass(frozen=True)
class SampleSpec:
    """Everything one render depends on. `stain is None` renders the clean variant.

    `instances` are the defects and impurities drawn into the surface layer, as `InstanceSpec.to_dict()`
    dicts; `params` keeps them under the key "defects", the name manifests have always used.
    """

    texture: dict
    light: str
    camera: CameraView
    resolution: tuple[int, int]
    samples: int
    sampling_seed: int
    stain: StainParams | None = None
    instances: tuple = ()
    denoise: bool = False
    target: dict | None = None  # the target domain's camera effects (core.target_domain), or None

    def without_stain(self) -> SampleSpec:
        return replace(self, stain=None)

    def to_params(self) -> dict:
        """JSON-ready dict for `Sample.params` (keys `texture` and `sampling_seed` are the pair contract)."""
        return {
            "texture": dict(self.texture),
            "light": self.light,
            "camera": self.camera.to_dict(),
            "resolution": list(self.resolution),
            "samples": self.samples,
            "sampling_seed": self.sampling_seed,
            "stain": self.stain.to_dict() if self.stain is not None else None,
            "defects": [dict(d) for d in self.instances],
            "denoise": self.denoise,
            **({"target": self.target} if self.target is not None else {}),
        }

    @classmethod
    def from_params(cls, d: dict) -> SampleSpec:
        stain = d.get("stain")
        return cls(
            texture=dict(d["texture"]),
            light=str(d["light"]),
            camera=CameraView.from_dict(d["camera"]),
            resolution=(int(d["resolution"][0]), int(d["resolution"][1])),
            samples=int(d["samples"]),
            sampling_seed=int(d["sampling_seed"]),
            stain=StainParams.from_dict(stain) if stain else None,
            instances=tuple(dict(x) for x in d.get("defects") or ()),
            denoise=bool(d.get("denoise", False)),
            target=dict(d["target"]) if d.get("target") is not None else None,
        )


def check_choices(settings, **known) -> None:
    """A SettingsError for the first field of `settings` whose value is not one of its names."""
    for name, names in known.items():
        value = getattr(settings, name)
        if value not in names:
            choices = ", ".join(map(str, names))
            raise SettingsError(f"{name} must be one of {choices}, not {value!r}")


@dataclass(frozen=True)
class DatasetSettings:
    """What render.py and the UI ask for; per-plate parameters are drawn from these and the seed."""

    count: int = 8
    seed: int = 0
    resolution: tuple[int, int] = field(default_factory=default_resolution)
    samples: int = 16
    variant: str = "paired"
    lights: tuple[str, ...] = (DEFAULT_LIGHT,)
    split: str = "train"
    view_width_mm: float = VIEW_WIDTH_MM
    grid: tuple[int, int] = (1, 1)
    defects: bool = False
    impurities: tuple[str, ...] = (WATER_STAIN,)
    denoise: bool = False
    defect_settings: DefectSettings | None = None  # when defects or impurities are drawn
    preset: str = ""  # core.defect_presets name: fixed per-plate mix of defects/impurities/stains
    domain: str = DEFAULT_DOMAIN  # "target": differs like photographs (core.target_domain)
    light_mode: str = DEFAULT_LIGHT_MODE  # "each": every plate under every light
    bit_depth: int = 8  # bits per channel of the RGB images
    # most roughness added at stain rims (our extension of Algorithm 1); 0: reflectance only
    stain_rim_roughness: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.stain_rim_roughness <= 1.0:
            raise SettingsError(
                f"stain_rim_roughness must be in [0, 1], not {self.stain_rim_roughness!r}"
            )
        check_choices(self, domain=DOMAINS, light_mode=LIGHT_MODES, bit_depth=BIT_DEPTHS)
        check_choices(self, variant=VARIANTS)
        bad = [x for x in self.lights if x not in LIGHTS]
        if bad or not self.lights:
            raise SettingsError(f"light must be one of {', '.join(LIGHTS)}, not {bad or 'nothing'}")

    def to_dict(self) -> dict:
        return {
            "count": self.count,
            "seed": self.seed,
            "resolution": list(self.resolution),
            "samples": self.samples,
            "variant": self.variant,
            "lights": list(self.lights),
            "split": self.split,
            "view_width_mm": self.view_width_mm,
            "grid": list(self.grid),
            "defects": self.defects,
            "impurities": list(self.impurities),
            "denoise": self.denoise,
            "defect_settings": (
                self.defect_settings.to_dict() if self.defect_settings is not None else None
            ),
            "preset": self.preset,
            # only when not the default, so datasets rendered before these options still resume
            **({"domain": self.domain} if self.domain != DEFAULT_DOMAIN else {}),
            **({"light_mode": self.light_mode} if self.light_mode != DEFAULT_LIGHT_MODE else {}),
            **({"bit_depth": self.bit_depth} if self.bit_depth != 8 else {}),
            **(
                {"stain_rim_roughness": self.stain_rim_roughness}
                if self.stain_rim_roughness
                else {}
            ),
        }


# plate_rng's streams, one per purpose; the target domain draws from TARGET_STREAM (4).
TEXTURE_STREAM = 0
STAIN_STREAM = 1
INSTANCE_STREAM = 2  # defects and impurities
LIGHT_STREAM = 3  # the light and the Cycles seed


def plate_rng(seed: int, plate: int, stream: int) -> np.random.Generator:
    """Independent streams per (dataset seed, plate, purpose): adding defects never moves the stains."""
    return np.random.default_rng([seed, plate, stream])


def sample_texture(rng: np.random.Generator) -> dict:
    """Brushed-aluminium parameters (parallel-groove texture model): one realisation per plate."""
    grey = rng.uniform(0.78, 0.9)
    tint = grey * (1.0 - rng.uniform(0.0, 0.04, size=3))
    return {
        "seed": int(rng.integers(0, 10_000)),
        "direction_deg": float(rng.normal(0.0, 1.5)),
        # 1500-3500 grooves per metre: 0.3-0.7 mm apart, >= 2 pixels at 306 px over 40 mm
        "groove_frequency": float(rng.uniform(1500.0, 3500.0)),
        "groove_stretch": float(rng.uniform(40.0, 120.0)),  # along / across length ratio
        # slopes ~ depth x frequency: enough to fray the reflection's edges into streaks
        "groove_depth": float(rng.uniform(0.05, 0.12)),
        # rough enough that the reflection's tails light the dark field and show the brushing
        "roughness": float(rng.uniform(*ROUGHNESS)),
        "anisotropy": float(rng.uniform(0.3, 0.6)),
        "tint": [float(v) for v in tint],
        # drawn last, so the draws above keep their values for a seed
        "streak_contrast": float(rng.uniform(0.08, 0.16)),
    }


STAIN_RADIUS_MM = (1.5, 4.0)  # the plate's water-stain radii
STAIN_SPACING = (3.0, 5.0)  # lattice cell size in stain radii: the smaller, the denser the stains


def sample_stain(
    rng: np.random.Generator,
    rim_roughness: float = 0.0,
    radius_mm: tuple[float, float] = STAIN_RADIUS_MM,
    spacing: tuple[float, float] = STAIN_SPACING,
) -> StainParams:
    """Water stains a few millimetres across, spread over a jittered 3-D grid.

    Algorithm 1 changes reflectance only; `rim_roughness` > 0 adds up to that much roughness at the
    rims (drawn uniformly; 0.15 gives the earlier default stains, a grey haze in the dark field).
    The draw happens either way, so the other parameters keep their values for a seed. `radius_mm`
    and `spacing` (cell size over radius) bound size and density; the defaults are the plate's.
    """
    radius = rng.uniform(radius_mm[0] / 1000.0, radius_mm[1] / 1000.0)
    return StainParams(
        radius=float(radius),
        frequency=float(rng.uniform(0.4, 1.2) / radius),
        amplitude=float(rng.uniform(0.15, 0.35) * radius),
        gamma=float(rng.uniform(2.0, 6.0)),
        alpha=float(rng.uniform(-0.5, -0.25)),
        cell_size=float(rng.uniform(*spacing) * radius),
        jitter=1.0,
        seed=int(rng.integers(0, 10_000)),
        roughness=float(rng.uniform(0.0, 1.0)) * rim_roughness,
    )


def sample_plate_specs(settings: DatasetSettings, plate: int, with_stain: bool) -> list[SampleSpec]:
    """The specs of one plate: one per grid position, same texture, stains and instances for all views.

    Defects and impurities are drawn over the plate region all views cover together.
    """
    texture = sample_texture(plate_rng(settings.seed, plate, TEXTURE_STREAM))
    stain = sample_stain(
        plate_rng(settings.seed, plate, STAIN_STREAM), settings.stain_rim_roughness
    )
    misc = plate_rng(settings.seed, plate, LIGHT_STREAM)
    light = settings.lights[int(misc.integers(0, len(settings.lights)))]
    sampling_seed = int(misc.integers(0, 2**31 - 1))
    centers = grid_centers_mm(*settings.grid) if settings.grid != (1, 1) else [(0.0, 0.0)]
    views = [CameraView(center_mm=c, width_mm=settings.view_width_mm) for c in centers]
    targets = [None] * len(views)
    if settings.domain == "target":  # its own stream: the plate's synthetic draws stay as they are
        rng = plate_rng(settings.seed, plate, TARGET_STREAM)
        texture, views, targets = target_plate(rng, texture, views, settings.resolution)
    plan = preset_plan(settings.preset, plate) if settings.preset else None
    use_stain = with_stain and (
        plan.water_stain if plan is not None else WATER_STAIN in settings.impurities
    )
    if plan is not None:
        wanted = bool(plan.classes)
    else:
        wanted = settings.defects or any(x != WATER_STAIN for x in settings.impurities)
    rects = [view_rect_mm(v, settings.resolution) for v in views]
    union = (
        min(r[0] for r in rects),
        min(r[1] for r in rects),
        max(r[2] for r in rects),
        max(r[3] for r in rects),
    )
    if settings.domain == "target":  # edge views see background: defects stay on the plate
        union = clip_to_plate(union)
    placed = []
    if wanted:
        defect_settings = settings.defect_settings or DefectSettings()
        if plan is not None:
            seed = [settings.seed, plate, INSTANCE_STREAM]
            placed = plan_instances(seed, plan, defect_settings, union)
        else:
            rng = plate_rng(settings.seed, plate, INSTANCE_STREAM)
            placed = sample_instances(rng, defect_settings, union)
    if use_stain and settings.domain == "target":  # stains of another model than Algorithm 1
        rng = plate_rng(settings.seed, plate, TARGET_STAIN_STREAM)
        placed = placed + place_residue_stains(rng, placed, union)
        use_stain = False
    instances = tuple(x.to_dict() for x in placed)
    return [
        SampleSpec(
            texture=texture,
            light=light,
            camera=view,
            resolution=tuple(settings.resolution),
            samples=settings.samples,
            sampling_seed=sampling_seed,
            stain=stain if use_stain else None,
            instances=instances,
            denoise=settings.denoise,
            target=target,
        )
        for view, target in zip(views, targets, strict=True)
    ]
