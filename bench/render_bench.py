"""Render benchmark (BENCHMARKS.md section `render`): seconds per image, mask-pass cost, memory.

    .venv/bin/python bench/render_bench.py [--images 3] [--memory-renders 50] [--device cpu]

Prints markdown tables. Timings are wall-clock on this machine; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _specs(resolution, samples, count, seed=0):
    from blender_addon.core.sample_spec import DatasetSettings, sample_plate_specs
    from blender_addon.core.vocabulary import LIGHTS

    settings = DatasetSettings(resolution=resolution, samples=samples, seed=seed, lights=LIGHTS)
    return [sample_plate_specs(settings, plate, True)[0] for plate in range(count)]


def time_renders(resolution, samples, count, with_masks, work, device):
    """Wall and CPU seconds per image of render_spec (+ mask assembly when with_masks): medians
    after one warm-up. CPU seconds (all threads) are the steadier figure on a shared machine."""
    import bpy

    from blender_addon.core.masks import assemble_masks
    from blender_addon.scene.render_sample import configure_device, purge_orphans, render_spec

    configure_device(bpy.context.scene, device)
    specs = _specs(resolution, samples, count + 1)
    wall, cpu = [], []
    for i, spec in enumerate(specs):
        start, start_cpu = time.perf_counter(), time.process_time()
        rendered = render_spec(spec, work, with_masks=with_masks)
        if with_masks:
            assemble_masks(rendered.planes, spec.instances, {"water_stain": 4})
        elapsed, elapsed_cpu = time.perf_counter() - start, time.process_time() - start_cpu
        purge_orphans()
        if i:  # the first render builds kernels and caches
            wall.append(elapsed)
            cpu.append(elapsed_cpu)
    return statistics.median(wall), statistics.median(cpu)


def memory_run(renders, work, device):
    """RSS after consecutive full-pipeline samples (render, masks, PNGs, manifest) of one dataset."""
    import bpy

    from blender_addon.core.sample_spec import DatasetSettings
    from blender_addon.core.vocabulary import LIGHTS
    from blender_addon.scene.dataset_render import render_dataset

    bpy.ops.wm.read_factory_settings(use_empty=True)
    settings = DatasetSettings(
        count=renders,
        resolution=(128, 128),
        samples=4,
        variant="stained",
        lights=LIGHTS,
    )
    marks = {}
    for progress in render_dataset(settings, work, device=device):
        if progress.done in (1, 5, 10, 25, 50, renders):
            marks[progress.done] = _rss_mib()
    return marks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3, help="timed images per configuration")
    parser.add_argument("--memory-renders", type=int, default=50)
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--skip-512", action="store_true")
    args = parser.parse_args(argv)
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    configs = [((256, 256), 16)] + ([] if args.skip_512 else [((512, 512), 32)])
    print(
        f"device: {args.device}; blender {bpy.app.version_string}; {args.images} images each "
        f"(median); load average before: {os.getloadavg()[0]:.1f}\n"
    )
    print(
        "| resolution | samples | with masks: wall s (CPU s) | without masks: wall s (CPU s) "
        "| mask cost (CPU) |"
    )
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for resolution, samples in configs:
            with_w, with_c = time_renders(
                resolution, samples, args.images, True, work / "w", args.device
            )
            without_w, without_c = time_renders(
                resolution, samples, args.images, False, work / "w", args.device
            )
            cost = (with_c - without_c) / without_c * 100
            print(
                f"| {resolution[0]}x{resolution[1]} | {samples} | {with_w:.2f} ({with_c:.2f}) "
                f"| {without_w:.2f} ({without_c:.2f}) | {cost:+.1f} % |",
                flush=True,
            )
        marks = memory_run(args.memory_renders, work / "mem", args.device)
    print("\n| consecutive samples (128x128, 4 spp, full pipeline) | RSS MiB |")
    print("|---|---|")
    for done, rss in marks.items():
        print(f"| {done} | {rss:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
