"""The add-on's version, read from blender_manifest.toml: the one place it is written (no bpy)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

__all__ = ["MANIFEST", "addon_version"]

MANIFEST = Path(__file__).resolve().parents[1] / "blender_manifest.toml"


@cache
def addon_version(manifest: Path = MANIFEST) -> str:
    text = Path(manifest).read_text(encoding="utf-8")
    match = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
    if not match:
        raise ValueError(f"{manifest}: no version")
    return match.group(1)
