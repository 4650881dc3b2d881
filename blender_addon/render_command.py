"""The render.py command: options -> settings -> the rendered (or merged) dataset, errors in one line.

Only the add-on's own errors (`SeqCoreAddonError`) become a one-line message and exit status 1; any
other exception is a bug and keeps its traceback. Bad options exit with status 2 (`parse_args`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .core.errors import RenderSetupError, SeqCoreAddonError
from .core.render_lock import RenderLock
from .core.render_log import render_status_filtered
from .core.render_options import RenderOptions, parse_args, to_settings
from .core.render_plan import Shard, merge_shards

__all__ = [
    "main",
    "render_options_to_stdout",
    "render_scene_to_stdout",
    "render_to_stdout",
    "run_reporting_errors",
]


def _merge(args: argparse.Namespace, shard: Shard) -> int:
    merged = merge_shards(args.out, shard.count if shard.count > 1 else _shard_count(args.out))
    if merged is None:
        raise RenderSetupError(f"{args.out}: some shards are missing or unfinished")
    print(f"merged {len(merged.samples)} samples into {args.out / 'manifest.json'}")
    return 0


def _shard_count(out: Path) -> int:
    counts = {
        p.name.rsplit("-of-", 1)[-1].split(".")[0] for p in Path(out).glob("manifest.shard-*")
    }
    if len(counts) != 1:
        raise RenderSetupError(f"{out}: cannot tell the shard count; pass --shard 1/N with --merge")
    return int(counts.pop())


def render_to_stdout(settings, out: Path, shard: Shard, device: str) -> int:
    """Render with one progress line per sample on stdout (the sidebar's background job reads them)."""
    from .scene.dataset_render import render_dataset  # needs bpy

    return _report(lambda: render_dataset(settings, out, shard, device), out, shard)


def render_scene_to_stdout(options: RenderOptions, out: Path, shard: Shard, device: str) -> int:
    """As `render_to_stdout`, for the user's scene `options.scene`: the file is opened and checked
    before the output folder is touched, so a bad file or name writes nothing."""
    from .scene.user_scene import open_user_scene, render_scene_dataset  # needs bpy

    with render_status_filtered():  # Blender's "Read blend" line
        job = open_user_scene(options)
    return _report(lambda: render_scene_dataset(job, out, shard, device), out, shard)


def render_options_to_stdout(options: RenderOptions, out: Path, shard: Shard, device: str) -> int:
    """The plate's dataset or, with `options.scene`, the user's scene's (the sidebar's child)."""
    if options.scene:
        return render_scene_to_stdout(options, out, shard, device)
    return render_to_stdout(to_settings(options), out, shard, device)


def _report(steps, out: Path, shard: Shard) -> int:
    from .device_prefs import device_preferences_kept

    # one run per folder and shard; Blender's "Fra:" status lines hidden: one line per sample
    lock = RenderLock(out, shard.index, shard.count)
    with lock, device_preferences_kept(), render_status_filtered():
        for progress in steps():
            state = (
                "skipped (already rendered)" if progress.skipped else f"{progress.seconds:.1f} s"
            )
            width = len(str(progress.total))
            print(
                f"[{progress.done:>{width}}/{progress.total}] {progress.sample_id}  {state}",
                flush=True,
            )
    print(f"dataset ready: {out}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # blender -b -P render.py -- ARGS passes Blender's own arguments too
        argv = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:]
    args = parse_args(argv)

    def run() -> int:
        shard = Shard.parse(args.shard)
        if args.merge:
            return _merge(args, shard)
        if args.scene:
            return render_scene_to_stdout(args.options, args.out, shard, args.device)
        return render_to_stdout(args.settings, args.out, shard, args.device)

    return run_reporting_errors(run)


def run_reporting_errors(run) -> int:
    """`run()`'s exit status; the add-on's errors as one line on stderr and status 1."""
    try:
        return run()
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
    except SeqCoreAddonError as exc:
        print(f"render.py: error: {exc}", file=sys.stderr)
        return 1
