"""Render benchmark (BENCHMARKS.md section `render`): seconds per image, mask-pass cost, memory.

    .venv/bin/python bench/render_bench.py [--images 3] [--memory-renders 50] [--device cpu]
    .venv/bin/python bench/render_bench.py --preset default --preset cpu [--images 5] [--samples 16]
        [--domain target] [--bit-depth 16]
    .venv/bin/python bench/render_bench.py --preset cpu --images 200      # RSS over 200 renders

With --preset (a resolution preset of render.py, or `default` for 306 x 256 on 40 mm) each preset
renders --images consecutive samples through the full pipeline (render, masks, image finishing,
PNGs, manifest): median seconds per image, RSS along the run and the peak (VmHWM), and the mask
cost from a few renders with and without the mask passes.

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


def _rss_mib(field: str = "VmRSS") -> float:
    """Resident memory now (VmRSS) or its peak so far (VmHWM), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _preset_size(name: str) -> tuple[tuple[int, int], float]:
    from blender_addon.core.resolution_presets import DEFAULT_RESOLUTION_PRESET, resolution_preset

    preset = DEFAULT_RESOLUTION_PRESET if name == "default" else resolution_preset(name)
    return preset.resolution, preset.view_width_mm


def preset_run(name, images, samples, work, device, domain="synthetic", bit_depth=8):
    """Full-pipeline renders of `images` plates at a resolution preset: per-image seconds, RSS."""
    import bpy

    from blender_addon.core.sample_spec import DatasetSettings
    from blender_addon.core.vocabulary import LIGHTS
    from blender_addon.scene.dataset_render import render_dataset

    bpy.ops.wm.read_factory_settings(use_empty=True)
    resolution, view = _preset_size(name)
    settings = DatasetSettings(
        count=images,
        resolution=resolution,
        view_width_mm=view,
        samples=samples,
        variant="stained",
        lights=LIGHTS,
        domain=domain,
        bit_depth=bit_depth,
    )
    seconds, marks = [], {}
    checkpoints = {1, 5, 10, 25, 50, 100, 150, 200, images}
    for progress in render_dataset(settings, work, device=device):
        if progress.done > 1:  # the first render builds kernels and caches
            seconds.append(progress.seconds)
        if progress.done in checkpoints:
            marks[progress.done] = _rss_mib()
    median = statistics.median(seconds) if seconds else float("nan")
    return median, marks, _rss_mib("VmHWM")


def preset_report(args) -> int:
    import bpy

    print(
        f"device: {args.device}; blender {bpy.app.version_string}; {args.images} images per "
        f"preset; {args.samples} spp; domain {args.domain}; {args.bit_depth}-bit; load average "
        f"before: {os.getloadavg()[0]:.1f}\n"
    )
    print(
        "| preset | image | mm/px | s per image (median, full pipeline) | mask cost (CPU) "
        "| RSS MiB after 1 / last | peak RSS MiB | target effects s (numpy) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.preset:
            resolution, view = _preset_size(name)
            timed = min(args.images, 3)
            with_w, with_c = _preset_timing(name, args, timed, True, Path(tmp) / "w")
            without_w, without_c = _preset_timing(name, args, timed, False, Path(tmp) / "w")
            cost = (with_c - without_c) / without_c * 100
            median, marks, peak = preset_run(
                name,
                args.images,
                args.samples,
                Path(tmp) / name,
                args.device,
                args.domain,
                args.bit_depth,
            )
            last = max(marks)
            print(
                f"| {name} | {resolution[0]}x{resolution[1]} | {view / resolution[0]:.4f} "
                f"| {median:.2f} | {cost:+.1f} % | {marks[1]:.0f} / {marks[last]:.0f} "
                f"| {peak:.0f} | {_effects_seconds(resolution):.2f} |",
                flush=True,
            )
            if len(marks) > 2:
                print(
                    "  RSS along the run: " + ", ".join(f"{k}: {v:.0f}" for k, v in marks.items())
                )
    return 0


def _effects_seconds(resolution) -> float:
    """Seconds of the target domain's image effects (blur, sensor, ADC, encoding) on one image."""
    import numpy as np

    from blender_addon.core.target_domain import apply_effects

    width, height = resolution
    linear = np.random.default_rng(0).random((height, width, 3), dtype=np.float32)
    effects = {
        "blur_sigma_px": 1.5,  # the widest drawn: the slowest blur
        "exposure_stops": 0.0,
        "white_balance": [1.0, 1.0, 1.0],
        "full_well_e": 10000.0,
        "read_noise_e": 3.0,
        "adc_bits": 12,
        "noise_seed": 0,
    }
    start = time.perf_counter()
    apply_effects(linear, np.ones((height, width), np.float32), effects)
    return time.perf_counter() - start


def _preset_timing(name, args, images, with_masks, work):
    resolution, view = _preset_size(name)
    return time_renders(
        resolution, args.samples, images, with_masks, work, args.device, view_width_mm=view
    )


def _specs(resolution, samples, count, seed=0, view_width_mm=40.0):
    from blender_addon.core.sample_spec import DatasetSettings, sample_plate_specs
    from blender_addon.core.vocabulary import LIGHTS

    settings = DatasetSettings(
        resolution=resolution,
        samples=samples,
        seed=seed,
        lights=LIGHTS,
        view_width_mm=view_width_mm,
    )
    return [sample_plate_specs(settings, plate, True)[0] for plate in range(count)]


def time_renders(resolution, samples, count, with_masks, work, device, view_width_mm=40.0):
    """Wall and CPU seconds per image of render_spec (+ mask assembly when with_masks): medians
    after one warm-up. CPU seconds (all threads) are the steadier figure on a shared machine."""
    import bpy

    from blender_addon.core.masks import assemble_masks
    from blender_addon.scene.render_sample import configure_device, purge_orphans, render_spec

    configure_device(bpy.context.scene, device)
    specs = _specs(resolution, samples, count + 1, view_width_mm=view_width_mm)
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
    parser.add_argument(
        "--preset",
        action="append",
        choices=("default", "cpu", "sensor"),
        default=[],
        help="time these resolution presets instead (repeatable); see the module docstring",
    )
    parser.add_argument("--samples", type=int, default=16, help="spp with --preset")
    parser.add_argument("--domain", choices=("synthetic", "target"), default="synthetic")
    parser.add_argument("--bit-depth", type=int, choices=(8, 16), default=8)
    args = parser.parse_args(argv)
    if args.preset:
        return preset_report(args)
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
