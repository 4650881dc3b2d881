"""Where Render Dataset writes (no bpy).

A relative folder, Blender's "//name" included, is taken next to the saved .blend file. Without a
saved file Blender would resolve it against the process's working directory, wherever Blender was
started from; it goes under the extension's user directory instead.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["resolve_output_folder"]


def resolve_output_folder(folder: str, blend_file: str, user_dir: Path) -> Path:
    """`folder` as an absolute path: as given, else next to `blend_file`, else under `user_dir`."""
    relative = folder[2:] if folder.startswith("//") else folder
    path = Path(relative).expanduser()
    if path.is_absolute():
        return path
    base = Path(blend_file).resolve().parent if blend_file else Path(user_dir)
    return base / path
