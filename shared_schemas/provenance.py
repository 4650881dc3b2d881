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

# Not sources of the renderer: bundled wheels, build output, and the add-on's own zip builder,
# which the extension zip leaves out (a checkout and the installed extension must agree).
_NOT_SOURCES = {"wheels", "build", "build_zip.py"}


def source_digest(package: str | Path) -> str:
    """First 16 hex digits of a SHA-256 over a package's Python files (relative path and bytes)."""
    package = Path(package)
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package).parts
        if parts[0] in _NOT_SOURCES or parts[0].endswith(".egg-info"):
            continue
        if any(p.startswith(".") or p == "__pycache__" for p in parts):
            continue
        digest.update("/".join(parts).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def renderer_of(generator: dict) -> str:
    """'<version> (source <digest>), Blender <version>' from a manifest's `generator`."""
    version, blender = generator.get("version", "?"), generator.get("blender", "?")
    return f"{version} (source {generator.get('source') or 'unrecorded'}), Blender {blender}"
