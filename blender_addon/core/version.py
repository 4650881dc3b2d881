"""The add-on's version, read from blender_manifest.toml: the one place it is written (no bpy),
and a digest of its sources, which tells renders of one code apart from another's."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from .._schemas import schemas

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
    """The add-on's sources as render.py records them in every manifest (`generator.source`)."""
    return schemas.source_digest(package)
