"""Render-noise benchmark (BENCHMARKS.md section `render`): RMSE of a 16-spp render against a high-spp one.

    .venv/bin/python bench/render_noise.py [--plates 0 1 2 3] [--resolution 306 256] [--reference 512]

Both renders use the scene's own settings; the reference gets another Cycles seed so it shares no sample
pattern with the 16-spp image. RMSE is in 8-bit PNG levels over the whole image and over the dark field
(reference < 40/255, where fireflies show). Prints a markdown table; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _specs(plates, resolution, seed):
    from blender_addon.core.sample_spec import DatasetSettings, sample_plate_specs
    from blender_addon.core.vocabulary import LIGHTS

    settings = DatasetSettings(resolution=resolution, seed=seed, lights=LIGHTS)
    return [sample_plate_specs(settings, plate, True)[0] for plate in plates]


def _render(spec, work):
    import imageio.v3 as iio

    from blender_addon.scene.render_sample import purge_orphans, render_spec

    start = time.perf_counter()
    path = render_spec(spec, work, with_masks=False).image_path
    seconds = time.perf_counter() - start
    purge_orphans()
    return iio.imread(path).astype(np.float64), seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plates", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--resolution", type=int, nargs=2, default=(306, 256))
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--reference", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", type=Path, help="keep the 16-spp PNGs here as plate_<k>.png")
    args = parser.parse_args(argv)

    import bpy

    from blender_addon.scene.render_sample import configure_device

    configure_device(bpy.context.scene, "cpu")
    print(f"| plate | light | RMSE all | RMSE dark field | s/image at {args.samples} spp |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for plate, spec in zip(
            args.plates, _specs(args.plates, tuple(args.resolution), args.seed), strict=True
        ):
            low, seconds = _render(replace(spec, samples=args.samples), work)
            if args.save:
                import imageio.v3 as iio

                args.save.mkdir(parents=True, exist_ok=True)
                iio.imwrite(args.save / f"plate_{plate}.png", low.astype(np.uint8))
            ref_spec = replace(spec, samples=args.reference, sampling_seed=spec.sampling_seed + 1)
            ref, _ = _render(ref_spec, work)
            err = (low - ref) ** 2
            dark = ref.mean(axis=-1) < 40
            print(
                f"| {plate} | {spec.light} | {np.sqrt(err.mean()):.2f} "
                f"| {np.sqrt(err[dark].mean()):.2f} | {seconds:.2f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
