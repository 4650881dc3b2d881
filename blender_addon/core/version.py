"""The add-on's version, read from blender_manifest.toml: the one place it is written (no bpy),
and a digest of its sources, which tells renders of one code apart from another's."""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path

__all__ = ["MANIFEST", "addon_version", "source_digest"]

PACKAGE = Path(__file__).resolve().parents[1]
MANIFEST = PACKAGE / "blender_manifest.toml"


@cache
def addon_version(manifest: Path = MANIFEST) -> str:
    text = Path(manifest).read_text(encoding="utf-8")
    match = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
    if not match:
        raise ValueError(f"{manifest}: no version")
    return match.group(1)


@cache
def source_digest(package: Path = PACKAGE) -> str:
    """First 16 hex digits of a SHA-256 over the add-on's Python files (relative path and bytes).

    The version is bumped per release, but images change with any edit of the renderer; a
    dataset resumed, or sets compared, across such an edit would mix two looks unnoticed.
    """
    digest = hashlib.sha256()
    for path in sorted(Path(package).rglob("*.py")):
        relative = path.relative_to(package)
        if relative.parts[0] in ("wheels", "build") or relative.parts[0].endswith(".egg-info"):
            continue
        digest.update(relative.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
