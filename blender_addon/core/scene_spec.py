"""A user's own scene as a dataset (no bpy): its settings, each sample's draws and the plan.

`render.py --scene PART.blend` renders the user's objects, materials, lights and cameras as they are;
SeqCore only adds the paper's water stains (Algorithm 1, a solid texture in object coordinates) to the
materials the user marked, and per sample changes what the plate datasets change too:

- the stains' layout (the lattice seed), size (radius) and density (lattice cell size in radii), drawn
  from the dataset seed within ranges the user sets (the plate's by default);
- the scene's lights: as they are, rotated 90 degrees about the world Z axis through the centre of the
  stained objects, doubled in size (area light size, point/spot radius, sun angle; the same power),
  or both (`LIGHT_CHANGES`), one drawn per sample or every sample under each (`light_mode`), as
  `--light-mode` does for the plate's lights;
- each camera's pose, jittered by up to a distance along each world axis and an angle about each
  of the camera's own axes.

Sample k draws from `plate_rng(seed, k, stream)` as plate k does (stains: stream 1, light and Cycles
seed: stream 3, camera jitter: `CAMERA_STREAM`), and every camera is one view of it: the same stains
and light, seen from each camera, with ids `000003_v01` as the plate's grid views.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .errors import SettingsError
from .render_plan import PlannedSample, Shard, plan_samples
from .sample_spec import (
    LIGHT_STREAM,
    STAIN_RADIUS_MM,
    STAIN_SPACING,
    STAIN_STREAM,
    check_choices,
    default_resolution,
    plate_rng,
    sample_stain,
)
from .vocabulary import (
    BIT_DEPTHS,
    DEFAULT_LIGHT_MODE,
    LIGHT_MODES,
    SCENE_LIGHT_ORIGINAL,
    SCENE_LIGHTS,
    VARIANTS,
)
from .water_stain import StainParams

__all__ = [
    "BLEND_MAGICS",
    "CAMERA_STREAM",
    "LIGHT_CHANGES",
    "LightChange",
    "SceneSettings",
    "SceneSpec",
    "check_blend_file",
    "file_sha256",
    "plan_scene",
    "scene_views",
]

CAMERA_STREAM = 6  # plate_rng stream of the camera jitter (0-5 are the plate's)
# a .blend starts with "BLENDER", or is one compressed with zstd (Blender >= 3.0) or gzip (older)
BLEND_MAGICS = (b"BLENDER", b"\x28\xb5\x2f\xfd", b"\x1f\x8b")


@dataclass(frozen=True)
class LightChange:
    rotate_deg: float  # about the world Z axis through the stained objects' centre
    scale: float  # of the light's size (area size, point/spot radius, sun angle); power unchanged


LIGHT_CHANGES = {
    "original": LightChange(0.0, 1.0),
    "rot90": LightChange(90.0, 1.0),
    "x2": LightChange(0.0, 2.0),
    "rot90_x2": LightChange(90.0, 2.0),
}


def check_blend_file(path: str | Path) -> Path:
    """The absolute path of a readable .blend file; a SettingsError naming it otherwise."""
    path = Path(path).expanduser().absolute()
    if not path.is_file():
        raise SettingsError(f"{path}: no such file")
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if path.suffix.lower() != ".blend" or not head.startswith(BLEND_MAGICS):
        raise SettingsError(f"{path}: not a .blend file")
    return path


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _triple(values) -> tuple[float, float, float]:
    return tuple(float(v) for v in values)


@dataclass(frozen=True)
class SceneSpec:
    """Everything one render of a user's scene depends on besides the file itself.

    `stain is None` renders the clean variant. `instances` and `target` are always empty: a user's
    scene has no surface layer and no target domain (they are the plate's), but the dataset writer
    reads them from every spec.
    """

    camera: str  # the camera object's name
    light: str  # SCENE_LIGHTS: how the scene's lights are changed
    resolution: tuple[int, int]
    samples: int
    sampling_seed: int
    stain_materials: tuple[str, ...]
    stain: StainParams | None = None
    camera_offset_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)  # along the world axes
    camera_rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)  # about the camera's axes
    denoise: bool = False
    instances: tuple = ()
    target: None = None

    def without_stain(self) -> SceneSpec:
        return replace(self, stain=None)

    def to_params(self) -> dict:
        """JSON-ready `Sample.params`. The scene has no drawn texture, so `texture` is empty (the
        pair contract compares it); the file's SHA-256 is in the manifest's generator."""
        return {
            "texture": {},
            "camera": self.camera,
            "camera_jitter": {
                "offset_mm": list(self.camera_offset_mm),
                "rotation_deg": list(self.camera_rotation_deg),
            },
            "light": self.light,
            "resolution": list(self.resolution),
            "samples": self.samples,
            "sampling_seed": self.sampling_seed,
            "stain": self.stain.to_dict() if self.stain is not None else None,
            "stain_materials": list(self.stain_materials),
            "defects": [],
            "denoise": self.denoise,
        }

    @classmethod
    def from_params(cls, d: dict) -> SceneSpec:
        stain, jitter = d.get("stain"), d.get("camera_jitter") or {}
        return cls(
            camera=str(d["camera"]),
            light=str(d["light"]),
            resolution=(int(d["resolution"][0]), int(d["resolution"][1])),
            samples=int(d["samples"]),
            sampling_seed=int(d["sampling_seed"]),
            stain_materials=tuple(str(m) for m in d["stain_materials"]),
            stain=StainParams.from_dict(stain) if stain else None,
            camera_offset_mm=_triple(jitter.get("offset_mm", (0, 0, 0))),
            camera_rotation_deg=_triple(jitter.get("rotation_deg", (0, 0, 0))),
            denoise=bool(d.get("denoise", False)),
        )


def _check_range(name: str, values, positive: bool = True) -> None:
    low, high = values
    if not (0 < low if positive else 0 <= low) or low > high:
        raise SettingsError(f"{name} must be MIN-MAX with 0 < MIN <= MAX, not {low:g}-{high:g}")


@dataclass(frozen=True)
class SceneSettings:
    """A dataset of a user's scene: the file, the marked materials, the cameras (views) and draws."""

    scene_path: str
    scene_sha256: str
    stain_materials: tuple[str, ...]
    cameras: tuple[str, ...]
    count: int = 8
    seed: int = 0
    resolution: tuple[int, int] = field(default_factory=default_resolution)
    samples: int = 16
    variant: str = "paired"
    lights: tuple[str, ...] = (SCENE_LIGHT_ORIGINAL,)
    light_mode: str = DEFAULT_LIGHT_MODE
    split: str = "train"
    bit_depth: int = 8
    denoise: bool = False
    stain_radius_mm: tuple[float, float] = STAIN_RADIUS_MM
    stain_spacing: tuple[float, float] = STAIN_SPACING
    camera_jitter_mm: float = 0.0
    camera_jitter_deg: float = 0.0

    def __post_init__(self) -> None:
        if not self.stain_materials:
            raise SettingsError(f"{self.scene_path}: no material is marked for water stains")
        if not self.cameras:
            raise SettingsError(f"{self.scene_path}: no camera")
        bad = [x for x in self.lights if x not in SCENE_LIGHTS]
        if bad or not self.lights:
            raise SettingsError(
                f"scene light must be one of {', '.join(SCENE_LIGHTS)}, not {bad or 'nothing'}"
            )
        check_choices(self, variant=VARIANTS, light_mode=LIGHT_MODES, bit_depth=BIT_DEPTHS)
        _check_range("--stain-radius-mm", self.stain_radius_mm)
        _check_range("--stain-spacing", self.stain_spacing)
        if self.camera_jitter_mm < 0 or self.camera_jitter_deg < 0:
            raise SettingsError("--camera-jitter-mm and --camera-jitter-deg must be >= 0")

    @property
    def grid(self) -> tuple[int, int]:
        """The cameras as the plate's views: ids get `_vNN` when there are several."""
        return (len(self.cameras), 1)

    def to_dict(self) -> dict:
        """The manifest's `generator.settings`; `plan_ids` reads count, grid, lights, light_mode and
        variant from it as from a plate dataset's."""
        return {
            "scene": {"path": self.scene_path, "sha256": self.scene_sha256},
            "stain_materials": list(self.stain_materials),
            "cameras": list(self.cameras),
            "count": self.count,
            "seed": self.seed,
            "resolution": list(self.resolution),
            "samples": self.samples,
            "variant": self.variant,
            "lights": list(self.lights),
            "light_mode": self.light_mode,
            "split": self.split,
            "grid": list(self.grid),
            "bit_depth": self.bit_depth,
            "denoise": self.denoise,
            "stain_radius_mm": list(self.stain_radius_mm),
            "stain_spacing": list(self.stain_spacing),
            "camera_jitter_mm": self.camera_jitter_mm,
            "camera_jitter_deg": self.camera_jitter_deg,
        }


def _jitter(rng: np.random.Generator, reach: float) -> tuple[float, float, float]:
    # drawn whatever the reach, so one camera's jitter never moves another's; + 0.0 turns -0.0 to 0.0
    return tuple(float(u * reach + 0.0) for u in rng.uniform(-1.0, 1.0, size=3))


def scene_views(settings: SceneSettings, sample: int) -> list[tuple[int, str, SceneSpec]]:
    """(view, id suffix, spec) of one sample: one view per camera; with light mode "each" every
    camera under every light change, the same stains, jitter and Cycles seed under each."""
    stain = sample_stain(
        plate_rng(settings.seed, sample, STAIN_STREAM),
        0.0,  # Algorithm 1: reflectance only
        settings.stain_radius_mm,
        settings.stain_spacing,
    )
    each = settings.light_mode == "each"
    misc = plate_rng(settings.seed, sample, LIGHT_STREAM)
    # under "each", light L's draws are those of a dataset with L alone (as the plate's)
    drawn = settings.lights[int(misc.integers(0, 1 if each else len(settings.lights)))]
    sampling_seed = int(misc.integers(0, 2**31 - 1))
    jitter_rng = plate_rng(settings.seed, sample, CAMERA_STREAM)
    poses = [
        (
            _jitter(jitter_rng, settings.camera_jitter_mm),
            _jitter(jitter_rng, settings.camera_jitter_deg),
        )
        for _ in settings.cameras
    ]
    lights = [(f"_{name}", name) for name in settings.lights] if each else [("", drawn)]
    views = []
    for view, (camera, (offset, rotation)) in enumerate(zip(settings.cameras, poses, strict=True)):
        for suffix, light in lights:
            spec = SceneSpec(
                camera=camera,
                light=light,
                resolution=tuple(settings.resolution),
                samples=settings.samples,
                sampling_seed=sampling_seed,
                stain_materials=settings.stain_materials,
                stain=stain,
                camera_offset_mm=offset,
                camera_rotation_deg=rotation,
                denoise=settings.denoise,
            )
            views.append((view, suffix, spec))
    return views


def plan_scene(settings: SceneSettings, shard: Shard | None = None) -> list[PlannedSample]:
    """Every sample of the shard, as `core.render_plan.plan_samples` plans the plate's."""
    return plan_samples(settings, shard, views=scene_views)
