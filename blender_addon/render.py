"""Batch rendering of SeqCore datasets.

    blender -b -P blender_addon/render.py -- --out DIR [options]
    python blender_addon/render.py --out DIR [options]          (PyPI bpy module)

Resumable (finished samples are skipped), shardable (--shard I/N; the last shard to finish merges the
shard manifests into manifest.json, or run again with --merge), one clear error line and a non-zero
exit on failure. The options are read by `core.render_options`, the run is `render_command.main`.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__:  # imported as a module of the add-on
    from .render_command import main
else:  # run as a script: the add-on's parent folder makes the `blender_addon` package importable
    _PARENT = str(Path(__file__).resolve().parents[1])
    if _PARENT not in sys.path:
        sys.path.insert(0, _PARENT)
    from blender_addon.render_command import main

__all__ = ["main"]

if __name__ == "__main__":
    code = main()
    if code:
        sys.exit(code)
