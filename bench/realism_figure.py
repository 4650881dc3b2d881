"""docs/figures/realism.png: one plate before and after the Appendix-A realism changes.

"Before" re-creates the earlier look through the same code paths: light strength 1.0, uniform
roughness (texture "roughness_streaks" 0), rim roughness on stains (up to 0.15) and fingerprint
ridges not limited against the pixel size. "After" is today's default. Each row shows the whole
image and 3x crops of the bright-field edge, the dark field and a fingerprint (0.45 mm ridges, 3.4 px
at 306 px over 40 mm). It also prints the render time per image and
the time of the mask assembly. Run: .venv/bin/python bench/realism_figure.py [--samples 16]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "figures" / "realism.png"
RESOLUTION = (306, 256)


def _specs(samples: int):
    from blender_addon.core.defect_params import FingerprintParams, InstanceSpec
    from blender_addon.core.sample_spec import DatasetSettings, sample_plate_specs

    settings = DatasetSettings(
        count=1, seed=11, resolution=RESOLUTION, samples=samples, stain_rim_roughness=0.15
    )
    before = sample_plate_specs(settings, 0, with_stain=True)[0]
    print_ = InstanceSpec(
        "fingerprint",
        FingerprintParams(
            center_mm=(-12.0, -9.0),
            size_mm=14.0,
            aspect=0.7,
            angle=0.5,
            ridge_spacing_mm=0.45,
            residue=0.2,
            residue_color=(0.35, 0.33, 0.29),
            roughness_delta=0.15,
            height_mm=0.001,
            seed=3,
        ),
    ).to_dict()
    before = replace(
        before,
        texture={**before.texture, "roughness_streaks": 0.0},
        instances=(print_,),
    )
    after = replace(
        before,
        texture={k: v for k, v in before.texture.items() if k != "roughness_streaks"},
        stain=replace(before.stain, roughness=0.0),
    )
    return before, after


def _render(spec, work: Path, light_strength: float, limit_ridges: bool):
    """Render `spec` with the light strength and ridge limit of one look; (image, planes, seconds)."""
    import imageio.v3 as iio

    from blender_addon.core import defect_raster
    from blender_addon.scene import build
    from blender_addon.scene.render_sample import render_spec

    rasterize = defect_raster.rasterize

    def unlimited(*args, **kwargs):
        if not limit_ridges:  # "image" pixels far finer than any ridge: nothing is left out
            kwargs["image_px_per_mm"] = 1e6
        return rasterize(*args, **kwargs)

    saved = build.LIGHT_STRENGTH, build.rasterize
    build.LIGHT_STRENGTH, build.rasterize = light_strength, unlimited
    try:
        start = time.perf_counter()
        rendered = render_spec(spec, work)
        seconds = time.perf_counter() - start
    finally:
        build.LIGHT_STRENGTH, build.rasterize = saved
    return iio.imread(rendered.image_path), rendered.planes, seconds


def _mask_seconds(planes, spec) -> float:
    from blender_addon.core.masks import assemble_masks
    from shared_schemas import DEFAULT_CLASSES

    class_ids = {c.name: c.id for c in DEFAULT_CLASSES}
    start = time.perf_counter()
    for _ in range(5):
        assemble_masks(planes, spec.instances, class_ids)
    return (time.perf_counter() - start) / 5


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import bpy
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from shared_schemas import atomic_write_bytes

    bpy.ops.wm.read_factory_settings(use_empty=True)
    before, after = _specs(args.samples)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec, strength, limit in (
            ("before", before, 1.0, False),
            ("after", after, 2.5, True),
        ):
            _render(spec, Path(tmp) / "warm", strength, limit)  # first render compiles kernels
            image, planes, seconds = _render(spec, Path(tmp) / name, strength, limit)
            masks = _mask_seconds(planes, spec)
            clipped = float(np.mean(image.min(axis=-1) >= 255))
            print(
                f"{name}: {seconds:.2f} s per image at {RESOLUTION[0]}x{RESOLUTION[1]}, "
                f"{args.samples} samples; mask assembly {1000 * masks:.1f} ms "
                f"({100 * masks / seconds:.1f} %); clipped {100 * clipped:.1f} % of pixels"
            )
            rows.append((name, image, seconds, clipped))

    # crops: (row0, col0) of 64 x 80 windows on the bright-field edge and in the dark field
    crops = (
        ("bright-field edge", (30, 170)),
        ("dark field", (96, 118)),
        ("fingerprint", (168, 12)),
    )
    figure = Figure(figsize=(15, 6.2))
    axes = figure.subplots(2, 4, gridspec_kw={"width_ratios": [1.5, 1, 1, 1]})
    for r, (name, image, seconds, clipped) in enumerate(rows):
        axes[r, 0].imshow(image)
        axes[r, 0].set_title(
            f"{name}: {100 * clipped:.0f} % clipped, {seconds:.1f} s/image", fontsize=9
        )
        for c, (label, (y, x)) in enumerate(crops, start=1):
            axes[r, c].imshow(image[y : y + 64, x : x + 80], interpolation="nearest")
            axes[r, c].set_title(f"{name}: {label} (3x)", fontsize=9)
            axes[r, 0].add_patch(_box(x, y))
    for axis in axes.ravel():
        axis.set_xticks([])
        axis.set_yticks([])
    figure.tight_layout()
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    atomic_write_bytes(args.out, buffer.getvalue())
    print(f"wrote {args.out}")


def _box(x: int, y: int):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), 80, 64, fill=False, edgecolor="cyan", linewidth=0.8)


if __name__ == "__main__":
    main()
