"""docs/figures/realism.png: one plate under the previous release's light and under today's.

Appendix A of the paper shows three fields in its camera images: a dark field with the brushing
texture, a bright field where defect edges and stain rims stand out, and over-exposed areas where
they fade. The figure renders one plate with a scratch, a dent and a water stain (Algorithm 1) in
the reflection of the hexagonal light at the `cpu` preset's scale (612 x 512 px over 20 mm, 0.0327
mm/px), twice:

- before: the previous release's light through the same code paths (an evenly shining band of
  0.05-0.11 camera distances, strength 2.5, the camera 0.25 m away whatever the view);
- after: today's (core.look: a band brightest along its middle, the camera's distance following
  the view's width). Both rows render in the inspection scene under the hall light.

Each row shows the whole image with its field shares (below 60, 150-250, at 255), then crops of
the scratch, the dent and the stain. Run: .venv/bin/python bench/realism_figure.py [--samples 16]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "figures" / "realism.png"
RESOLUTION = (612, 512)
VIEW_MM = 20.0
# where the instances sit, in plate mm: all three inside the hexagon's reflection (2.5-8.75 mm)
PLACES = {"scratch": (5.5, 1.0), "dent": (-5.0, 3.5), "stain": (0.5, -6.0)}
LOOKS = {  # light strength, band radii per metre of camera distance, emission at the band's edges
    "before": (2.5, (0.05, 0.11), 1.0),
    "after": None,  # today's defaults
}


def _spec(samples: int):
    from blender_addon.core.camera import CameraView
    from blender_addon.core.defect_params import InstanceSpec
    from blender_addon.core.defects import DefectSettings, draw_params
    from blender_addon.core.sample_spec import DatasetSettings, sample_plate_specs
    from blender_addon.core.water_stain import StainParams

    settings = DatasetSettings(count=1, seed=11, resolution=RESOLUTION, samples=samples)
    base = sample_plate_specs(settings, 0, with_stain=False)[0]
    rng = np.random.default_rng(7)
    defects = DefectSettings(scratch_length_mm=(6.0, 6.0), scratch_width_mm=(0.1, 0.2))
    scratch = draw_params(rng, "scratch", defects)
    sx, sy = PLACES["scratch"]
    scratch = replace(
        scratch, control_points_mm=tuple((x + sx, y + sy) for x, y in scratch.control_points_mm)
    )
    dent = replace(draw_params(rng, "dent", DefectSettings()), center_mm=PLACES["dent"])
    cx, cy = PLACES["stain"]
    stain = StainParams(
        radius=0.0022, frequency=300.0, amplitude=0.0005, alpha=-0.45, gamma=2.5,
        center=(cx / 1000.0, cy / 1000.0, 0.0),
    )  # fmt: skip
    instances = tuple(
        InstanceSpec(c, p).to_dict() for c, p in (("scratch", scratch), ("dent", dent))
    )
    return replace(base, light="hex", camera=CameraView(width_mm=VIEW_MM), stain=stain,
                   instances=instances)  # fmt: skip


def _render(spec, work: Path, look):
    """Render `spec` under one look (None: today's); the image."""
    import imageio.v3 as iio

    from blender_addon.core import lights
    from blender_addon.scene import build
    from blender_addon.scene.render_sample import render_spec

    saved = build.LIGHT_STRENGTH, lights.LIGHT_RADII, lights.EMISSION_EDGE
    if look is not None:
        build.LIGHT_STRENGTH, lights.LIGHT_RADII, lights.EMISSION_EDGE = look
        spec = replace(spec, camera=replace(spec.camera, distance_m=0.25))
    try:
        rendered = render_spec(spec, work, with_masks=False)
    finally:
        build.LIGHT_STRENGTH, lights.LIGHT_RADII, lights.EMISSION_EDGE = saved
    return iio.imread(rendered.image_path)


def _pixel(spec, mm: tuple[float, float]) -> tuple[int, int]:
    from blender_addon.core.camera import view_rect_mm

    x0, y0, x1, y1 = view_rect_mm(spec.camera, spec.resolution)
    col = (mm[0] - x0) / (x1 - x0) * spec.resolution[0]
    row = (y1 - mm[1]) / (y1 - y0) * spec.resolution[1]
    return int(row), int(col)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import bpy
    from field_shares import image_shares
    from figure_grid import save_figure
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    bpy.ops.wm.read_factory_settings(use_empty=True)
    spec = _spec(args.samples)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, look in LOOKS.items():
            image = _render(spec, Path(tmp) / name, look)
            shares = image_shares(image)
            print(f"{name}: below 60 {shares[0]:.1%}, 150-250 {shares[1]:.1%}, 255 {shares[2]:.1%}")
            rows.append((name, image, shares))

    half = (48, 64)  # a 96 x 128 px crop around each instance
    figure = Figure(figsize=(15, 6.4))
    axes = figure.subplots(2, 4, gridspec_kw={"width_ratios": [1.5, 1, 1, 1]})
    for r, (name, image, (dark, bright, clipped)) in enumerate(rows):
        axes[r, 0].imshow(image)
        axes[r, 0].set_title(
            f"{name}: {dark:.0%} below 60, {bright:.0%} at 150-250, {clipped:.0%} clipped",
            fontsize=9,
        )
        for c, (label, mm) in enumerate(PLACES.items(), start=1):
            row, col = _pixel(spec, mm)
            y = int(np.clip(row - half[0], 0, image.shape[0] - 2 * half[0]))
            x = int(np.clip(col - half[1], 0, image.shape[1] - 2 * half[1]))
            axes[r, c].imshow(
                image[y : y + 2 * half[0], x : x + 2 * half[1]], interpolation="nearest"
            )
            axes[r, c].set_title(f"{name}: {label} (crop)", fontsize=9)
            axes[r, 0].add_patch(
                Rectangle((x, y), 2 * half[1], 2 * half[0], fill=False, edgecolor="cyan", lw=0.8)
            )
    save_figure(figure, args.out)


if __name__ == "__main__":
    main()
