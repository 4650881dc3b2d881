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
from .core.render_options import parse_args
from .core.render_plan import Shard, merge_shards

__all__ = ["main", "render_to_stdout", "run_reporting_errors"]


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
    from .device_prefs import device_preferences_kept
    from .scene.dataset_render import render_dataset  # needs bpy

    # one run per folder and shard; Blender's "Fra:" status lines hidden: one line per sample
    lock = RenderLock(out, shard.index, shard.count)
    with lock, device_preferences_kept(), render_status_filtered():
        for progress in render_dataset(settings, out, shard, device):
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
