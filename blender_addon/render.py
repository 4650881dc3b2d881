"""Batch rendering of SeqCore datasets (SPEC §4.5).

    blender -b -P blender_addon/render.py -- --out DIR [options]
    python blender_addon/render.py --out DIR [options]          (PyPI bpy module)

Resumable (finished samples are skipped), shardable (--shard I/N; the last shard to finish merges the
shard manifests into manifest.json, or run again with --merge), one clear error line and a non-zero
exit on failure.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

__all__ = ["main", "parse_args", "settings_from_args"]

IMPURITIES = ("water_stain", "fingerprint", "sticker")


def _package():
    """The add-on package, whether this file runs as a script or is imported (also as bl_ext.*)."""
    if __package__:
        return importlib.import_module(__package__)
    here = Path(__file__).resolve().parent
    if str(here.parent) not in sys.path:
        sys.path.insert(0, str(here.parent))
    return importlib.import_module(here.name)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not usage + message
        self.exit(2, f"render.py: error: {message}\n")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """All command-line options in one place (helpers add theirs here)."""
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
        help="image size in pixels (default 306 256: the sensor's 2448:2050 aspect)",
    )
    p.add_argument("--samples", type=int, default=16, help="Cycles samples per pixel")
    p.add_argument(
        "--variant",
        choices=("clean", "stained", "paired"),
        default=None,
        help="paired (default) renders every sample clean and stained (same texture and seed)",
    )
    p.add_argument(
        "--light",
        action="append",
        choices=("hex", "hex_rot90", "hex_x2", "ring"),
        help="light source; repeat to mix them over the dataset (default hex)",
    )
    p.add_argument("--split", choices=("train", "val", "test"), default=None)
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
        default="scratch,bump,dent",
        help="comma-separated defect classes drawn by --defects",
    )
    p.add_argument(
        "--impurities",
        default=None,
        help=f"comma-separated impurities from {','.join(IMPURITIES)} (default water_stain)",
    )
    p.add_argument(
        "--impurity-count",
        default="0-1",
        metavar="MIN-MAX",
        help="fingerprints/stickers per image when listed in --impurities (default 0-1)",
    )
    p.add_argument(
        "--placement",
        choices=("random", "next_to_defect"),
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
        choices=("demo-val", "demo-test"),
        default=None,
        help="fixed mix of clean, defect and impurity-only plates (sets split, count, "
        "variant stained and all impurities unless given)",
    )
    p.add_argument("--shard", default="1/1", help="render shard I of N (split by plate)")
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    p.add_argument(
        "--view-width-mm", type=float, default=40.0, help="plate width seen by the image"
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
        "--merge",
        action="store_true",
        help="only merge the shard manifests found in --out into manifest.json",
    )
    args = p.parse_args(argv)
    if args.out is None:
        p.error("--out DIR is required")
    _preset_defaults(p, args)
    for name in ("count", "samples"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1")
    if args.resolution is not None and min(args.resolution) < 1:
        p.error("--resolution needs positive W H")
    if min(args.grid) < 1:
        p.error("--grid needs positive N M")
    if args.view_width_mm <= 0:
        p.error("--view-width-mm must be positive")
    impurities = tuple(x.strip() for x in args.impurities.split(",") if x.strip())
    unknown = [x for x in impurities if x not in IMPURITIES]
    if unknown:
        p.error(f"--impurities: unknown {','.join(unknown)} (known: {','.join(IMPURITIES)})")
    args.impurities = impurities
    return args


def _preset_defaults(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fill the options left unset: from --preset (core.defect_presets) or the plain defaults."""
    info = None
    if args.preset:
        presets = importlib.import_module(f"{_package().__name__}.core.defect_presets")
        info = presets.preset_info(args.preset)
        if args.variant == "paired":
            p.error("--preset renders each plate once: use --variant stained or clean")
        args.defects = args.defects or "1-3"
    args.count = args.count if args.count is not None else (info.count if info else 8)
    args.split = args.split or (info.split if info else "train")
    args.variant = args.variant or ("stained" if info else "paired")
    if args.impurities is None:
        args.impurities = ",".join(IMPURITIES) if info else "water_stain"


def _defect_settings(args):
    """helper B's DefectSettings for --defects / fingerprint / sticker, or None."""
    others = tuple(x for x in args.impurities if x != "water_stain")
    if args.defects is None and not others and not args.preset:
        return None
    options = importlib.import_module(f"{_package().__name__}.core.defect_options")
    return options.settings_from_options(
        defects=args.defects,
        defect_classes=args.defect_classes,
        impurities=args.impurities,
        impurity_count=args.impurity_count,
        placement=args.placement,
        sizes=args.defect_size,
    )


def settings_from_args(args):
    sample_spec = importlib.import_module(f"{_package().__name__}.core.sample_spec")
    resolution = tuple(args.resolution) if args.resolution else sample_spec.default_resolution()
    return sample_spec.DatasetSettings(
        count=args.count,
        seed=args.seed,
        resolution=resolution,
        samples=args.samples,
        variant=args.variant,
        lights=tuple(dict.fromkeys(args.light or ["hex"])),
        split=args.split,
        view_width_mm=args.view_width_mm,
        grid=tuple(args.grid),
        defects=args.defects is not None,
        impurities=args.impurities,
        denoise=args.denoise,
        defect_settings=_defect_settings(args),
        preset=args.preset or "",
    )


def _run(args) -> int:
    pkg = _package().__name__
    dataset = importlib.import_module(f"{pkg}.core.dataset")
    shard = dataset.Shard.parse(args.shard)
    if args.merge:
        merged = dataset.merge_shards(
            args.out, shard.count if shard.count > 1 else _shard_count(args.out)
        )
        if merged is None:
            raise dataset.RenderSetupError(f"{args.out}: some shards are missing or unfinished")
        print(f"merged {len(merged.samples)} samples into {args.out / 'manifest.json'}")
        return 0
    settings = settings_from_args(args)
    render = importlib.import_module(f"{pkg}.scene.dataset_render")
    for progress in render.render_dataset(settings, args.out, shard, args.device):
        state = "skipped (already rendered)" if progress.skipped else f"{progress.seconds:.1f} s"
        width = len(str(progress.total))
        print(
            f"[{progress.done:>{width}}/{progress.total}] {progress.sample_id}  {state}", flush=True
        )
    print(f"dataset ready: {args.out}", flush=True)
    return 0


def _shard_count(out: Path) -> int:
    counts = {
        p.name.rsplit("-of-", 1)[-1].split(".")[0] for p in Path(out).glob("manifest.shard-*")
    }
    if len(counts) != 1:
        raise ValueError(f"{out}: cannot tell the shard count; pass --shard 1/N with --merge")
    return int(counts.pop())


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:]
    args = parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("render.py: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:
        if exc.name != "bpy":
            raise
        print(
            "render.py: error: needs Blender: run it with `blender -b -P render.py -- ARGS` or "
            "install the bpy module (pip install bpy==5.0.1)",
            file=sys.stderr,
        )
        return 1
    except (
        ValueError,
        OSError,
        RuntimeError,
    ) as exc:  # our errors are ValueError/RuntimeError kinds
        print(f"render.py: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    code = main()
    if code:
        sys.exit(code)
