"""Which code rendered a data set: the renderer's identity as manifests record it (`generator`).

Images change with any edit of the renderer, not only with a release, so render.py records a
digest of the add-on's sources beside its version and Blender's. Sets from two renderers differ in
look: they must not be resumed into one another, merged, or trained and tested against each other
unnoticed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["renderer_of", "source_digest"]


def source_digest(package: str | Path) -> str:
    """First 16 hex digits of a SHA-256 over a package's Python files (relative path and bytes);
    bundled wheels, build output and egg-info are not sources."""
    package = Path(package)
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if relative.parts[0] in ("wheels", "build") or relative.parts[0].endswith(".egg-info"):
            continue
        digest.update(relative.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def renderer_of(generator: dict) -> str:
    """'<version> (source <digest>), Blender <version>' from a manifest's `generator`."""
    version, blender = generator.get("version", "?"), generator.get("blender", "?")
    return f"{version} (source {generator.get('source') or 'unrecorded'}), Blender {blender}"
