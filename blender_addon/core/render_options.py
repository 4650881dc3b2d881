"""Render options -> `DatasetSettings` (no bpy): the one path from what a user asks for to what renders.

render.py's command line (`parse_args`) and the sidebar (`properties.render_options`) each fill a
`RenderOptions`; `to_settings` applies the defaults and the preset rules for both:

- a preset fixes every plate's defects, impurities and water stains, so each plate renders once: the
  variant defaults to `stained`, and `paired` is refused;
- unless given, a preset also sets 1-3 defects per image, all impurities, and (an option left unset,
  which only the command line can do) its split, plate count and domain (target-* presets: target).

A resolution preset (`core.resolution_presets`) sets image size and view width unless given. render.py
takes `--preset` twice at most: one content preset and one resolution preset.

Every option is declared once, in `OPTIONS`: its `RenderOptions` field, render.py's flag with its
argparse keywords and help (the parser is built from the table), and the sidebar properties that set
it (`properties.py`, which takes its descriptions from here; a test checks that every field is in
the table and that the sidebar has every property the table names).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from pathlib import Path

from .camera import IMAGE_WIDTH, VIEW_WIDTH_MM
from .defect_options import parse_class_list, parse_range, parse_size
from .defect_presets import preset_info
from .defects import SIZE_FIELDS, DefectSettings
from .errors import SettingsError
from .gpu_selection import GPU_BACKENDS, render_device
from .resolution_presets import DEFAULT_RESOLUTION_PRESET, resolution_preset
from .sample_spec import STAIN_RADIUS_MM, STAIN_SPACING, DatasetSettings, default_resolution
from .scene_spec import SceneSettings, check_blend_file
from .vocabulary import (
    BIT_DEPTHS,
    DEFAULT_DOMAIN,
    DEFAULT_LIGHT,
    DEFAULT_LIGHT_MODE,
    DEFAULT_SPLIT,
    DEFECT_CLASSES,
    DEVICES,
    DOMAINS,
    IMPURITIES,
    IMPURITY_CLASSES,
    LIGHT_MODES,
    LIGHTS,
    PLACEMENTS,
    PRESETS,
    RESOLUTION_PRESETS,
    SCENE_LIGHT_ORIGINAL,
    SCENE_LIGHTS,
    SPLITS,
    VARIANTS,
    WATER_STAIN,
)

__all__ = [
    "OPTIONS",
    "PLATE_ONLY",
    "SCENE_ONLY",
    "Option",
    "RenderOptions",
    "check_scene_options",
    "option",
    "parse_args",
    "to_scene_settings",
    "to_settings",
]

DEFAULT_COUNT = 8
DEFAULT_SAMPLES = 16
PRESET_DEFECTS = (1, 3)  # defects per image of a preset's plates, unless given


@dataclass(frozen=True)
class RenderOptions:
    """What a user asked for. None is "not given": `to_settings` fills it from the preset or a default."""

    count: int | None = None
    seed: int = 0
    resolution: tuple[int, int] | None = None  # None: the resolution preset's, else 306 x 256
    samples: int = DEFAULT_SAMPLES
    variant: str | None = None
    lights: tuple[str, ...] = ()  # mixed over the dataset; repeats dropped, empty: the default
    split: str | None = None
    view_width_mm: float | None = None  # None: the resolution preset's, else 40 mm
    grid: tuple[int, int] = (1, 1)
    defect_count: tuple[int, int] | None = None  # defects per image; None: no defects
    defect_classes: tuple[str, ...] = DEFECT_CLASSES
    impurities: tuple[str, ...] | None = None  # None: water stains only
    impurity_count: tuple[int, int] = (0, 1)  # fingerprints/stickers per image, when listed
    placement: str = "random"
    sizes: tuple = ()  # (DefectSettings size field, (min, max)) pairs
    denoise: bool = False
    preset: str = ""  # content preset (core.defect_presets)
    resolution_preset: str = ""  # core.resolution_presets
    domain: str | None = None  # None: the content preset's, else synthetic
    light_mode: str = DEFAULT_LIGHT_MODE
    bit_depth: int = 8
    stain_rim_roughness: float = 0.0  # 0: stains change reflectance only (Algorithm 1)
    # a user's scene (core.scene_spec) instead of the plate: its .blend and what to do with it
    scene: str = ""  # "": the plate
    stain_materials: tuple[str, ...] = ()  # (): the materials marked in the file
    cameras: tuple[str, ...] = ()  # (): every camera of the scene
    scene_lights: tuple[str, ...] = ()  # (): the lights as they are
    stain_radius_mm: tuple[float, float] = STAIN_RADIUS_MM
    stain_spacing: tuple[float, float] = STAIN_SPACING
    camera_jitter_mm: float = 0.0
    camera_jitter_deg: float = 0.0


def to_settings(options: RenderOptions) -> DatasetSettings:
    """The dataset `options` ask for; a SettingsError (one line) when they cannot be rendered."""
    info = preset_info(options.preset) if options.preset else None
    variant = options.variant or ("stained" if info else "paired")
    if info is not None and variant == "paired":
        raise SettingsError(
            f"preset {options.preset} renders each plate once: "
            "set the variant to stained or clean, not paired"
        )
    defect_count = options.defect_count
    if info is not None and defect_count is None:
        defect_count = PRESET_DEFECTS
    impurities = options.impurities
    if impurities is None:
        impurities = IMPURITIES if info else (WATER_STAIN,)
    others = tuple(x for x in impurities if x != WATER_STAIN)  # water stains are the shader's
    defect_settings = None
    if defect_count is not None or others or info is not None:
        defect_settings = DefectSettings(
            **dict(options.sizes),
            defect_count=defect_count or (0, 0),
            defect_classes=tuple(options.defect_classes),
            impurity_count=tuple(options.impurity_count) if others else (0, 0),
            impurity_classes=others,
            placement=options.placement,
        )
    count = options.count if options.count is not None else (info.count if info else DEFAULT_COUNT)
    sized = resolution_preset(options.resolution_preset) if options.resolution_preset else None
    resolution = options.resolution or (sized.resolution if sized else default_resolution())
    view_width_mm = options.view_width_mm or (sized.view_width_mm if sized else VIEW_WIDTH_MM)
    return DatasetSettings(
        count=count,
        seed=options.seed,
        resolution=tuple(resolution),
        samples=options.samples,
        variant=variant,
        lights=tuple(dict.fromkeys(options.lights)) or (DEFAULT_LIGHT,),
        split=options.split or (info.split if info else DEFAULT_SPLIT),
        view_width_mm=view_width_mm,
        grid=tuple(options.grid),
        defects=defect_count is not None,
        impurities=tuple(impurities),
        denoise=options.denoise,
        defect_settings=defect_settings,
        preset=options.preset,
        domain=options.domain or (info.domain if info else DEFAULT_DOMAIN),
        light_mode=options.light_mode,
        bit_depth=options.bit_depth,
        stain_rim_roughness=options.stain_rim_roughness,
    )


# options of one kind of dataset only: the plate's, and a user's scene's (--scene)
PLATE_ONLY = (
    "lights", "view_width_mm", "grid", "defect_count", "defect_classes", "impurities",
    "impurity_count", "placement", "sizes", "preset", "resolution_preset", "domain",
    "stain_rim_roughness",
)  # fmt: skip
SCENE_ONLY = (
    "stain_materials", "cameras", "scene_lights", "stain_radius_mm", "stain_spacing",
    "camera_jitter_mm", "camera_jitter_deg",
)  # fmt: skip


def check_scene_options(options: RenderOptions) -> None:
    """A SettingsError (one line) for an option given to the other kind of dataset."""
    default = RenderOptions()
    if options.scene:
        wrong = [n for n in PLATE_ONLY if getattr(options, n) != getattr(default, n)]
        if wrong:
            flag = option(wrong[0]).flag
            raise SettingsError(f"{flag} is an option of the plate; it does not apply to --scene")
    else:
        wrong = [n for n in SCENE_ONLY if getattr(options, n) != getattr(default, n)]
        if wrong:
            raise SettingsError(f"{option(wrong[0]).flag} needs --scene PART.blend")


def to_scene_settings(
    options: RenderOptions,
    sha256: str,
    cameras: tuple[str, ...],
    stain_materials: tuple[str, ...],
    resolution: tuple[int, int],
) -> SceneSettings:
    """The dataset of the user's scene `options.scene`; the cameras, marked materials and (unless
    --resolution) the image size are the file's, read by `scene.user_scene`."""
    return SceneSettings(
        scene_path=options.scene,
        scene_sha256=sha256,
        stain_materials=tuple(stain_materials),
        cameras=tuple(cameras),
        count=options.count if options.count is not None else DEFAULT_COUNT,
        seed=options.seed,
        resolution=tuple(options.resolution or resolution),
        samples=options.samples,
        variant=options.variant or "paired",
        lights=tuple(dict.fromkeys(options.scene_lights)) or (SCENE_LIGHT_ORIGINAL,),
        light_mode=options.light_mode,
        split=options.split or DEFAULT_SPLIT,
        bit_depth=options.bit_depth,
        denoise=options.denoise,
        stain_radius_mm=tuple(options.stain_radius_mm),
        stain_spacing=tuple(options.stain_spacing),
        camera_jitter_mm=options.camera_jitter_mm,
        camera_jitter_deg=options.camera_jitter_deg,
    )


def _preset_help() -> str:
    rows = [DEFAULT_RESOLUTION_PRESET, *(resolution_preset(n) for n in RESOLUTION_PRESETS)]
    sizes = "; ".join(
        f"{'without one' if p is DEFAULT_RESOLUTION_PRESET else p.name} "
        f"{p.resolution[0]}x{p.resolution[1]} px on {p.view_width_mm:g} mm "
        f"= {p.mm_per_px:.4f} mm/px"
        for p in rows
    )
    return (
        f"give at most one content preset ({', '.join(PRESETS)}): a fixed mix of clean, defect and "
        "impurity plates (sets split, count, variant stained, all impurities and, for target-*, "
        "--domain target unless given); and at most one resolution preset "
        f"({', '.join(RESOLUTION_PRESETS)}: image size and view width unless given): {sizes}"
    )


@dataclass(frozen=True)
class Option:
    """One render option: its `RenderOptions` field, render.py's flag and the sidebar's properties."""

    name: str  # the RenderOptions field
    flag: str  # render.py's option
    help: str
    cli: dict | None = field(default_factory=dict)  # argparse keywords; None: another row's flag
    sidebar: tuple[str, ...] = ()  # the sidebar properties that set it; (): command line only


_WIDTH, _HEIGHT = default_resolution(IMAGE_WIDTH)

OPTIONS: tuple[Option, ...] = (
    Option("count", "--count", f"number of plates (default {DEFAULT_COUNT}, or the preset's)",
           {"type": int, "default": None}, ("count",)),
    Option("seed", "--seed", "dataset seed: same seed, same dataset",
           {"type": int, "default": 0}, ("dataset_seed",)),
    Option("resolution", "--resolution",
           f"image size in pixels (default {_WIDTH} {_HEIGHT}, the sensor's 2448:2050 aspect, or "
           "the resolution preset's)",
           {"type": int, "nargs": 2, "metavar": ("W", "H"), "default": None},
           ("resolution_x", "resolution_y")),
    Option("samples", "--samples", "Cycles samples per pixel",
           {"type": int, "default": DEFAULT_SAMPLES}, ("samples",)),
    Option("variant", "--variant",
           "paired (default) renders every sample clean and stained (same texture and seed)",
           {"choices": VARIANTS, "default": None}, ("variant",)),
    Option("lights", "--light",
           f"light source; repeat for several (default {DEFAULT_LIGHT}); see --light-mode",
           {"action": "append", "choices": LIGHTS}, ("lights",)),
    Option("light_mode", "--light-mode",
           "with several --light: random (default) draws one light per plate; each renders every "
           "plate under every light (same plate, same seed; ids get the light's name): the paper's "
           "domain-randomised set with --light hex --light hex_rot90 --light hex_x2",
           {"choices": LIGHT_MODES, "default": DEFAULT_LIGHT_MODE}, ("light_mode",)),
    Option("split", "--split", "the split every sample of the dataset belongs to",
           {"choices": SPLITS, "default": None}, ("split",)),
    Option("defect_count", "--defects",
           "add scratches, bumps and dents: MIN-MAX per image (default 1-3)",
           {"nargs": "?", "const": "1-3", "default": None, "metavar": "MIN-MAX"},
           ("defects", "defect_count")),
    Option("defect_classes", "--defect-classes",
           "comma-separated defect classes drawn by --defects",
           {"default": ",".join(DEFECT_CLASSES)}, ("defect_classes",)),
    Option("impurities", "--impurities",
           f"comma-separated impurities from {','.join(IMPURITIES)} (default {WATER_STAIN})",
           {"default": None}, tuple(f"{c}s" for c in IMPURITY_CLASSES)),
    Option("impurity_count", "--impurity-count",
           "fingerprints/stickers per image when listed in --impurities (default 0-1)",
           {"default": "0-1", "metavar": "MIN-MAX"}, ("impurity_count",)),
    Option("placement", "--placement",
           "next_to_defect puts each fingerprint/sticker right beside a defect",
           {"choices": PLACEMENTS, "default": "random"}, ("placement",)),
    Option("sizes", "--defect-size",
           "size range in mm, e.g. scratch_length_mm=10-30 (repeatable; see README)",
           {"action": "append", "default": [], "metavar": "NAME=MIN-MAX"}, SIZE_FIELDS),
    Option("preset", "--preset", "", {"action": "append", "choices": PRESETS + RESOLUTION_PRESETS,
                                      "default": []}, ("preset",)),
    Option("resolution_preset", "--preset", "image size and view width unless given", None,
           ("resolution_preset",)),
    Option("domain", "--domain",
           "synthetic (default) or target: the same scene made to differ like photographs (lens "
           "blur, sensor noise, 12-bit ADC, exposure and white balance, wider textures, plate "
           "edges); target-* presets imply target",
           {"choices": DOMAINS, "default": None}, ("domain",)),
    Option("bit_depth", "--bit-depth",
           "bits per channel of the RGB images (default 8; masks are unchanged)",
           {"type": int, "choices": BIT_DEPTHS, "default": 8}, ("bit_depth",)),
    Option("view_width_mm", "--view-width-mm",
           f"plate width seen by the image (default {VIEW_WIDTH_MM:g}, or the resolution preset's)",
           {"type": float, "default": None}, ("view_width_mm",)),
    Option("grid", "--grid", "N x M camera positions per plate (default one view in the middle)",
           {"type": int, "nargs": 2, "metavar": ("N", "M"), "default": (1, 1)}, ("grid",)),
    Option("denoise", "--denoise",
           "OpenImageDenoise the images (less noise, but clean/stained pairs then differ a little "
           "outside the stains too)",
           {"action": "store_true"}, ("denoise",)),
    Option("stain_rim_roughness", "--stain-rim-roughness",
           "add up to R roughness at water-stain rims, an extension of the paper's Algorithm 1 "
           "(default 0: stains change reflectance only)",
           {"type": float, "default": 0.0, "metavar": "R"}),
    Option("scene", "--scene",
           "render this .blend (your own part) instead of the plate: its objects, materials, lights "
           "and cameras as they are, water stains on the marked materials; never written",
           {"default": "", "metavar": "PART.blend"}),
    Option("stain_materials", "--stain-material",
           "with --scene: stain this material (repeatable; default the materials marked Water "
           "Stains in the file); it needs a Principled BSDF",
           {"action": "append", "default": [], "metavar": "NAME"}),
    Option("cameras", "--camera",
           "with --scene: render from this camera (repeatable; default every camera of the scene)",
           {"action": "append", "default": [], "metavar": "NAME"}, ("scene_cameras",)),
    Option("scene_lights", "--scene-light",
           "with --scene: the scene's lights as they are (original), rotated 90 degrees about the "
           "world Z axis (rot90), twice their size (x2) or both (rot90_x2); repeat for several, "
           "see --light-mode",
           {"action": "append", "choices": SCENE_LIGHTS, "default": []}, ("scene_lights",)),
    Option("stain_radius_mm", "--stain-radius-mm",
           f"with --scene: water-stain radius range in mm of object coordinates (default "
           f"{STAIN_RADIUS_MM[0]:g}-{STAIN_RADIUS_MM[1]:g}, the plate's)",
           {"default": f"{STAIN_RADIUS_MM[0]:g}-{STAIN_RADIUS_MM[1]:g}", "metavar": "MIN-MAX"},
           ("stain_radius_range",)),
    Option("stain_spacing", "--stain-spacing",
           f"with --scene: stain lattice cell size in stain radii, i.e. density: smaller is denser "
           f"(default {STAIN_SPACING[0]:g}-{STAIN_SPACING[1]:g}, the plate's)",
           {"default": f"{STAIN_SPACING[0]:g}-{STAIN_SPACING[1]:g}", "metavar": "MIN-MAX"},
           ("stain_spacing",)),
    Option("camera_jitter_mm", "--camera-jitter-mm",
           "with --scene: move each camera by up to this many mm along each world axis, per sample",
           {"type": float, "default": 0.0, "metavar": "D"}, ("camera_jitter_mm",)),
    Option("camera_jitter_deg", "--camera-jitter-deg",
           "with --scene: turn each camera by up to this many degrees about each of its axes",
           {"type": float, "default": 0.0, "metavar": "A"}, ("camera_jitter_deg",)),
)  # fmt: skip


def option(name: str) -> Option:
    """The row of RenderOptions field `name`."""
    return next(o for o in OPTIONS if o.name == name)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not usage + message
        self.exit(2, f"render.py: error: {message}\n")


def _parser() -> _Parser:
    p = _Parser(prog="render.py", description="Render a SeqCore inspection dataset with Cycles.")
    p.add_argument("--out", type=Path, help="dataset folder (created; resumed if it exists)")
    for row in OPTIONS:
        if row.cli is not None:
            text = _preset_help() if row.name == "preset" else row.help
            p.add_argument(row.flag, help=text, **row.cli)
    # how and where to render, not what: these are not render options
    p.add_argument("--shard", default="1/1", help="render shard I of N (split by plate)")
    p.add_argument("--device", choices=DEVICES, default="cpu")
    p.add_argument(
        "--gpu-backend",
        default=None,
        metavar="NAME",
        help=f"with --device gpu: the Cycles backend, one of {', '.join(GPU_BACKENDS)} (default: "
        "the first of optix, cuda, hip, metal, oneapi with a GPU); Blender's saved preferences "
        "are left as they were",
    )
    p.add_argument(
        "--gpu-ids",
        default=None,
        metavar="I,J",
        help="with --device gpu: render on these GPUs only, numbered from 0 as Blender's "
        "Preferences > System lists the backend's GPUs (a wrong number's error lists them); "
        "default all",
    )
    p.add_argument(
        "--merge",
        action="store_true",
        help="only merge the shard manifests found in --out into manifest.json",
    )
    return p


def parse_args(argv: list[str]) -> argparse.Namespace:
    """render.py's options, checked; `args.settings` is the `DatasetSettings` they ask for.

    A bad option or a conflict between options is one line on stderr and exit status 2.
    """
    p = _parser()
    args = p.parse_args(argv)
    if args.out is None:
        p.error("--out DIR is required")
    for name in ("count", "samples"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name} must be at least 1")
    if args.resolution is not None and min(args.resolution) < 1:
        p.error("--resolution needs positive W H")
    if min(args.grid) < 1:
        p.error("--grid needs positive N M")
    if args.view_width_mm is not None and args.view_width_mm <= 0:
        p.error("--view-width-mm must be positive")
    args.content_preset, args.resolution_preset = _split_presets(p, args.preset)
    try:
        # from here on one string: "gpu:optix:0,2" (core.gpu_selection)
        args.device = render_device(args.device, args.gpu_backend, args.gpu_ids).spec()
        args.options = _options(args)
        check_scene_options(args.options)
        if args.scene:  # the settings need the file's cameras: scene.user_scene reads them
            args.options = replace(args.options, scene=str(check_blend_file(args.scene)))
            args.settings = None
        else:
            args.settings = to_settings(args.options)
    except SettingsError as exc:
        p.error(str(exc))
    return args


def _split_presets(p: _Parser, given: list[str]) -> tuple[str, str]:
    """(content preset, resolution preset) from the --preset values; two of one family is an error."""
    chosen = []
    for family, names in (("content", PRESETS), ("resolution", RESOLUTION_PRESETS)):
        picked = [name for name in given if name in names]
        if len(picked) > 1:
            p.error(f"--preset: {' and '.join(picked)} are both {family} presets; give one")
        chosen.append(picked[0] if picked else "")
    return chosen[0], chosen[1]


def _options(args: argparse.Namespace) -> RenderOptions:
    impurities = None
    if args.impurities is not None:  # repeats kept: classes are drawn uniformly from the list
        impurities = parse_class_list(args.impurities, IMPURITIES, "--impurities", unique=False)
    return RenderOptions(
        count=args.count,
        seed=args.seed,
        resolution=tuple(args.resolution) if args.resolution else None,
        samples=args.samples,
        variant=args.variant,
        lights=tuple(args.light or ()),
        split=args.split,
        view_width_mm=args.view_width_mm,
        grid=tuple(args.grid),
        defect_count=None if args.defects is None else parse_range(args.defects, "--defects"),
        defect_classes=parse_class_list(args.defect_classes, DEFECT_CLASSES, "--defect-classes"),
        impurities=impurities,
        impurity_count=parse_range(args.impurity_count, "--impurity-count"),
        placement=args.placement,
        sizes=tuple(parse_size(s) for s in args.defect_size),
        denoise=args.denoise,
        preset=args.content_preset,
        resolution_preset=args.resolution_preset,
        domain=args.domain,
        light_mode=args.light_mode,
        bit_depth=args.bit_depth,
        stain_rim_roughness=args.stain_rim_roughness,
        scene=args.scene,
        stain_materials=tuple(dict.fromkeys(args.stain_material)),
        cameras=tuple(dict.fromkeys(args.camera)),
        scene_lights=tuple(args.scene_light),
        stain_radius_mm=parse_range(args.stain_radius_mm, "--stain-radius-mm", integer=False),
        stain_spacing=parse_range(args.stain_spacing, "--stain-spacing", integer=False),
        camera_jitter_mm=args.camera_jitter_mm,
        camera_jitter_deg=args.camera_jitter_deg,
    )
