"""Render options -> `DatasetSettings` (no bpy): the one path from what a user asks for to what renders.

render.py's command line (`parse_args`) and the sidebar (`properties.render_options`) each fill a
`RenderOptions`; `to_settings` applies the defaults and the preset rules for both:

- a preset fixes every plate's defects, impurities and water stains, so each plate renders once: the
  variant defaults to `stained`, and `paired` is refused;
- unless given, a preset also sets 1-3 defects per image, all impurities, and (an option left unset,
  which only the command line can do) its split, plate count and domain (target-* presets: target).

A resolution preset (`core.resolution_presets`) sets image size and view width unless given. render.py
takes `--preset` twice at most: one content preset and one resolution preset.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from .defect_options import parse_class_list, parse_range, parse_size
from .defect_presets import preset_info
from .defects import DefectSettings
from .errors import SettingsError
from .gpu_selection import GPU_BACKENDS, render_device
from .resolution_presets import DEFAULT_RESOLUTION_PRESET, resolution_preset
from .sample_spec import DatasetSettings, default_resolution
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
    LIGHT_MODES,
    LIGHTS,
    PLACEMENTS,
    PRESETS,
    RESOLUTION_PRESETS,
    SPLITS,
    VARIANTS,
    WATER_STAIN,
)

__all__ = ["RenderOptions", "parse_args", "to_settings"]

DEFAULT_COUNT = 8
DEFAULT_VIEW_WIDTH_MM = 40.0
PRESET_DEFECTS = (1, 3)  # defects per image of a preset's plates, unless given


@dataclass(frozen=True)
class RenderOptions:
    """What a user asked for. None is "not given": `to_settings` fills it from the preset or a default."""

    count: int | None = None
    seed: int = 0
    resolution: tuple[int, int] | None = None  # None: the resolution preset's, else 306 x 256
    samples: int = 16
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
    view_width_mm = options.view_width_mm or (
        sized.view_width_mm if sized else DEFAULT_VIEW_WIDTH_MM
    )
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


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not usage + message
        self.exit(2, f"render.py: error: {message}\n")


def _parser() -> _Parser:
    p = _Parser(prog="render.py", description="Render a SeqCore inspection dataset with Cycles.")
    p.add_argument("--out", type=Path, help="dataset folder (created; resumed if it exists)")
    p.add_argument(
        "--count", type=int, default=None, help="number of plates (default 8, or the preset's)"
    )
    p.add_argument("--seed", type=int, default=0, help="dataset seed: same seed, same dataset")
    p.add_argument(
        "--resolution",
        type=int,
        nargs=2,
        metavar=("W", "H"),
        default=None,
        help="image size in pixels (default 306 256, the sensor's 2448:2050 aspect, or the "
        "resolution preset's)",
    )
    p.add_argument("--samples", type=int, default=16, help="Cycles samples per pixel")
    p.add_argument(
        "--variant",
        choices=VARIANTS,
        default=None,
        help="paired (default) renders every sample clean and stained (same texture and seed)",
    )
    p.add_argument(
        "--light",
        action="append",
        choices=LIGHTS,
        help=f"light source; repeat for several (default {DEFAULT_LIGHT}); see --light-mode",
    )
    p.add_argument(
        "--light-mode",
        choices=LIGHT_MODES,
        default=DEFAULT_LIGHT_MODE,
        help="with several --light: random (default) draws one light per plate; each renders "
        "every plate under every light (same plate, same seed; ids get the light's name): the "
        "paper's domain-randomised set with --light hex --light hex_rot90 --light hex_x2",
    )
    p.add_argument("--split", choices=SPLITS, default=None)
    p.add_argument(
        "--defects",
        nargs="?",
        const="1-3",
        default=None,
        metavar="MIN-MAX",
        help="add scratches, bumps and dents: MIN-MAX per image (default 1-3)",
    )
    p.add_argument(
        "--defect-classes",
        default=",".join(DEFECT_CLASSES),
        help="comma-separated defect classes drawn by --defects",
    )
    p.add_argument(
        "--impurities",
        default=None,
        help=f"comma-separated impurities from {','.join(IMPURITIES)} (default {WATER_STAIN})",
    )
    p.add_argument(
        "--impurity-count",
        default="0-1",
        metavar="MIN-MAX",
        help="fingerprints/stickers per image when listed in --impurities (default 0-1)",
    )
    p.add_argument(
        "--placement",
        choices=PLACEMENTS,
        default="random",
        help="next_to_defect puts each fingerprint/sticker right beside a defect",
    )
    p.add_argument(
        "--defect-size",
        action="append",
        default=[],
        metavar="NAME=MIN-MAX",
        help="size range in mm, e.g. scratch_length_mm=10-30 (repeatable; see README)",
    )
    p.add_argument(
        "--preset",
        action="append",
        choices=PRESETS + RESOLUTION_PRESETS,
        default=[],
        help=_preset_help(),
    )
    p.add_argument(
        "--domain",
        choices=DOMAINS,
        default=None,
        help="synthetic (default) or target: the same scene made to differ like photographs "
        "(lens blur, sensor noise, 12-bit ADC, exposure and white balance, wider textures, plate "
        "edges); target-* presets imply target",
    )
    p.add_argument(
        "--bit-depth",
        type=int,
        choices=BIT_DEPTHS,
        default=8,
        help="bits per channel of the RGB images (default 8; masks are unchanged)",
    )
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
        "--view-width-mm",
        type=float,
        default=None,
        help="plate width seen by the image (default 40, or the resolution preset's)",
    )
    p.add_argument(
        "--grid",
        type=int,
        nargs=2,
        metavar=("N", "M"),
        default=(1, 1),
        help="N x M camera positions per plate (default one view in the middle)",
    )
    p.add_argument(
        "--denoise",
        action="store_true",
        help="OpenImageDenoise the images (less noise, but clean/stained pairs then "
        "differ a little outside the stains too)",
    )
    p.add_argument(
        "--stain-rim-roughness",
        type=float,
        default=0.0,
        metavar="R",
        help="add up to R roughness at water-stain rims, an extension of the paper's Algorithm 1 "
        "(default 0: stains change reflectance only)",
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
        args.settings = to_settings(_options(args))
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
    )
